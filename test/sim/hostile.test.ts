// Simulation: what a neighbour on the LAN without the key can try: ghosts of
// decommissioned nodes replayed to a fresh host, replayed raw frames to fake
// adjacency, floods of forged packets, junk cluster names, a host's own old
// packets replayed at it. Nothing may change, and the agent must not spend
// unbounded work or log lines on it.

import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { parseCidr, ZERO_MAC, type Cidr } from '../../src/net/ipv4.js';
import { formatIp } from '../../src/net/ipv6.js';
import { decode, encode, type AnnounceMsg } from '../../src/wire/codec.js';
import { parseKeyText } from '../../src/wire/keyfile.js';
import { Sim, startedSim, type SimHost } from '../fakes/sim.js';

const floods = (h: SimHost): string[] => h.kernel.fdbOf('scvx-100').filter((e) => e.mac === ZERO_MAC)
  .map((e) => formatIp(e.dst)).sort();
const announcesOf = (sim: Sim, h: SimHost): Buffer[] => sim.lan.captured
  .filter((c) => c.from === h.underlay || c.from === `l2:${h.mac}`)
  .map((c) => c.packet)
    .filter((p) => { const d = decode(p, 'sim', sim.keys); return d.ok && d.msg.type === 'announce'; });

describe('ghosts: replays of a decommissioned node to a host that never met it', () => {
  it('a fresh host stores nothing of the ghost, even when the ghost claims a live host\'s address with a longer hold',
    async () => {
    const sim = new Sim(31, '10.200.0.0/29', { rawL2: true });
    const ghost = sim.addHost('ghost', '10.0.0.50');
    await sim.start(ghost);
    await sim.run(3_600_000); // it held its address for an hour
    const captured = announcesOf(sim, ghost).slice(-3);
    const ghostIp = ghost.agent!.overlayIp!;
    await sim.stop(ghost);
    sim.lan.members.splice(sim.lan.members.indexOf(ghost.transport), 1); // decommissioned: gone for good
    const fillers = [1, 2, 3, 4].map((i) => sim.addHost(`f${i}`, `10.0.0.${20 + i}`, {}, { firewall: true }));
    const fresh = sim.addHost('fresh', '10.0.0.30', {}, { firewall: true });
    for (const h of [...fillers, fresh]) await sim.start(h);
    await sim.run(5000);
    // the /29 is full: a live host has it now
    const holder = [...fillers, fresh].find((z) => z.agent!.overlayIp === ghostIp)!;
    const before =
      { peers: fresh.agent!.status().peers.length, fdb: floods(fresh), allowed: fresh.firewall!.allowedText() };
    for (const p of captured) {
      sim.lan.inject(p, '10.0.0.50'); // by UDP from its old address...
      sim.lan.inject(p, `l2:${ghost.mac}`); // ...and as a frame from its MAC
    }
    await sim.run(5000);
    const after = fresh.agent!.status();
    expect(after.peers.map((p) => p.id)).not.toContain(ghost.agent?.nodeId ?? decodeId(sim, captured[0]!));
    expect(after.peers).toHaveLength(before.peers);
    expect(floods(fresh)).toEqual(before.fdb);
    expect(fresh.firewall!.allowedText()).toEqual(before.allowed); // 10.0.0.50 is not let in
    expect(holder.agent!.overlayIp).toBe(ghostIp);
    expect(holder.agent!.counters.conflicts).toBe(0);
    expect(fresh.agent!.counters.dropped.unconfirmed).toBeGreaterThan(0);
    expect(after.security.unconfirmedClaims).toBeGreaterThan(0);
  });
});

function decodeId(sim: Sim, p: Buffer): string {
  const d = decode(p, 'sim', sim.keys);
  if (!d.ok) throw new Error('not ours');
  return d.msg.nodeId;
}

describe('adjacency only from packets that passed the replay check', () => {
  it('a replayed raw frame with a routed peer\'s MAC installs no on-link route', async () => {
    const sim = new Sim(32, undefined, { rawL2: true });
    const a1 = sim.addHost('a1', '10.0.0.11');
    const a2 = sim.addHost('a2', '10.0.0.12');
    const b1 =
      sim.addHost('b1', '10.1.0.11', { seeds: [{ address: '10.0.0.11', port: sim.lan.port }] }, { segment: 1 });
    for (const h of [a1, a2, b1]) await sim.start(h);
    await sim.run(8000);
    const old = announcesOf(sim, b1).at(0)!; // an old announcement of b1, long superseded
    expect(a2.agent!.status().peers.map((p) => p.state)).toEqual(['alive', 'alive']);
    const replays = a2.agent!.counters.dropped.replay;
    sim.lan.inject(old, `l2:${b1.mac}`); // on segment 0, as if b1 were here
    await sim.run(2000);
    expect(a2.agent!.counters.dropped.replay).toBeGreaterThan(replays);
    for (const h of [a1, a2]) expect(h.kernel.routesOf()).toEqual([]);
  });
});

describe('floods', () => {
  it('a flood of forged packets from one source costs a bounded number of HMACs, and renumbering still goes through',
    async () => {
    const sim = await startedSim(3, 33);
    const [h1, h2] = sim.hosts as [SimHost, SimHost, SimHost];
    const good = announcesOf(sim, h2).at(-1)!;
    const forged = Buffer.from(good);
    forged[forged.length - 1]! ^= 0xff; // a broken HMAC: costs one verification
    const before = { bad: h1.agent!.counters.dropped['bad-auth'], limited: h1.agent!.counters.dropped['rate-limited'] };
    for (let t = 0; t < 10; t++) { // 10 s at 1,000 packets/s
      for (let i = 0; i < 1000; i++) sim.lan.inject(forged, '10.0.0.66');
      await sim.run(1000);
    }
    const verified = h1.agent!.counters.dropped['bad-auth'] - before.bad;
    expect(verified).toBeLessThanOrEqual(20 + 5 * 10 + 1); // one source's budget: a burst, then 5 a second
    expect(h1.agent!.counters.dropped['rate-limited'] - before.limited).toBeGreaterThan(9_900);
    await sim.renumber(h2, '10.0.0.42');
    await sim.run(200);
    expect(floods(h1)).toContain('10.0.0.42');
  });

  it('a forger using a peer\'s address (broken HMACs, 200 a second for 35 s) does not make that peer stale: a known '
    + 'source is always verified', async () => {
    const sim = await startedSim(2, 36);
    const [h1, h2] = sim.hosts as [SimHost, SimHost];
    const forged = Buffer.from(announcesOf(sim, h2).at(-1)!);
    forged[forged.length - 1]! ^= 0xff;
    const heard = h1.agent!.counters.receivedByType.announce;
    for (let t = 0; t < 35; t++) {
      for (let i = 0; i < 200; i++) sim.lan.inject(forged, h2.underlay); // as if from h2
      await sim.run(1000);
      expect(h1.agent!.status().peers.find((p) => p.id === h2.agent!.nodeId)!.state).toBe('alive');
    }
    expect(h1.agent!.counters.receivedByType.announce - heard).toBeGreaterThanOrEqual(6); // h2's own, every period
    expect(h1.agent!.counters.dropped['bad-auth']).toBeGreaterThanOrEqual(35 * 200); // every forgery checked
  });

  it('junk cluster names: a bounded, expiring table, few log lines, no control characters anywhere', async () => {
    const sim = await startedSim(2, 34);
    const [h1] = sim.hosts as [SimHost, SimHost];
    const junkKey = parseKeyText(randomBytes(32).toString('hex'), 'junk')[0]!;
    const mk = (name: string, cidr: string, seq: number): Buffer => encode({
      type: 'announce', cluster: name, nodeId: 'ab'.repeat(16), seq, sentAt: 0, overlayIp: 0, underlayIp: 0,
      mac: '02:00:00:00:00:09',
      claimedAt: 0, heldMs: 0, cidr: parseCidr(cidr) as Cidr, vni: 100,
    } as AnnounceMsg, junkKey);
    for (let i = 0; i < 2000; i++) {
      sim.lan.inject(
        mk(`junk-${i}\u001b[2J\u001b]0;owned\u0007`, i % 2 ? '100.64.192.0/24' : '100.64.0.0/10', i), '10.0.0.77');
      if (i % 100 === 99) await sim.run(100);
    }
    await sim.run(1000);
    const st = h1.agent!.status();
    expect(st.security.foreignClusters.length).toBeLessThanOrEqual(64);
    // the newest are kept (LRU)
    expect(st.security.foreignClusters.some((c) => c.name.startsWith('junk-19'))).toBe(true);
    for (const c of st.security.foreignClusters) expect(c.name).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(st.security.foreignClusters[0]!.name).toContain('\\x1b[2J');
    expect(h1.logs.lines.filter((l) => l.code === 'E_CIDR_OVERLAP').length).toBeLessThanOrEqual(5);
    await sim.run(3_700_000); // an hour and more without junk
    expect(h1.agent!.status().security.foreignClusters).toEqual([]);
  });
});

describe('our own past', () => {
  it('a replay of our own old packet is a replay, not an alarm about a cloned disk', async () => {
    const sim = await startedSim(2, 35);
    const [h1] = sim.hosts as [SimHost, SimHost];
    const ours = announcesOf(sim, h1).at(0)!;
    await sim.stop(h1);
    await sim.start(h1); // a new process: the old packet is from before it started
    await sim.run(3000);
    const replays = h1.agent!.counters.dropped.replay;
    sim.lan.inject(ours, '10.0.0.66');
    await sim.run(100);
    expect(h1.agent!.counters.duplicateNodeId).toBe(0);
    expect(h1.agent!.counters.dropped.replay).toBe(replays + 1);
    expect(h1.logs.lines.some((l) => l.code === 'E_DUPLICATE_NODE_ID')).toBe(false);
  });
});
