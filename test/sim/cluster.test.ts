// Simulation: whole agents on fake kernels and a fake LAN. Covers forming a
// cluster, renumbering, restarts, absence, drift repair and hostile input.

import { describe, expect, it } from 'vitest';
import { formatIpv4, parseIpv4, ZERO_MAC } from '../../src/net/ipv4.js';
import { formatIp } from '../../src/net/ipv6.js';
import { encode } from '../../src/wire/codec.js';
import { Sim, startedSim, type SimHost } from '../fakes/sim.js';

const ip = (s: string): number => parseIpv4(s)!;

function fdbDsts(h: SimHost): string[] {
  return h.kernel.fdbOf('scvx-100').filter((e) => e.mac === ZERO_MAC).map((e) => formatIp(e.dst)).sort();
}

describe('cluster formation', () => {
  it('gives three hosts distinct host addresses, never the VIP, and programs every peer', async () => {
    const sim = await startedSim(3);
    const ips = sim.overlayIps();
    expect(new Set(ips).size).toBe(3);
    for (const a of ips) {
      expect(a).toMatch(/^100\.64\.192\.\d+$/);
      expect(a).not.toBe('100.64.192.1');
      expect(a).not.toBe('100.64.192.0');
      expect(a).not.toBe('100.64.192.255');
    }
    for (const h of sim.hosts) {
      const others = sim.hosts.filter((o) => o !== h);
      expect(fdbDsts(h)).toEqual(others.map((o) => o.underlay).sort());
      const bridgeMac = (o: SimHost): string => o.kernel.link('scbr-100')!.mac;
      for (const o of others) {
        expect(h.kernel.fdbOf('scvx-100')).toContainEqual({ mac: bridgeMac(o), dst: ip(o.underlay) });
        expect(h.kernel.neighOf('scbr-100')).toContainEqual({ index: h.kernel.link('scbr-100')!.index,
          dst: o.agent!.overlayIp, mac: bridgeMac(o), permanent: true });
      }
      const addrs = h.kernel.addrsOf('scbr-100');
      expect(addrs).toEqual(
        [{ index: h.kernel.link('scbr-100')!.index, address: h.agent!.overlayIp, prefix: 24, secondary: false }]);
      expect(h.kernel.link('scbr-100')!.mtu).toBe(1450);
      expect(h.kernel.link('scvx-100')!.mtu).toBe(1450);
      expect(h.kernel.link('scvx-100')!.master).toBe(h.kernel.link('scbr-100')!.index);
      const st = h.agent!.status();
      expect(st.peers.map((p) => p.state)).toEqual(['alive', 'alive']);
      expect(st.dataplane.ready).toBe(true);
    }
  });

  it('persists the address before configuring it', async () => {
    const sim = new Sim(7);
    const h = sim.addHost('h1', '10.0.0.11');
    await sim.start(h);
    await sim.run(2000);
    const ipText = formatIpv4(h.agent!.overlayIp!);
    const writesWithIp = h.fs.writes.filter((w) => w.data.includes(`"overlayIp": "${ipText}"`));
    expect(writesWithIp.length).toBeGreaterThan(0);
    const firstAddrOp = h.kernel.ops.findIndex((o) => o.startsWith('ip addr add 100.64.192.'));
    expect(firstAddrOp).toBeGreaterThan(-1);
    // The op log and the write log are separate; the agent writes synchronously
    // inside the claim, so the address cannot have been added before the first
    // write that contains it. Re-run with a failing disk to prove the order:
    const sim2 = new Sim(7);
    const h2 = sim2.addHost('h1', '10.0.0.11');
    await sim2.start(h2);
    h2.fs.failWrites = 'ENOSPC';
    await sim2.run(2000);
    expect(h2.agent!.overlayIp).toBeUndefined();
    expect(h2.kernel.addrsOf('scbr-100')).toEqual([]);
    h2.fs.failWrites = undefined;
    await sim2.run(3000);
    expect(h2.agent!.overlayIp).toBeDefined();
    expect(h2.kernel.addrsOf('scbr-100').map((a) => a.address)).toEqual([h2.agent!.overlayIp]);
  });
});

describe('renumbering', () => {
  it('rewrites every peer FDB entry when one host gets a new underlay address, without restarts', async () => {
    const sim = await startedSim(3);
    const [h1, h2, h3] = sim.hosts as [SimHost, SimHost, SimHost];
    const before = sim.overlayIps();
    await sim.renumber(h2, '10.0.0.99');
    await sim.run(50);
    expect(fdbDsts(h1)).toEqual(['10.0.0.13', '10.0.0.99']);
    expect(fdbDsts(h3)).toEqual(['10.0.0.11', '10.0.0.99']);
    expect(h1.kernel.fdbOf('scvx-100')).not.toContainEqual(expect.objectContaining({ dst: ip('10.0.0.12') }));
    // the stale ARP entry for the old address is flushed, the zero entry appended before the old one is deleted
    const ops = h1.kernel.ops;
    const append = ops.findIndex((o) => o === 'bridge fdb append 00:00:00:00:00:00 dev scvx-100 dst 10.0.0.99');
    const del = ops.findIndex((o) => o === 'bridge fdb del 00:00:00:00:00:00 dev scvx-100 dst 10.0.0.12');
    expect(append).toBeGreaterThan(-1);
    expect(del).toBeGreaterThan(append);
    expect(sim.overlayIps()).toEqual(before);
    expect(h2.agent!.counters.underlayChangesOwn).toBe(1);
    expect(h1.agent!.counters.underlayChangesPeer).toBe(1);
    expect(h1.agent!.status().peers.find((p) => p.id === h2.agent!.nodeId)!.underlayIp).toBe('10.0.0.99');
  });

  it('recovers when every host is renumbered at once', async () => {
    const sim = await startedSim(3, 3);
    const before = sim.overlayIps();
    await Promise.all(sim.hosts.map((h, i) => sim.renumber(h, `10.0.0.${50 + i}`)));
    await sim.run(100);
    for (const h of sim.hosts) {
      expect(fdbDsts(h)).toEqual(sim.hosts.filter((o) => o !== h).map((o) => o.underlay).sort());
    }
    expect(sim.overlayIps()).toEqual(before);
  });

  it('a host restarted after its peers moved learns their new addresses at once, not at their next period',
    async () => {
    for (const seed of [5, 6, 7]) {
      const sim = await startedSim(3, seed);
      const [h1, h2, h3] = sim.hosts as [SimHost, SimHost, SimHost];
      await sim.stop(h1);
      await sim.renumber(h2, '10.0.0.62');
      await sim.renumber(h3, '10.0.0.63');
      await sim.run(1000); // their bursts are long over
      const sent = (): number => h2.agent!.counters.sentByType.announce + h3.agent!.counters.sentByType.announce;
      const before = sent();
      await sim.start(h1); // its first announcements say "fresh": the others answer with theirs
      await sim.run(400); // answers come within 100–200 ms, not at the next period (5 s)
      expect(fdbDsts(h1)).toEqual(['10.0.0.62', '10.0.0.63']);
      // the answers are one triggered announcement each (and perhaps a periodic one), not a storm
      await sim.run(3000);
      expect(sent() - before).toBeLessThanOrEqual(4);
    }
  });

  it('a host restarted twice within one fresh episode still learns its peers\' moves at once', async () => {
    for (const seed of [15, 16, 17]) {
      const sim = await startedSim(3, seed);
      const [h1, h2, h3] = sim.hosts as [SimHost, SimHost, SimHost];
      await sim.stop(h1);
      await sim.start(h1); // a fresh episode: the others answer once
      await sim.run(300);
      await sim.stop(h1); // and down again inside it, while everyone moves
      await sim.renumber(h1, '10.0.0.81');
      await sim.renumber(h2, '10.0.0.82');
      await sim.renumber(h3, '10.0.0.83');
      await sim.run(600);
      await sim.start(h1);
      await sim.run(400); // answers come within 100–200 ms, not at the next period (5 s)
      expect(fdbDsts(h1)).toEqual(['10.0.0.82', '10.0.0.83']);
    }
  });

  it('a host whose own address changed hears from its peers at once (it may have been cut off)', async () => {
    const sim = await startedSim(3, 8);
    const [h1, h2] = sim.hosts as [SimHost, SimHost];
    const sent = h2.agent!.counters.sentByType.announce;
    await sim.renumber(h1, '10.0.0.71');
    await sim.run(400); // answers come within 100–200 ms, not at the next period (5 s)
    expect(h2.agent!.counters.sentByType.announce).toBe(sent + 1);
  });

  it('flushes the ARP entry of a retired underlay address on the physical interface', async () => {
    const sim = await startedSim(3);
    const [h1, h2] = sim.hosts as [SimHost, SimHost];
    h1.kernel.putNeigh(h1.physIndex, ip('10.0.0.12'), '52:54:00:00:00:02', false);
    await sim.renumber(h2, '10.0.0.98');
    await sim.run(50);
    expect(h1.kernel.neighOf('eth0').map((n) => formatIpv4(n.dst))).not.toContain('10.0.0.12');
  });
});

describe('restarts and absence', () => {
  it('keeps the same address across a restart and changes nothing in the kernel while adopting', async () => {
    const sim = await startedSim(3);
    const h = sim.hosts[0]!;
    const ipBefore = h.agent!.overlayIp;
    await sim.stop(h);
    const opsBefore = h.kernel.ops.length;
    await sim.start(h);
    await sim.run(3000);
    expect(h.agent!.overlayIp).toBe(ipBefore);
    expect(h.kernel.ops.slice(opsBefore)).toEqual([]);
  });

  it('keeps a silent peer reserved and programmed, marks it stale, and gives it its address back later', async () => {
    // A /29 has five host addresses: three hosts, then two newcomers fill it.
    const sim = new Sim(5, '10.200.0.0/29');
    for (let i = 1; i <= 3; i++) sim.addHost(`h${i}`, `10.0.0.${10 + i}`);
    for (const h of sim.hosts) await sim.start(h);
    await sim.run(3000);
    const [h1, h2] = sim.hosts as [SimHost, SimHost];
    const h2ip = h2.agent!.overlayIp!;
    const h2id = h2.agent!.nodeId;
    await sim.stop(h2);
    await sim.run(24 * 3600 * 1000); // a day
    expect(h1.agent!.status().peers.find((p) => p.id === h2id))
      .toMatchObject({ state: 'stale', overlayIp: formatIpv4(h2ip) });
    expect(fdbDsts(h1)).toContain('10.0.0.12');
    // newcomers take what is left, never the absent host's address
    const newcomers = [sim.addHost('h4', '10.0.0.14'), sim.addHost('h5', '10.0.0.15'), sim.addHost('h6', '10.0.0.16')];
    for (const n of newcomers) await sim.start(n);
    await sim.run(5000);
    const got = newcomers.map((n) => n.agent!.overlayIp);
    expect(got).not.toContain(h2ip);
    expect(got.filter((x) => x !== undefined).length).toBe(2);
    expect(newcomers.map((n) => n.agent!.status().node.addressState).sort())
      .toEqual(['established', 'established', 'exhausted']);
    // the absent host returns, renumbered, and gets its own address back
    await sim.stop(newcomers[2]!);
    await sim.renumber(h2, '10.0.0.77');
    await sim.start(h2);
    await sim.run(3000);
    expect(h2.agent!.overlayIp).toBe(h2ip);
    expect(h1.agent!.status().peers.find((p) => p.id === h2id))
      .toMatchObject({ state: 'alive', underlayIp: '10.0.0.77' });
  });
});

describe('drift repair', () => {
  it('restores a deleted FDB entry, neighbour entry, address and device', async () => {
    const sim = await startedSim(3);
    const h = sim.hosts[0]!;
    const vx = h.kernel.link('scvx-100')!;
    const entry = h.kernel.fdbOf('scvx-100')[0]!;
    h.kernel.removeFdb(vx.index, entry);
    await sim.run(10);
    expect(h.kernel.fdbOf('scvx-100')).toContainEqual(entry);

    const br = h.kernel.link('scbr-100')!;
    h.kernel.removeAddr(br.index, h.agent!.overlayIp!, 24);
    await sim.run(10);
    expect(h.kernel.addrsOf('scbr-100').map((a) => a.address)).toEqual([h.agent!.overlayIp]);

    const n = h.kernel.neighOf('scbr-100')[0]!;
    await h.kernel.neighDel(br.index, n.dst);
    await sim.run(10);
    expect(h.kernel.neighOf('scbr-100')).toContainEqual(n);

    await h.kernel.deleteLink(vx.index);
    await sim.run(10);
    expect(h.kernel.link('scvx-100')?.master).toBe(h.kernel.link('scbr-100')!.index);
    expect(fdbDsts(h)).toEqual(['10.0.0.12', '10.0.0.13']);
  });

  it('resyncs from a full dump after lost events', async () => {
    const sim = await startedSim(3);
    const h = sim.hosts[0]!;
    const vx = h.kernel.link('scvx-100')!;
    // a change whose event was lost (overrun): nothing notices it...
    const entry = h.kernel.fdbOf('scvx-100')[0]!;
    const watchers = (h.kernel as unknown as { watchers: unknown[] }).watchers;
    const saved = [...watchers];
    watchers.length = 0;
    h.kernel.removeFdb(vx.index, entry);
    watchers.push(...saved);
    await sim.run(10);
    expect(h.kernel.fdbOf('scvx-100')).not.toContainEqual(entry);
    // ...until the kernel reports the loss
    h.kernel.emit({ type: 'resync', reason: 'overrun (ENOBUFS)' });
    await sim.run(10);
    expect(h.kernel.fdbOf('scvx-100')).toContainEqual(entry);
    expect(h.agent!.counters.kernelResyncs).toBe(1);
  });

  it('leaves a second address on the bridge alone (a VIP) and keeps ours primary', async () => {
    const sim = await startedSim(3);
    const h = sim.hosts[0]!;
    const br = h.kernel.link('scbr-100')!;
    await h.kernel.addAddr(br.index, ip('100.64.192.1'), 24);
    await sim.run(10);
    await sim.run(40_000); // periodic resync included
    const addrs = h.kernel.addrsOf('scbr-100');
    expect(addrs).toContainEqual(expect.objectContaining({ address: ip('100.64.192.1'), secondary: true }));
    expect(addrs).toContainEqual(expect.objectContaining({ address: h.agent!.overlayIp, secondary: false }));
  });
});

describe('hostile input', () => {
  it('ignores forged, replayed and garbage packets without changing anything', async () => {
    const sim = await startedSim(3);
    const [h1, h2] = sim.hosts as [SimHost, SimHost];
    await sim.run(100);
    // capture a genuine announcement of h2, then move h2 so the capture is stale
    const captured = sim.lan.captured.filter((c) => c.from === '10.0.0.12').at(-1)!.packet;
    await sim.renumber(h2, '10.0.0.66');
    await sim.run(100);
    const opsBefore = h1.kernel.ops.length;
    sim.lan.inject(captured, '10.0.0.200'); // replay
    const forged = encode({
      type: 'announce', cluster: 'sim', nodeId: h2.agent!.nodeId, seq: Number.MAX_SAFE_INTEGER, sentAt: sim.clock.now(),
      overlayIp: h2.agent!.overlayIp!, underlayIp: ip('10.0.0.200'), mac: '02:66:66:66:66:66', claimedAt: 0, heldMs: 0,
      cidr: sim.cidr, vni: 100,
    }, { id: 0, key: Buffer.alloc(32, 7) }); // wrong key
    sim.lan.inject(forged, '10.0.0.200');
    sim.lan.inject(Buffer.from('not a packet at all'), '10.0.0.200');
    sim.lan.inject(Buffer.alloc(60, 0x41), '10.0.0.200');
    sim.lan.inject(Buffer.alloc(4000, 1), '10.0.0.200');
    await sim.run(100);
    expect(h1.kernel.ops.slice(opsBefore)).toEqual([]);
    expect(fdbDsts(h1)).toEqual(['10.0.0.13', '10.0.0.66']);
    const dropped = h1.agent!.counters.dropped;
    expect(dropped.replay).toBeGreaterThanOrEqual(1);
    expect(dropped['bad-auth']).toBe(1);
    expect(dropped['too-short']).toBe(1);
    expect(dropped['bad-magic']).toBe(1);
    expect(dropped['too-long']).toBe(1);
  });
});
