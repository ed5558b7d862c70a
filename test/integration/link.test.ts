// Integration: the physical network as it really is, with the real agent on
// three namespace hosts — a cable pulled for 3 s, a link that returns while
// the others were renumbered, an agent started while its NIC is down, a NIC
// re-plugged under a running agent (new ifindex), and MTU changes on the LAN.
// UDP discovery is blocked on one host (nftables) where only raw L2 frames
// may carry the news. With UDP blocked, anything the host still receives
// came as a raw frame: its status counters show when raw L2 works.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Lab, labUnavailable, sleep, until, type Host } from '../lab/lab.js';
import type { StatusReport } from '../../src/agent/records/status.js';
import { mtuOf } from '../lab/fixtures/underlay.js';

const why = labUnavailable();
if (why) console.warn(`SKIPPED link integration tests: ${why}`);

/** Discovery packets a host took in: accepted, duplicate or dropped. */
function inbound(s: StatusReport): number {
  const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
  return sum(s.counters.received) + s.counters.duplicates + sum(s.counters.dropped);
}

describe.skipIf(why)('link down/up, NIC re-plug, NIC down at start, MTU', () => {
  let lab: Lab;
  let ids: Map<Host, string>;
  let overlay: Map<Host, string>;
  /**
   * hosts whose agent a case may leave with a dead socket (flap, re-plug,
   * start with the link down): restarted before the next case
   */
  const disturbed = new Set<Host>();
  const h = (i: number): Host => lab.hosts[i - 1]!;
  const ipOf = (x: Host): string => overlay.get(x)!;
  const peerOf = async (x: Host, y: Host) => (await lab.status(x)).peers.find((p) => p.id === ids.get(y));
  const ifindex = (x: Host): number =>
    (JSON.parse(lab.exec(x, ['ip', '-j', 'link', 'show', 'eth0'])) as { ifindex: number }[])[0]!.ifindex;

  /** Waits (up to `timeoutMs`) until `x` counts more inbound packets than `before`; ms since `t0`, or undefined. */
  function inboundAbove(x: Host, before: number, t0: number, timeoutMs: number): Promise<number | undefined> {
    return until(`${x.name} to receive a discovery packet`,
      async () => (inbound(await lab.status(x)) > before ? Date.now() - t0 : undefined), timeoutMs, 20)
      .catch(() => undefined);
  }

  const nextInbound = async (x: Host, timeoutMs: number): Promise<number | undefined> =>
    inboundAbove(x, inbound(await lab.status(x)), Date.now(), timeoutMs);

  /**
   * Waits until `x` has every host of `moved` at its current underlay
   * address; ms since `since`, or undefined after `timeoutMs`.
   */
  async function learns(x: Host, moved: Host[], since: number, timeoutMs: number): Promise<number | undefined> {
    return until(`${x.name} to learn the new underlay address of ${moved.map((y) => y.name).join(', ')}`, async () => {
      const s = await lab.status(x);
      return moved.every((y) => s.peers.find((p) => p.id === ids.get(y))?.underlayIp === y.ip)
        ? Date.now() - since : undefined;
    }, timeoutMs, 10).catch(() => undefined);
  }

  const pingsCross = (a: Host, b: Host): Promise<boolean> =>
    until(`overlay pings ${a.name} <-> ${b.name}`,
      () => (lab.ping(a, ipOf(b), 1, 0.05) && lab.ping(b, ipOf(a), 1, 0.05)) || undefined, 5000, 50).catch(() => false);

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 3 });
    const st = await lab.startAll();
    ids = new Map(lab.hosts.map((x, i) => [x, st[i]!.node.id]));
    overlay = new Map(lab.hosts.map((x, i) => [x, st[i]!.node.overlayIp!]));
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  // every case starts from a converged overlay: links up, nothing blocked, flapped agents restarted
  beforeEach(async () => {
    for (const x of lab.hosts) {
      lab.unblockUdpDiscovery(x);
      lab.linkUp(x);
      if (!x.dhclient) await lab.startDhcp(x);
      if (disturbed.has(x) || !x.agent) {
        await lab.stopAgent(x);
        lab.startAgent(x);
      }
    }
    disturbed.clear();
    await lab.converged();
  }, 40_000);

  it('learns a peer\'s move over raw L2 alone while UDP discovery to it is blocked (control: no flap)', async () => {
    const [x, y] = [h(1), h(2)];
    lab.blockUdpDiscovery(x);
    expect(await nextInbound(x, 12_000), 'h1 receives raw L2 frames with UDP blocked').toBeDefined();
    const [r] = await lab.renumber([y]);
    const ms = await learns(x, [y], r!.boundAt, 12_000);
    expect(ms, 'h1 learned h2\'s new underlay address over raw L2').toBeDefined();
    expect(lab.udpDiscoveryDropped(x)).toBeGreaterThan(0); // the block did drop UDP discovery
    expect(await pingsCross(x, y)).toBe(true);
    console.log(`raw L2 only, no flap: h1 learned h2's move ${ms!.toFixed(1)} ms after h2's new DHCP address`);
  }, 60_000);

  it('receives raw L2 frames again after eth0 is down for 3 s, and learns a move over them', async () => {
    const [x, y] = [h(1), h(2)];
    disturbed.add(x);
    lab.blockUdpDiscovery(x);
    lab.linkDown(x);
    await sleep(3000); // the scenario: the cable is out for 3 s
    const before = inbound(await lab.status(x));
    lab.linkUp(x);
    const rawMs = await inboundAbove(x, before, Date.now(), 12_000);
    console.log(`link flap: first raw L2 frame on h1 ${rawMs === undefined ? 'never (12 s)' : `${rawMs} ms`} after `
      + `link-up (UDP blocked)`);
    expect.soft(rawMs, 'h1 received a raw L2 frame within 12 s (two announce periods) of link-up').toBeDefined();
    expect((await lab.status(x)).discovery.raw).toMatchObject({ state: 'up', error: null }); // and status says so
    const [r] = await lab.renumber([y]);
    const ms = await learns(x, [y], r!.boundAt, 12_000);
    console.log(`link flap: h1 learned h2's move over raw L2 `
      + `${ms === undefined ? 'never (12 s)' : `${ms.toFixed(1)} ms after h2's new DHCP address`}`);
    expect(ms, 'after a link flap h1 learned h2\'s new underlay address over raw L2').toBeDefined();
    expect((await peerOf(x, y))!.underlayIp).toBe(y.ip);
    expect(await pingsCross(x, y)).toBe(true);
  }, 60_000);

  it.each([
    ['UDP open', false],
    ['UDP blocked: raw L2 only', true],
  ])('learns the moves the others made while its link was down (%s)', async (_, block) => {
    const x = block ? h(2) : h(3);
    const others = lab.hosts.filter((o) => o !== x);
    disturbed.add(x);
    if (block) lab.blockUdpDiscovery(x);
    lab.linkDown(x);
    const downAt = Date.now();
    await lab.renumber(others);
    await sleep(Math.max(0, downAt + 3000 - Date.now())); // down for at least 3 s
    lab.linkUp(x);
    const ms = await learns(x, others, Date.now(), 12_000);
    console.log(`link back after the others moved (${block ? 'raw L2 only' : 'UDP open'}): ${x.name} learned both `
      + `moves ${ms === undefined ? 'never (12 s)' : `${ms} ms after link-up`}`);
    expect(ms, `${x.name} learned both moves after its link returned`).toBeDefined();
    for (const o of others) expect(await pingsCross(x, o)).toBe(true);
  }, 60_000);

  it('converges when its agent starts with eth0 down and the link comes up 5 s later', async () => {
    const x = h(3);
    disturbed.add(x);
    await lab.powerOff(x); // no agent, no DHCP client, no overlay devices, no address, eth0 down
    lab.startAgent(x);
    const up = await until('the agent to answer with eth0 down', () => lab.tryStatus(x), 10_000, 50);
    expect(up.node.overlayIp === null || up.node.overlayIp === ipOf(x)).toBe(true); // never another address
    await sleep(5000); // the scenario: the link comes up 5 s later
    expect(x.agent!.exitCode, 'the agent keeps running while eth0 is down').toBeNull();
    const upAt = Date.now();
    lab.linkUp(x);
    await lab.startDhcp(x, { wait: false });
    const st = await lab.converged(20_000);
    console.log(`agent started with eth0 down: converged ${Date.now() - upAt} ms after link-up (DHCP included)`);
    expect(st[2]!.node.overlayIp).toBe(ipOf(x));
    for (const o of [h(1), h(2)]) expect(await pingsCross(x, o)).toBe(true);
    // its raw L2 socket, opened while the link was down, works too
    lab.blockUdpDiscovery(x);
    expect(await nextInbound(x, 12_000), 'h3 receives raw L2 frames').toBeDefined();
    expect((await lab.status(x)).discovery.raw.state).toBe('up');
  }, 60_000);

  it('recovers when eth0 is deleted and re-created (re-plugged, new ifindex) under a running agent', async () => {
    const x = h(2);
    disturbed.add(x);
    const pid = x.agent!.pid;
    const before = ifindex(x);
    await lab.replug(x, 1000);
    const pluggedAt = Date.now();
    expect(ifindex(x)).not.toBe(before);
    await until('h2 to get its address back by DHCP', () => lab.addressOf(x) === x.ip || undefined, 20_000, 20);
    // the kernel deleted the VXLAN device with its lower device: it must be back on the new eth0
    const vxlan = await until('scvx-100 on the new eth0, in scbr-100 and up', () => {
      const out = lab.exec(x, ['ip', '-j', '-d', 'link', 'show', 'scvx-100'], true);
      if (!out) return undefined;
      const [l] = JSON.parse(out) as { master?: string; flags: string[]; linkinfo: { info_data: { link?: string } } }[];
      return l && l.master === 'scbr-100' && l.flags.includes('UP') && l.linkinfo.info_data.link === 'eth0'
        ? Date.now() - pluggedAt : undefined;
    }, 10_000, 20).catch(() => undefined);
    console.log(`NIC re-plugged: scvx-100 back on the new eth0 `
      + `${vxlan === undefined ? 'never (10 s)' : `${vxlan} ms after the plug`}`);
    expect(vxlan, 'scvx-100 re-created on the new eth0').toBeDefined();
    expect(await pingsCross(x, h(1))).toBe(true);
    expect(await pingsCross(x, h(3))).toBe(true);
    // both channels: every announcement arrives twice (the second copy counts as a duplicate)...
    const dup0 = (await lab.status(x)).counters.duplicates;
    const both = await until('h2 to count duplicates again (UDP and raw L2 both deliver)', async () =>
      (await lab.status(x)).counters.duplicates >= dup0 + 2 || undefined, 12_000, 50).catch(() => undefined);
    expect.soft(both, 'h2 receives each announcement over both UDP and raw L2').toBe(true);
    // ...and raw L2 alone carries news
    lab.blockUdpDiscovery(x);
    expect(await nextInbound(x, 12_000), 'h2 receives raw L2 frames on the new eth0').toBeDefined();
    const st = await lab.status(x);
    expect(st.node.overlayIp).toBe(ipOf(x));
    expect(st.discovery.raw).toMatchObject({ state: 'up', error: null });
    expect(st.node.carrier).toBe(true);
    expect(x.agent!.pid).toBe(pid);
  }, 60_000);

  it('follows MTU changes of the LAN (1500 -> 9000 -> 1400 -> 1500) without a restart; full-size DF pings cross',
    async () => {
    const pids = lab.hosts.map((x) => x.agent!.pid);
    const took: string[] = [];
    // the outer header the underlay family costs: IPv6 link-local 70, IPv4 50 (both must follow)
    const families = await Promise.all(lab.hosts.map(async (x) => (await lab.status(x)).underlay.family));
    expect(new Set(families).size, `one underlay family on every host: ${families.join(', ')}`).toBe(1);
    const overhead = families[0] === 'link-local' ? 70 : 50;
    try {
      for (const mtu of [9000, 1400, 1500]) {
        const t0 = Date.now();
        lab.setMtu(lab.hosts, mtu);
        const want = mtu - overhead;
        const ms = await until(`scbr-100 and scvx-100 at ${want} on every host`,
          () => lab.hosts.every((x) => mtuOf(lab, x, 'scbr-100') === want && mtuOf(lab, x, 'scvx-100') === want)
            ? Date.now() - t0 : undefined, 5000, 20)
          .catch(() => undefined);
        took.push(`${mtu}: ${ms === undefined ? 'not followed (5 s)' : `${ms} ms`}`);
        expect(ms, `the overlay devices followed eth0 to MTU ${mtu} (overlay ${want}, ${families[0]})`).toBeDefined();
        const payload = want - 28; // IPv4 + ICMP headers
        for (const [a, b] of [[h(1), h(2)], [h(2), h(3)], [h(3), h(1)]] as const) {
          expect(lab.ping(a, ipOf(b), 2, 0.05, ['-M', 'do', '-s', String(payload)]),
            `${payload}-byte DF ping ${a.name} -> ${b.name} at MTU ${mtu}`).toBe(true);
        }
        // the size is the limit
        expect(lab.ping(h(1), ipOf(h(2)), 1, 0.05, ['-M', 'do', '-s', String(payload + 1)])).toBe(false);
      }
    } finally {
      console.log(`MTU (${families[0]} underlay): overlay devices followed eth0 -> ${took.join(', ')}`);
      lab.setMtu(lab.hosts, 1500);
    }
    expect(lab.hosts.map((x) => x.agent!.pid)).toEqual(pids);
  }, 60_000);
});
