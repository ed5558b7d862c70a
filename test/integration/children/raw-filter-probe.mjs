// Test child: the raw L2 drop list in the real kernel — a packet socket with the BPF program of
// dist/src/discovery/bpf.js drops frames from the listed source MAC only; prints one JSON line.
// Runs inside a throwaway network namespace (started by kernel.test.ts).
import { execFileSync } from 'node:child_process';
import { openPacketSocket } from '../../../dist/src/native/addon.js';
import { dropSources } from '../../../dist/src/discovery/bpf.js';

const sh = (...a) => execFileSync('ip', a, { encoding: 'utf8' });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
sh('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1');
sh('link', 'set', 'eth1', 'address', '02:00:00:00:00:01');
sh('link', 'set', 'eth0', 'up');
sh('link', 'set', 'eth1', 'up');
const index = (name) => Number(/^(\d+):/.exec(sh('-o', 'link', 'show', name))[1]);
const got = [];
const rx = openPacketSocket(index('eth0'), 0x88b5, (_f, mac) => got.push(mac), () => {});
const tx = openPacketSocket(index('eth1'), 0x88b5, () => {}, () => {});
const round = async () => {
  got.length = 0;
  for (let i = 0; i < 5; i++) tx.send(Buffer.from([0, 1, 42]));
  await sleep(200);
  return [...got];
};
const out = {};
out.before = await round();
out.attach = rx.setFilter(dropSources(['02:00:00:00:00:01', '02:00:00:00:00:77']));
out.listed = await round();
sh('link', 'set', 'eth1', 'address', '02:00:00:00:00:02');
out.other = await round();
out.detach = rx.setFilter(Buffer.alloc(0));
sh('link', 'set', 'eth1', 'address', '02:00:00:00:00:01');
out.after = await round();
rx.close();
tx.close();
console.log(JSON.stringify(out));
