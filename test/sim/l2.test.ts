// Simulation: discovery over raw L2 frames as well as UDP (Sim rawL2) —
// hosts in different IP subnets of one segment, a NIC without IPv4, the
// ingress filter opened before the FDB points at a new address, the second
// copy of every packet, and relayed frames that prove nothing.

import { describe, expect, it } from 'vitest';
import { formatIpv4, parseIpv4, ZERO_MAC } from '../../src/net/ipv4.js';
import { formatIp } from '../../src/net/ipv6.js';
import { decode } from '../../src/wire/codec.js';
import type { FakeTransport } from '../fakes/network.js';
import { Sim, type SimHost } from '../fakes/sim.js';

const ip = (s: string): number => parseIpv4(s)!;

const fdbDsts = (h: SimHost): string[] =>
  h.kernel.fdbOf('scvx-100').filter((e) => e.mac === ZERO_MAC).map((e) => formatIp(e.dst)).sort();

/**
 * The on-link /32 routes the agent added. A peer outside our subnet gets one
 * exactly when we hold it L2-adjacent: this is how adjacency shows.
 */
const routes = (h: SimHost): string[] =>
  h.kernel.routesOf().map((r) =>
    `${formatIpv4(r.dst)} dev ${r.index === h.physIndex ? 'eth0' : r.index} src ${formatIpv4(r.src)}`).sort();

const received = (h: SimHost): number => Object.values(h.agent!.counters.receivedByType).reduce((a, b) => a + b, 0);

describe('raw L2 discovery', () => {
  it('hosts in different IP subnets of one segment meet over raw L2 and get on-link /32 routes to each other, '
    + 'and only to each other', async () => {
    const sim = new Sim(21, undefined, { rawL2: true });
    const h1 = sim.addHost('h1', '10.0.0.11');
    const h2 = sim.addHost('h2', '10.0.7.12'); // DHCP put it in another subnet
    const h3 = sim.addHost('h3', '10.0.0.13');
    // no router on the segment: UDP between the subnets gets nowhere, frames do
    const subnet =
      (t: FakeTransport): string => sim.hosts.find((h) => h.transport === t)!.underlay.replace(/\.\d+$/, '');
    sim.lan.loss = (from, to, via) => via !== 'raw' && subnet(from) !== subnet(to);
    for (const h of sim.hosts) await sim.start(h);
    await sim.run(3000);

    expect(new Set(sim.overlayIps()).size).toBe(3);
    for (const h of sim.hosts) expect(h.agent!.status().peers.map((p) => p.state)).toEqual(['alive', 'alive']);
    expect(routes(h1)).toEqual(['10.0.7.12 dev eth0 src 10.0.0.11']);
    expect(routes(h2)).toEqual(['10.0.0.11 dev eth0 src 10.0.7.12', '10.0.0.13 dev eth0 src 10.0.7.12']);
    expect(routes(h3)).toEqual(['10.0.7.12 dev eth0 src 10.0.0.13']); // none to h1: same subnet
    expect(fdbDsts(h1)).toEqual(['10.0.0.13', '10.0.7.12']);
    expect(fdbDsts(h2)).toEqual(['10.0.0.11', '10.0.0.13']);
    expect(h1.kernel.fdbOf('scvx-100')).toContainEqual({ mac: h2.kernel.link('scbr-100')!.mac, dst: ip('10.0.7.12') });

    // DHCP moves h2 into the others' subnet: the routes are no longer needed
    await sim.renumber(h2, '10.0.0.12');
    await sim.run(100);
    for (const h of sim.hosts) expect(routes(h)).toEqual([]);
    expect(fdbDsts(h1)).toEqual(['10.0.0.12', '10.0.0.13']);
  });

  it('a NIC without IPv4 claims its overlay address over raw L2 alone; its peers learn its address when DHCP answers',
    async () => {
    const sim = new Sim(22, undefined, { rawL2: true });
    const h1 = sim.addHost('h1', '10.0.0.11');
    const h2 = sim.addHost('h2', '10.0.0.12');
    const n = sim.addHost('n', undefined);
    sim.lan.loss = (from, to, via) => via !== 'raw' && (from === n.transport || to === n.transport);
    for (const h of sim.hosts) await sim.start(h);
    await sim.run(3000);

    expect(n.transport.source).toBeUndefined();
    expect(n.agent!.status().node.addressState).toBe('established');
    expect(new Set(sim.overlayIps()).size).toBe(3);
    expect(n.kernel.addrsOf('scbr-100').map((a) => a.address)).toEqual([n.agent!.overlayIp]);
    const nOnH1 = () => h1.agent!.status().peers.find((p) => p.id === n.agent!.nodeId);
    expect(nOnH1()).toMatchObject({ state: 'alive', overlayIp: formatIpv4(n.agent!.overlayIp!),
      underlayIp: '0.0.0.0' });
    expect(fdbDsts(h1)).toEqual(['10.0.0.12']); // nowhere to send its VXLAN yet
    expect(fdbDsts(n)).toEqual(['10.0.0.11', '10.0.0.12']);

    const nip = n.agent!.overlayIp;
    sim.lan.loss = () => false;
    await sim.renumber(n, '10.0.0.13'); // DHCP answers
    await sim.run(100);
    expect(n.agent!.overlayIp).toBe(nip);
    expect(nOnH1()).toMatchObject({ underlayIp: '10.0.0.13' });
    for (const h of [h1, h2]) expect(fdbDsts(h)).toContain('10.0.0.13');
    expect(h2.kernel.fdbOf('scvx-100')).toContainEqual({ mac: n.kernel.link('scbr-100')!.mac, dst: ip('10.0.0.13') });
  });

  it('lets a renumbered peer\'s new address through the filter before its route and FDB entries point there',
    async () => {
    const sim = new Sim(23, undefined, { rawL2: true });
    const h1 = sim.addHost('h1', '10.0.0.11', {}, { firewall: true });
    const h2 = sim.addHost('h2', '10.0.0.12');
    sim.addHost('h3', '10.0.0.13');
    for (const h of sim.hosts) await sim.start(h);
    await sim.run(3000);
    expect(h1.firewall!.allowedText()).toEqual(['10.0.0.12', '10.0.0.13']);
    expect(h1.agent!.status().filter).toMatchObject({ mode: 'filtered', allowed: 2 });

    const mark = h1.kernel.ops.length;
    await sim.renumber(h2, '10.0.7.12'); // another subnet of the segment: an on-link route too
    await sim.run(100);
    const ops = h1.kernel.ops.slice(mark);
    const nft = ops.indexOf('nft set peers { 10.0.0.13, 10.0.7.12 }');
    const route = ops.indexOf('ip route replace 10.0.7.12/32 dev eth0 scope link src 10.0.0.11');
    const append = ops.indexOf('bridge fdb append 00:00:00:00:00:00 dev scvx-100 dst 10.0.7.12');
    expect(nft).toBeGreaterThan(-1);
    expect(route).toBeGreaterThan(nft);
    expect(append).toBeGreaterThan(route);
    expect(ops.slice(0, nft).filter((o) => o.includes('10.0.7.12'))).toEqual([]);
    expect(fdbDsts(h1)).toEqual(['10.0.0.13', '10.0.7.12']);
  });

  it('counts every packet that arrives by both paths once as received and once as a duplicate, never as a replay',
    async () => {
    const sim = new Sim(24, undefined, { rawL2: true });
    sim.lan.delayMs = 250; // UDP lags the frames: the copies of a burst interleave
    const h1 = sim.addHost('h1', '10.0.0.11');
    const h2 = sim.addHost('h2', '10.0.0.12');
    for (const h of sim.hosts) await sim.start(h);
    await sim.run(3000);
    const mark = sim.lan.captured.length;
    const rx = received(h1);
    const dup = h1.agent!.counters.duplicates;

    await sim.renumber(h2, '10.0.0.99'); // a burst: sent at 0, 100 and 400 ms
    await sim.run(20_000);
    const fromH2 =
      sim.lan.captured.slice(mark).filter((c) => [`l2:${h2.mac}`, '10.0.0.12', '10.0.0.99'].includes(c.from));
    const frames = fromH2.filter((c) => c.via === 'raw').length;
    expect(frames).toBeGreaterThanOrEqual(6); // the burst, an answer, periodic announcements
    expect(fromH2.filter((c) => c.via !== 'raw').length).toBe(frames); // each also by UDP, nothing else
    expect(received(h1) - rx).toBe(frames);
    expect(h1.agent!.counters.duplicates - dup).toBe(frames);
    expect(h1.agent!.counters.dropped.replay).toBe(0);
    expect(fdbDsts(h1)).toEqual(['10.0.0.99']);
  });

  it('a frame relayed by another host does not make the originator adjacent', async () => {
    const sim = new Sim(25, undefined, { rawL2: true });
    const a1 = sim.addHost('a1', '10.0.0.11');
    const a2 = sim.addHost('a2', '10.0.0.12');
    const b1 =
      sim.addHost('b1', '10.1.0.11', { seeds: [{ address: '10.0.0.11', port: sim.lan.port }] }, { segment: 1 });
    await sim.start(a1);
    await sim.start(a2);
    await sim.run(3000);
    const mark = sim.lan.captured.length;
    await sim.start(b1); // a1 hears it by unicast and introduces it to segment 0
    await sim.run(3000);

    const b1id = b1.agent!.nodeId;
    const relayedFrames = sim.lan.captured.slice(mark).filter((c) => c.from === `l2:${a1.mac}`)
      .map((c) => decode(c.packet, 'sim', sim.keys)).filter((d) => d.ok && d.msg.nodeId === b1id);
    expect(relayedFrames.length).toBeGreaterThan(0); // b1's own announcement, in a frame from a1's MAC
    expect(a1.agent!.counters.relayed).toBeGreaterThan(0);
    expect(a2.agent!.status().peers.find((p) => p.id === b1id))
      .toMatchObject({ state: 'alive', underlayIp: '10.1.0.11' });
    expect(fdbDsts(a2)).toEqual(['10.0.0.11', '10.1.0.11']);
    // b1 is outside a2's subnet: were it held adjacent, a2 would add an on-link route to it
    for (const h of sim.hosts) expect(routes(h)).toEqual([]);
  });
});
