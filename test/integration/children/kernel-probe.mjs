// Test child: exercises the real netlink layer from the built code; prints one JSON line.
// Runs inside a throwaway network namespace (started by kernel.test.ts).
import { execFileSync } from 'node:child_process';
import { NetlinkKernel } from '../../../dist/src/kernel/netlink/kernel.js';
import { systemClock } from '../../../dist/src/clock.js';
import { ensureBridge, ensureVxlan, ensurePrimaryAddress } from '../../../dist/src/dataplane/devices.js';
import { applyFdb } from '../../../dist/src/dataplane/apply.js';
import { desiredFdb, planFdb } from '../../../dist/src/dataplane/plan.js';
import { parseIpv4 } from '../../../dist/src/net/ipv4.js';

const ip = (s) => parseIpv4(s);
const sh = (...a) => execFileSync('ip', a, { encoding: 'utf8' });
const out = {};
sh('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1');
sh('link', 'set', 'eth0', 'mtu', '9000', 'up');
sh('link', 'set', 'eth1', 'up');
sh('addr', 'add', '10.9.0.2/24', 'dev', 'eth0');

const k = new NetlinkKernel(systemClock);
const phys = await k.linkByName('eth0');
const spec = { name: 'scbr-100', mtu: phys.mtu - 50, mac: '02:aa:bb:cc:dd:ee' };
const b1 = await ensureBridge(k, spec);
const v1 = await ensureVxlan(k,
  { name: 'scvx-100', vni: 100, port: 4789, link: phys.index, mtu: phys.mtu - 50, master: b1.index });
out.first = [b1.changes, v1.changes];
out.second = [(await ensureBridge(k, spec)).changes, (await ensureVxlan(k,
  { name: 'scvx-100', vni: 100, port: 4789, link: phys.index, mtu: phys.mtu - 50, master: b1.index })).changes];
out.addr1 = await ensurePrimaryAddress(k, { index: b1.index, name: 'scbr-100' }, ip('100.64.192.9'), 24, () => true);
out.addr2 = await ensurePrimaryAddress(k, { index: b1.index, name: 'scbr-100' }, ip('100.64.192.9'), 24, () => true);
out.vxlan = (await k.linkByName('scvx-100')).vxlan;
out.mtus = [(await k.linkByName('scbr-100')).mtu, (await k.linkByName('scvx-100')).mtu];
out.ipLinkShow = sh('-d', 'link', 'show', 'scvx-100');
try {
  await k.fdbAppend(v1.index, { mac: '00:00:00:00:00:00', dst: ip('10.9.0.3') });
  await k.fdbReplace(v1.index, { mac: '00:00:00:00:00:00', dst: ip('10.9.0.4') });
  out.zeroReplace = 'accepted';
} catch (err) {
  out.zeroReplace = { code: err.code, errname: err.errname, errno: err.errno, op: err.op };
}
const peers = [{ id: 'p', overlayIp: ip('100.64.192.5'), underlayIp: ip('10.9.0.5'), mac: '02:00:00:00:00:05' }];
const r1 = await applyFdb(k, v1.index, planFdb(desiredFdb(peers), await k.fdb(v1.index)));
const moved = [{ ...peers[0], underlayIp: ip('10.9.0.6') }];
const r2 = await applyFdb(k, v1.index, planFdb(desiredFdb(moved), await k.fdb(v1.index)));
out.apply = [r1.ops, r1.failed.map((f) => f.op), r2.ops, r2.failed.map((f) => f.op)];
out.fdbAfter = execFileSync('bridge', ['fdb', 'show', 'dev', 'scvx-100'], { encoding: 'utf8' });

// Event storm with a tiny receive buffer: the patched binding must report the
// overrun as an event, and the process must live on.
const small = new NetlinkKernel(systemClock, { eventRcvbuf: 4096 });
let resync = 0;
let events = 0;
const stop = small.watch((e) => { if (e.type === 'resync') resync++; else events++; });
const cmds = [];
for (let i = 0; i < 10000; i++) {
  cmds.push(`neigh add 10.250.${(i >> 8) & 255}.${i & 255} lladdr 02:00:00:00:00:01 dev eth1 nud permanent`);
}
execFileSync('ip', ['-batch', '-'], { input: cmds.join('\n') + '\n' }); // blocks the event loop: the socket overruns
await new Promise((r) => setTimeout(r, 500));
out.storm = { resync, events };
// the socket still works after the overrun
sh('link', 'set', 'eth1', 'mtu', '1400');
await new Promise((r) => setTimeout(r, 200));
out.afterStorm = events;
stop();
small.close();
k.close();
console.log(JSON.stringify(out));
