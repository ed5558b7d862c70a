// Simulation: the underlay family (policy/family.ts) across a cluster —
// link-local when every host can, IPv4 while one cannot (IPv6 off, a 0.1
// host, a routed peer), moving together and back when that changes, never
// flapping on partitions, restarts or joins, and programmed from the state
// file at once after a reboot.

import { describe, expect, it } from 'vitest';
import { ZERO_MAC } from '../../src/net/ipv4.js';
import { formatIp, parseIpv6, type Ipv6 } from '../../src/net/ipv6.js';
import { decode, encode, type AnnounceMsg, type Message } from '../../src/wire/codec.js';
import { sealState, unsealState } from '../../src/state/store.js';
import { SCHEMA, type PersistedState } from '../../src/state/schema.js';
import { Sim, type SimHost } from '../fakes/sim.js';

const floods = (h: SimHost): string[] =>
  h.kernel.fdbOf('scvx-100').filter((e) => e.mac === ZERO_MAC)
    .map((e) => `${formatIp(e.dst)}${e.via === undefined ? '' : ` via ${e.via}`}`).sort();
const ll = (h: SimHost): Ipv6 => h.kernel.ipv6.addrsOf('eth0').find((a) => a.linkLocal && !a.dadFailed)!.address;
const family = (h: SimHost): string => h.agent!.status().underlay.family;
const switches = (h: SimHost): number => h.agent!.counters.familySwitches;

/** A cluster of hosts h1..hn with IPv6 on every NIC, underlay auto, raw L2 on the LAN. */
function llSim(n: number, seed = 31): Sim {
  const sim = new Sim(seed, undefined, { rawL2: true });
  for (let i = 1; i <= n; i++) sim.addHost(`h${i}`, `10.0.0.${10 + i}`, { underlay: 'auto' });
  return sim;
}

/**
 * Makes `h` look like release 0.1 on the wire: no capabilities, no
 * link-local address, no readiness (and an IPv4 device).
 */
function asOldRelease(sim: Sim, h: SimHost): () => void {
  h.config.underlay = 'ipv4';
  const t = h.transport;
  const strip = (packet: Buffer): Buffer => {
    const r = decode(packet, 'sim', sim.keys);
    if (!r.ok || r.msg.type !== 'announce') return packet;
    const { caps: _c, linkLocal: _l, llReady: _r, ...old } = r.msg as AnnounceMsg;
    return encode(old as Message, r.key);
  };
  const { broadcast, unicast } = t;
  t.broadcast = (p) => broadcast.call(t, strip(p));
  t.unicast = (p, to) => unicast.call(t, strip(p), to);
  return () => { t.broadcast = broadcast; t.unicast = unicast; h.config.underlay = 'auto'; };
}

describe('underlay family', () => {
  it('hosts with IPv6 on every NIC carry VXLAN over link-local from the start: '
    + 'FDB to the peers\' link-local addresses via the NIC, MTU - 70', async () => {
    const sim = llSim(3);
    for (const h of sim.hosts) await sim.start(h);
    await sim.run(6000);
    for (const h of sim.hosts) {
      const others = sim.hosts.filter((o) => o !== h);
      expect(family(h)).toBe('link-local');
      expect(floods(h)).toEqual(others.map((o) => `${ll(o)} via ${h.physIndex}`).sort());
      expect(h.kernel.link('scvx-100')!.vxlan!.local6).toBe(ll(h));
      expect(h.kernel.link('scbr-100')!.mtu).toBe(1430);
      expect(switches(h)).toBe(0); // never on IPv4 first
      const peers = h.agent!.status().peers;
      expect(peers.map((p) => p.linkLocal).sort()).toEqual(others.map(ll).sort());
      expect(peers.map((p) => p.l2)).toEqual(['yes', 'yes']);
    }
  });

  it('a host with IPv6 off joins: everyone moves to IPv4 together, keeping bridge, addresses and neighbours; '
    + 'forgotten, back to link-local', async () => {
    const sim = llSim(3, 32);
    for (const h of sim.hosts) await sim.start(h);
    await sim.run(6000);
    const before = sim.hosts.map((h) => ({ ip: h.agent!.overlayIp, bridge: h.kernel.link('scbr-100')!.index,
      neigh: h.kernel.neighOf('scbr-100').length }));
    const h4 = sim.addHost('h4', '10.0.0.14', { underlay: 'auto' }, { ipv6: false });
    await sim.start(h4);
    await sim.run(3000);
    for (const h of sim.hosts) {
      expect(family(h)).toBe('ipv4');
      expect(floods(h)).toEqual(sim.hosts.filter((o) => o !== h).map((o) => o.underlay).sort());
    }
    expect(sim.hosts.slice(0, 3).map((h) => h.agent!.status().underlay.why)).toEqual(
      Array(3).fill(`peer ${h4.agent!.nodeId.slice(0, 8)} cannot use link-local (IPv6 off or underlay: ipv4 there)`));
    sim.hosts.slice(0, 3).forEach((h, i) => {
      expect(h.agent!.overlayIp).toBe(before[i]!.ip);
      expect(h.kernel.link('scbr-100')!.index).toBe(before[i]!.bridge);
      expect(h.kernel.link('scbr-100')!.mtu).toBe(1450);
      expect(h.kernel.neighOf('scbr-100').length).toBe(before[i]!.neigh + 1);
      expect(switches(h)).toBe(1);
    });
    const gone = h4.agent!.nodeId;
    await sim.stop(h4);
    sim.hosts.pop();
    sim.host('h1').agent!.forget(gone, true);
    await sim.run(1000);
    for (const h of sim.hosts) {
      expect(family(h)).toBe('link-local');
      expect(switches(h)).toBe(2);
      expect(floods(h)).toEqual(sim.hosts.filter((o) => o !== h).map((o) => `${ll(o)} via ${h.physIndex}`).sort());
    }
  });

  it('a 0.1 host keeps the cluster on IPv4; upgraded in place, the cluster moves to link-local by itself and no '
    + 'overlay address changes', async () => {
    const sim = llSim(3, 33);
    const restore = asOldRelease(sim, sim.host('h3'));
    for (const h of sim.hosts) await sim.start(h);
    await sim.run(6000);
    for (const h of sim.hosts) expect(family(h)).toBe('ipv4');
    expect(sim.host('h1').agent!.status().underlay.why)
      .toMatch(/^peer [0-9a-f]{8} runs a release without link-local support$/);
    const ips = sim.overlayIps();
    await sim.stop(sim.host('h3'));
    restore();
    await sim.start(sim.host('h3'));
    await sim.run(4000);
    expect(sim.overlayIps()).toEqual(ips);
    for (const h of sim.hosts) {
      expect(family(h)).toBe('link-local');
      expect(floods(h)).toEqual(sim.hosts.filter((o) => o !== h).map((o) => `${ll(o)} via ${h.physIndex}`).sort());
    }
  });

  it('a host that cannot, known to one host only, still holds a newcomer on IPv4: readiness travels', async () => {
    const sim = llSim(3, 34);
    asOldRelease(sim, sim.host('h3'));
    for (const h of sim.hosts) await sim.start(h);
    await sim.run(6000);
    await sim.stop(sim.host('h3')); // gone, but known (stale) to h1 and h2
    await sim.run(30_000);
    const h4 = sim.addHost('h4', '10.0.0.14', { underlay: 'auto' });
    await sim.start(h4);
    await sim.run(6000);
    expect(h4.agent!.status().peers.map((p) => p.id).sort())
      .toEqual([sim.host('h1').agent!.nodeId, sim.host('h2').agent!.nodeId].sort());
    expect(family(h4)).toBe('ipv4');
    expect(h4.agent!.status().underlay.why).toMatch(/knows a host that cannot use link-local$/);
    for (const h of [sim.host('h1'), sim.host('h2')]) expect(family(h)).toBe('ipv4');
  });

  it('never flaps: partitions, restarts and capable newcomers leave link-local in place', async () => {
    const sim = llSim(3, 35);
    for (const h of sim.hosts) await sim.start(h);
    await sim.run(6000);
    const [h1, h2, h3] = sim.hosts as [SimHost, SimHost, SimHost];
    sim.lan.partition([[h1.transport], [h2.transport, h3.transport]]);
    await sim.run(60_000); // everyone stale to someone
    sim.lan.heal();
    await sim.run(6000);
    await sim.stop(h2);
    await sim.run(5000);
    await sim.start(h2);
    await sim.run(6000);
    const h4 = sim.addHost('h4', '10.0.0.14', { underlay: 'auto' });
    await sim.start(h4);
    await sim.run(6000);
    for (const h of sim.hosts) {
      expect(family(h)).toBe('link-local');
      expect(switches(h)).toBe(0);
      expect(h.logs.lines.filter((l) => l.msg === 'underlay family changes; rebuilding the VXLAN device')).toEqual([]);
    }
  });

  it('after a reboot, the peers\' link-local addresses from the state file are programmed before anything is heard',
    async () => {
    const sim = llSim(3, 36);
    for (const h of sim.hosts) await sim.start(h);
    await sim.run(6000);
    for (const h of sim.hosts) await sim.stop(h);
    const h1 = sim.host('h1');
    // a reboot: our devices are gone
    for (const dev of ['scvx-100', 'scbr-100']) await h1.kernel.deleteLink(h1.kernel.link(dev)!.index);
    sim.lan.loss = () => true; // the DHCP server and every other host still down: nothing gets through
    await sim.start(h1);
    expect(h1.agent!.counters.receivedByType.announce).toBe(0);
    expect(family(h1)).toBe('link-local');
    expect(floods(h1)).toEqual([sim.host('h2'), sim.host('h3')].map((o) => `${ll(o)} via ${h1.physIndex}`).sort());
    expect(h1.kernel.link('scvx-100')!.vxlan!.local6).toBe(ll(h1));
  });

  it('a peer\'s new link-local address is announced at once and its peers repoint their entries, '
    + 'like a renumbering, filter first', async () => {
    const sim = new Sim(37, undefined, { rawL2: true });
    for (let i = 1; i <= 3; i++) sim.addHost(`h${i}`, `10.0.0.${10 + i}`, { underlay: 'auto' }, { firewall: i === 1 });
    for (const h of sim.hosts) await sim.start(h);
    await sim.run(6000);
    const [h1, h2] = sim.hosts as [SimHost, SimHost];
    const next = parseIpv6('fe80::9999:1')!;
    h2.kernel.ipv6.setLinkLocal('eth0', next);
    await sim.run(50);
    expect(floods(h1)).toContain(`${next} via ${h1.physIndex}`);
    expect(h1.kernel.fdbOf('scvx-100').filter((e) => e.dst === ll(h2) || e.mac === h2.kernel.link('scbr-100')!.mac)
      .map((e) => formatIp(e.dst)))
      .toEqual([next, next]);
    expect(h2.kernel.link('scvx-100')!.vxlan!.local6).toBe(next);
    expect(h2.agent!.counters.underlayChangesOwn).toBe(1);
    // h1's filter admits the new address before its FDB sends there (the answers come from it)
    const ops = h1.kernel.ops;
    const admitted = ops.findIndex((o) => o.startsWith('nft set peers6') && o.includes(next));
    const pointed = ops.findIndex((o) => o.startsWith('bridge fdb') && o.includes(`dst ${next}`));
    expect(admitted).toBeGreaterThan(-1);
    expect(admitted).toBeLessThan(pointed);
    expect(switches(h1)).toBe(0);
  });

  it('a peer reached through a router (seeds, no raw L2) keeps the cluster on IPv4', async () => {
    const sim = new Sim(38, undefined, { rawL2: true });
    sim.addHost('h1', '10.0.0.11', { underlay: 'auto' });
    sim.addHost('h2', '10.0.0.12', { underlay: 'auto' });
    sim.addHost('h3', '10.9.0.13', { underlay: 'auto', seeds: [{ address: '10.0.0.11', port: sim.lan.port }] },
      { segment: 1 });
    for (const h of sim.hosts) await sim.start(h);
    await sim.run(13_000); // past the L2 verdict on h3
    for (const h of sim.hosts) expect(family(h)).toBe('ipv4');
    expect(sim.host('h3').agent!.status().underlay.why)
      .toBe('unicast seeds (--peer) are configured: routed peers cannot use link-local addresses');
    expect(sim.host('h2').agent!.status().peers.find((p) => p.id === sim.host('h3').agent!.nodeId)!.l2).toBe('no');
  });

  it('upgrades a 0.1 state file in place: same overlay IP, the current schema written, '
    + 'still format version 1 with every 0.1 field', async () => {
    const sim = llSim(2, 39);
    for (const h of sim.hosts) await sim.start(h);
    await sim.run(6000);
    const h1 = sim.host('h1');
    const ip = h1.agent!.overlayIp;
    await sim.stop(h1);
    const path = `${h1.config.stateDir}/state.json`;
    const cur = unsealState(h1.fs.read(path)!) as PersistedState;
    // what 0.1 wrote: no schema, no link-local fields
    const { schema: _s, linkLocal: _l, ...rest } = cur;
    const v01 = { ...rest, peers: cur.peers.map(({ linkLocal: _a, caps: _b, ready: _c, l2: _d, ...p }) => p) };
    h1.fs.files.set(path, sealState(v01 as PersistedState));
    await sim.start(h1);
    await sim.run(4000);
    expect(h1.agent!.overlayIp).toBe(ip);
    expect(h1.logs.lines.some((l) => l.msg === 'state file layout upgraded (the previous release still reads it)'
      && l.old === 1 && l.new === SCHEMA)).toBe(true);
    const after = unsealState(h1.fs.read(path)!) as PersistedState;
    expect(after).toMatchObject({ version: 1, schema: SCHEMA, overlayIp: cur.overlayIp, nodeId: cur.nodeId,
      claimedAt: cur.claimedAt });
    expect(after.peers[0]).toMatchObject({ ...v01.peers[0], lastSeq: expect.any(Number), lastSeenAt: expect.any(Number),
      heldMs: expect.any(Number), l2: true, caps: 1 });
    expect(family(h1)).toBe('link-local');
  });
});
