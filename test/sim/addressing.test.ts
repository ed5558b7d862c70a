// Simulation: address allocation without a controller — simultaneous boots,
// partitions and merges — over many seeds.

import { describe, expect, it } from 'vitest';
import { formatIpv4, isHostAddress } from '../../src/net/ipv4.js';
import { Sim } from '../fakes/sim.js';
import { sealState, unsealState } from '../../src/state/store.js';
import type { PersistedState } from '../../src/state/schema.js';

describe('simultaneous start', () => {
  it('20 hosts booting within one second end with 20 distinct persisted host addresses (10 seeds)', async () => {
    for (let seed = 1; seed <= 10; seed++) {
      const sim = new Sim(seed);
      for (let i = 1; i <= 20; i++) sim.addHost(`h${i}`, `10.0.0.${10 + i}`);
      for (const h of sim.hosts) {
        await sim.start(h);
        await sim.run(Math.floor(sim.random() * 50)); // spread over the same second
      }
      await sim.run(5000);
      const ips = sim.overlayIps();
      expect(ips.every((x) => x !== undefined)).toBe(true);
      expect(new Set(ips).size).toBe(20);
      for (const h of sim.hosts) {
        expect(isHostAddress(sim.cidr, h.agent!.overlayIp!)).toBe(true);
        const persisted = JSON.parse(h.fs.files.get(`/sim/${h.name}/state.json`)!) as { overlayIp: string };
        expect(persisted.overlayIp).toBe(formatIpv4(h.agent!.overlayIp!));
        expect(h.agent!.status().peers.length).toBe(19);
      }
    }
  });

  it('fills a small CIDR completely without duplicates when hosts race for it (20 seeds)', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const sim = new Sim(seed, '10.200.0.0/29'); // 5 host addresses
      for (let i = 1; i <= 5; i++) sim.addHost(`h${i}`, `10.0.0.${10 + i}`);
      for (const h of sim.hosts) await sim.start(h);
      await sim.run(8000);
      const ips = sim.overlayIps();
      expect(new Set(ips).size).toBe(5);
      expect(ips.every((x) => x !== undefined)).toBe(true);
    }
  });
});

describe('partition and merge', () => {
  it('resolves duplicates after a merge: established holders keep their address, newcomers move (20 seeds)',
    async () => {
    let conflictsSeen = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const sim = new Sim(seed, '10.200.0.0/29');
      const a = sim.addHost('a', '10.0.0.11');
      const b = sim.addHost('b', '10.0.0.12');
      await sim.start(a);
      await sim.start(b);
      await sim.run(3000);
      const established = new Map([[a.name, a.agent!.overlayIp], [b.name, b.agent!.overlayIp]]);
      // the switch splits; a newcomer boots on each side
      const c = sim.addHost('c', '10.0.0.13');
      const d = sim.addHost('d', '10.0.0.14');
      sim.lan.partition([[a.transport, c.transport], [b.transport, d.transport]]);
      await sim.start(c);
      await sim.start(d);
      await sim.run(3000);
      sim.lan.heal();
      await sim.run(10_000);
      const ips = sim.overlayIps();
      expect(new Set(ips).size).toBe(4);
      expect(a.agent!.overlayIp).toBe(established.get('a'));
      expect(b.agent!.overlayIp).toBe(established.get('b'));
      for (const h of [c, d]) {
        const loud = h.logs.lines.filter((l) => l.code === 'E_CONFLICT');
        conflictsSeen += loud.length;
        for (const l of loud) expect(String(l.msg)).toContain(h.agent!.nodeId);
      }
    }
    expect(conflictsSeen).toBeGreaterThan(0); // the seeds do produce real conflicts
  });

  it('between two established holders the older claim wins', async () => {
    const sim = new Sim(11, '10.200.0.0/29');
    const a = sim.addHost('a', '10.0.0.11');
    const b = sim.addHost('b', '10.0.0.12');
    sim.lan.partition([[a.transport], [b.transport]]);
    await sim.start(a);
    await sim.run(2000);
    await sim.start(b);
    await sim.run(2000);
    // force the same address on both sides, as two halves of a split site could end up
    if (a.agent!.overlayIp !== b.agent!.overlayIp) {
      const st = unsealState(b.fs.files.get('/sim/b/state.json')!) as PersistedState;
      st.overlayIp = formatIpv4(a.agent!.overlayIp!);
      await sim.stop(b);
      b.fs.files.set('/sim/b/state.json', sealState(st));
      await sim.start(b);
      await sim.run(1000);
    }
    expect(b.agent!.overlayIp).toBe(a.agent!.overlayIp);
    const aIp = a.agent!.overlayIp;
    sim.lan.heal();
    await sim.run(5000);
    expect(a.agent!.overlayIp).toBe(aIp); // a claimed first
    expect(b.agent!.overlayIp).not.toBe(aIp);
    expect(b.agent!.overlayIp).toBeDefined();
    expect(b.agent!.counters.conflicts).toBe(1);
    expect(a.agent!.counters.conflicts).toBe(0);
    expect(b.kernel.addrsOf('scbr-100').map((x) => x.address)).toEqual([b.agent!.overlayIp]);
  });
});
