// Simulation: the physical link as it really is. A host whose cable is out
// for minutes keeps its peers' FDB entries and its own address; when carrier
// returns it announces at once (fresh) and hears its peers' news within a
// round trip, not a period. An agent started before its NIC exists joins
// once the NIC is plugged in.

import { describe, expect, it } from 'vitest';
import { parseIpv4, ZERO_MAC } from '../../src/net/ipv4.js';
import { formatIp } from '../../src/net/ipv6.js';
import { Sim, startedSim, type SimHost } from '../fakes/sim.js';

const floods = (h: SimHost): string[] => h.kernel.fdbOf('scvx-100').filter((e) => e.mac === ZERO_MAC)
  .map((e) => formatIp(e.dst)).sort();

function unplug(sim: Sim, h: SimHost): void {
  h.kernel.setCable('eth0', false);
  sim.lan.partition([[h.transport], sim.hosts.filter((o) => o !== h).map((o) => o.transport)]);
}

function plug(sim: Sim, h: SimHost): void {
  sim.lan.heal();
  h.kernel.setCable('eth0', true);
}

describe('carrier lost for minutes', () => {
  it.each([1, 2, 3])('keeps entries and address while cut off, and is back within one round trip after (seed %i)',
    async (seed) => {
    const sim = await startedSim(3, seed);
    const [h1, h2, h3] = sim.hosts as [SimHost, SimHost, SimHost];
    const own = h1.agent!.overlayIp;
    unplug(sim, h1);
    await sim.run(3 * 60_000);
    const cut = h1.agent!.status();
    expect(cut.node.carrier).toBe(false);
    expect(cut.peers.map((p) => p.state)).toEqual(['stale', 'stale']);
    expect(floods(h1)).toEqual(['10.0.0.12', '10.0.0.13']); // entries kept
    expect(h1.agent!.overlayIp).toBe(own);
    await sim.renumber(h2, '10.0.0.42'); // news h1 misses
    await sim.run(6000);
    const sentBefore = h1.agent!.counters.sentByType.announce;
    plug(sim, h1);
    await sim.run(400); // fresh answers come within 100-200 ms: well under one 5 s period
    expect(h1.agent!.counters.sentByType.announce).toBeGreaterThan(sentBefore); // announced at once
    const back = h1.agent!.status();
    expect(back.node.carrier).toBe(true);
    expect(back.peers.map((p) => p.state)).toEqual(['alive', 'alive']);
    expect(floods(h1)).toEqual(['10.0.0.13', '10.0.0.42']);
    expect(h3.agent!.status().peers.find((p) => p.id === h1.agent!.nodeId)!.state).toBe('alive');
    expect(h1.agent!.overlayIp).toBe(own);
  });
});

describe('a NIC that is not there yet', () => {
  it('an agent started without its NIC joins the cluster once the NIC is plugged in (new ifindex)', async () => {
    const sim = new Sim(4, undefined, { rawL2: true });
    for (let i = 1; i <= 3; i++) sim.addHost(`h${i}`, `10.0.0.${10 + i}`);
    const [h1, , h3] = sim.hosts as [SimHost, SimHost, SimHost];
    await h3.kernel.deleteLink(h3.physIndex);
    for (const h of sim.hosts) await sim.start(h);
    await sim.run(3000);
    const before = h3.agent!.status();
    expect(before.dataplane.ready).toBe(false);
    expect(before.discovery.raw).toMatchObject({ state: 'down', error: 'no physical interface' });
    expect(before.discovery.udp.state).toBe('down');
    h3.physIndex = h3.kernel.addPhysical('eth0', 1500, h3.mac); // USB NIC in
    await h3.kernel.addAddr(h3.physIndex, parseIpv4('10.0.0.13')!, 24);
    await sim.run(2000);
    const after = h3.agent!.status();
    expect(after.dataplane.ready).toBe(true);
    expect(after.discovery.raw.state).toBe('up');
    expect(after.discovery.raw.lastPeerPacketMs).not.toBeNull();
    expect(after.peers.map((p) => p.state)).toEqual(['alive', 'alive']);
    expect(floods(h1)).toContain('10.0.0.13');
    expect(h3.kernel.link('scvx-100')!.vxlan!.link).toBe(h3.physIndex); // bound to the new NIC
  });
});
