// Integration: VXLAN over IPv6 link-local addresses carries traffic. As root,
// two namespaces joined by a veth pair, each with the real NetlinkKernel
// behind children/kernel-server.mjs: a ping crosses the VXLAN between eth0's
// link-local addresses, and this shows what NDA_IFINDEX (`via`) on the FDB
// entries has to do with it. The kernel contract cases for the same seam are
// kernel-contract.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseIpv4, ZERO_MAC, type Ipv4 } from '../../src/net/ipv4.js';
import type { Ipv6 } from '../../src/net/ipv6.js';
import type { Kernel } from '../../src/kernel/types.js';
import { until } from '../lab/lab.js';
import { realUnavailable, startServer, stopServer } from './contract/real-kernel.js';

const ip = (s: string): Ipv4 => parseIpv4(s)!;

const why = realUnavailable();
if (why) console.warn(`SKIPPED the IPv6 link-local data path: ${why}`);

describe.skipIf(why !== undefined)(
  'VXLAN over IPv6 link-local addresses carries traffic (real kernel, two namespaces)', () => {
  const tag = randomBytes(2).toString('hex');
  const hosts = [`eo${tag}-6a`, `eo${tag}-6b`];
  const made: string[] = [];
  const servers: ChildProcess[] = [];
  const kernels: Kernel[] = [];
  const inNs = (ns: string, cmd: string[]): { ok: boolean; out: string } => {
    try {
      return { ok: true, out: execFileSync('ip', ['netns', 'exec', ns, ...cmd],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
    } catch (err) {
      return { ok: false, out: String((err as { stdout?: string }).stdout ?? err) };
    }
  };
  const ping =
    (args: string[] = []): boolean => inNs(hosts[0]!, ['ping', '-n', '-c', '1', '-W', '1', ...args, '192.168.77.2']).ok;
  const collisions = (): number => (JSON.parse(inNs(hosts[0]!, ['ip', '-s', '-j', 'link', 'show', 'scvx-100']).out) as
    { stats64: { tx: { collisions: number } } }[])[0]!.stats64.tx.collisions;

  beforeAll(async () => {
    for (const ns of hosts) {
      execFileSync('ip', ['netns', 'add', ns]);
      made.push(ns);
    }
    execFileSync('ip', ['-n', hosts[0]!, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0',
      'netns', hosts[1]!]);
    for (const ns of hosts) {
      execFileSync('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      const { child, rk } = await startServer(ns);
      servers.push(child);
      kernels.push(rk.kernel);
    }
  });

  afterAll(async () => {
    try {
      for (const c of servers) await stopServer(c);
    } finally {
      for (const ns of made) execFileSync('ip', ['netns', 'del', ns]);
    }
  });

  /** eth0's index and its link-local address once DAD is over, read through the seam */
  async function nic(k: Kernel): Promise<{ eth0: number; ll: Ipv6 }> {
    const eth0 = (await k.linkByName('eth0'))!.index;
    const ll = await until('a usable link-local address on eth0', async () =>
      (await k.addrs6(eth0)).find((a) => a.linkLocal && !a.tentative && !a.dadFailed)?.address, 10_000, 20);
    return { eth0, ll };
  }

  it('pings across; without via (NDA_IFINDEX) the frames take the first fe80::/64 route, '
    + 'which can be the VXLAN device\'s own', async () => {
    const [a, b] = [await nic(kernels[0]!), await nic(kernels[1]!)];
    const me = [a, b];
    const vx: number[] = [];
    const mac: string[] = [];
    for (const [i, k] of kernels.entries()) {
      await k.createVxlan('scvx-100', { vni: 100, port: 4789, link: me[i]!.eth0, mtu: 1500, local6: me[i]!.ll });
      const l = (await k.linkByName('scvx-100'))!;
      expect(l.mtu).toBe(1430); // eth0's 1500 − 70
      vx.push(l.index);
      mac.push(l.mac);
      await k.setLink(l.index, { up: true });
      await k.addAddr(l.index, ip(`192.168.77.${i + 1}`), 24);
    }
    for (const [i, k] of kernels.entries()) {
      const peer = me[1 - i]!;
      await k.fdbAppend(vx[i]!, { mac: ZERO_MAC, dst: peer.ll, via: me[i]!.eth0 });
      await k.fdbReplace(vx[i]!, { mac: mac[1 - i]!, dst: peer.ll, via: me[i]!.eth0 });
    }
    await until('a ping across the VXLAN', () => ping() || undefined, 10_000, 50);
    // a full 1430-byte inner packet in a 1500-byte IPv6 frame, unfragmented
    expect(ping(['-M', 'do', '-s', '1402'])).toBe(true);

    // eth0 bounces on host A: its fe80::/64 route comes back after scvx-100's own
    const [k0, vx0] = [kernels[0]!, vx[0]!];
    execFileSync('ip', ['-n', hosts[0]!, 'link', 'set', 'eth0', 'down']);
    execFileSync('ip', ['-n', hosts[0]!, 'link', 'set', 'eth0', 'up']);
    expect((await nic(k0)).ll).toBe(a.ll);
    await until('a ping across the VXLAN after the bounce, with via', () => ping() || undefined, 10_000, 50);

    // the same entries without via: the kernel accepts them...
    await k0.fdbAppend(vx0, { mac: ZERO_MAC, dst: b.ll });
    await k0.fdbDel(vx0, { mac: ZERO_MAC, dst: b.ll, via: a.eth0 });
    await k0.fdbReplace(vx0, { mac: mac[1]!, dst: b.ll });
    expect(await k0.fdb(vx0))
      .toEqual(expect.arrayContaining([{ mac: ZERO_MAC, dst: b.ll }, { mac: mac[1]!, dst: b.ll }]));
    const before = collisions();
    // ...but the route lookup (no oif) finds fe80::/64 dev scvx-100 first: "circular route", dropped
    expect(ping()).toBe(false);
    const lost = collisions() - before;
    expect(lost).toBeGreaterThan(0);

    await k0.fdbAppend(vx0, { mac: ZERO_MAC, dst: b.ll, via: a.eth0 });
    await k0.fdbDel(vx0, { mac: ZERO_MAC, dst: b.ll });
    await k0.fdbReplace(vx0, { mac: mac[1]!, dst: b.ll, via: a.eth0 });
    await until('a ping across the VXLAN with via again', () => ping() || undefined, 10_000, 50);
    console.log(
      'NDA_IFINDEX finding: the kernel accepts link-local FDB entries without via (NDA_IFINDEX) and then looks up the'
      + ' outer route with no output interface; with eth0\'s fe80::/64 route behind scvx-100\'s own '
      + '(after eth0 bounced) the'
      + ` frames hit the VXLAN device itself (${lost} tx collisions, "circular route") `
      + `and the ping failed. With via = eth0 it works;`
      + ' set it on every entry, and delete with the same via (entries differing only in via are distinct).');
  });
});
