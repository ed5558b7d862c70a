// Simulation: discovery and addressing on hostile or messy ground — key
// rotation, replayed claims, forget, pinned addresses, clones, other clusters.

import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { formatIpv4, parseIpv4 } from '../../src/net/ipv4.js';
import { formatIp } from '../../src/net/ipv6.js';
import { parseKeyText } from '../../src/wire/keyfile.js';
import { Sim, startedSim, type SimHost } from '../fakes/sim.js';
import { CHALLENGE_RETRIES_MS } from '../../src/agent/trust/admission.js';

const ip = (s: string): number => parseIpv4(s)!;

const alivePeers = (h: SimHost): number => h.agent!.status().peers.filter((p) => p.state === 'alive').length;

describe('key rotation', () => {
  it('rotates the cluster key in three steps with every peer alive throughout', async () => {
    const sim = await startedSim(3);
    const oldText = sim.keys.map((k) => k.key.toString('hex')).join('\n');
    const newKey = randomBytes(32).toString('hex');
    const steps = [
      `old:${oldText}\nnew:${newKey}`, // 1. add the new key everywhere (old still signs)
      `new:${newKey}\nold:${oldText}`, // 2. make it first everywhere (new signs, old still verifies)
      `new:${newKey}`, //                  3. remove the old key
    ];
    for (const text of steps) {
      // hosts pick up the change one by one (SIGHUP), seconds apart
      for (const h of sim.hosts) {
        h.agent!.setKeys(parseKeyText(text, 'k'));
        await sim.run(700);
        for (const x of sim.hosts) expect(alivePeers(x)).toBe(2);
      }
      await sim.run(3000);
    }
    for (const h of sim.hosts) {
      expect(h.agent!.counters.dropped['bad-auth']).toBe(0);
      const verified = h.agent!.counters.verifiedByKey;
      expect(verified.new).toBeGreaterThan(0);
      expect(h.agent!.status().security.keys.map((k) => k.label)).toEqual(['new']);
    }
  });

  it('announces at once when the signing key changes, and not when only a verifying key is added', async () => {
    const sim = await startedSim(2);
    const [h1, h2] = sim.hosts as [SimHost, SimHost];
    const oldText = sim.keys.map((k) => k.key.toString('hex')).join('\n');
    const newKey = randomBytes(32).toString('hex');
    const sent = (): number => h1.agent!.counters.sentByType.announce;
    for (const h of sim.hosts) h.agent!.setKeys(parseKeyText(`old:${oldText}\nnew:${newKey}`, 'k'));
    const before = sent();
    await sim.run(10);
    expect(sent()).toBe(before); // same signing key: nothing to prove yet
    h1.agent!.setKeys(parseKeyText(`new:${newKey}\nold:${oldText}`, 'k'));
    await sim.run(10);
    expect(sent()).toBe(before + 1);
    expect(h2.agent!.counters.verifiedByKey.new).toBe(1); // the first packet signed with it, verified at once
  });

  it('drops packets signed with a key that was removed', async () => {
    const sim = await startedSim(2);
    const [h1, h2] = sim.hosts as [SimHost, SimHost];
    h2.agent!.setKeys(parseKeyText(randomBytes(32).toString('hex'), 'k'));
    await sim.run(5000);
    expect(h1.agent!.counters.dropped['bad-auth']).toBeGreaterThan(0);
    expect(h1.agent!.status().peers[0]!.state).toBe('alive'); // not yet stale...
    await sim.run(15_000);
    expect(h1.agent!.status().peers[0]!.state).toBe('stale'); // ...but no longer heard
  });
});

describe('replays cannot move a host', () => {
  it('keeps its address when a captured old claim with a longer hold is replayed to a host that never saw it',
    async () => {
    // x holds A for an hour, then is forgotten; h later gets A. An outsider
    // replays x's old announcement to h (which never met x): h challenges,
    // nobody answers with the nonce, h keeps A.
    const sim = new Sim(3, '10.200.0.0/29');
    const x = sim.addHost('x', '10.0.0.50');
    await sim.start(x);
    await sim.run(3_600_000);
    const captured = sim.lan.captured.filter((c) => c.from === '10.0.0.50').at(-1)!.packet;
    const xip = x.agent!.overlayIp!;
    await sim.stop(x);
    sim.lan.members.splice(sim.lan.members.indexOf(x.transport), 1);
    // a fresh host that can only get x's old address (the /29 is otherwise full)
    const fillers = [1, 2, 3, 4].map((i) => sim.addHost(`f${i}`, `10.0.0.${20 + i}`));
    const h = sim.addHost('h', '10.0.0.30');
    for (const f of fillers) await sim.start(f);
    await sim.run(3000);
    await sim.start(h);
    await sim.run(3000);
    const holder = [...fillers, h].find((z) => z.agent!.overlayIp === xip)!; // the /29 is full: someone has it
    expect(holder).toBeDefined();
    // hosts that met challenged each other once (first contact)
    const challenged = holder.agent!.counters.sentByType.challenge;
    sim.lan.inject(captured, '10.0.0.50');
    await sim.run(5000);
    expect(holder.agent!.overlayIp).toBe(xip);
    expect(holder.agent!.counters.conflicts).toBe(0);
    expect(holder.agent!.status().security.unconfirmedClaims).toBe(1);
    // asked, asked again while unanswered (backing off), then ignored
    expect(holder.agent!.counters.sentByType.challenge).toBe(challenged + 1 + CHALLENGE_RETRIES_MS.length);
  });
});

describe('forget', () => {
  it('releases a dead host everywhere; when it returns it gives the address up and claims a new one', async () => {
    const sim = await startedSim(3, 4);
    const [h1, h2, h3] = sim.hosts as [SimHost, SimHost, SimHost];
    const deadIp = h3.agent!.overlayIp!;
    const deadId = h3.agent!.nodeId;
    await sim.stop(h3);
    await sim.run(20_000);
    expect(() => h1.agent!.forget(deadId.slice(0, 3), false)).toThrow(/neither a node id/);
    const r = h1.agent!.forget(deadId.slice(0, 8), false);
    expect(r).toEqual({ id: deadId, overlayIp: formatIpv4(deadIp) });
    await sim.run(100);
    for (const h of [h1, h2]) {
      expect(h.agent!.status().peers.map((p) => p.id)).not.toContain(deadId);
      expect(h.kernel.fdbOf('scvx-100').map((e) => formatIp(e.dst))).not.toContain('10.0.0.13');
      expect(h.agent!.status().security.forgotten.map((f) => f.id)).toEqual([deadId]);
    }
    // the forgotten host comes back (renumbered): told so, it moves
    await sim.renumber(h3, '10.0.0.63');
    await sim.start(h3);
    await sim.run(5000);
    expect(h3.agent!.overlayIp).toBeDefined();
    expect(h3.agent!.overlayIp).not.toBe(deadIp);
    expect(h3.logs.lines.some((l) => l.code === 'E_FORGOTTEN')).toBe(true);
    for (const h of [h1, h2]) {
      expect(h.agent!.status().peers.find((p) => p.id === deadId)!.overlayIp).toBe(formatIpv4(h3.agent!.overlayIp!));
    }
  });

  it('refuses to forget a live host unless forced', async () => {
    const sim = await startedSim(2);
    const [h1, h2] = sim.hosts as [SimHost, SimHost];
    expect(() => h1.agent!.forget(h2.agent!.nodeId, false))
      .toThrow(/is alive \(last seen .* ago\); forgetting it makes it give up its address\. Use --force/);
    const held = [h1.agent!.overlayIp, h2.agent!.overlayIp].map((x) => formatIpv4(x!));
    const free = ['100.64.192.254', '100.64.192.253', '100.64.192.252'].find((x) => !held.includes(x))!;
    expect(() => h1.agent!.forget(free, false)).toThrow(/no peer matches/);
    const before = h2.agent!.overlayIp;
    h1.agent!.forget(formatIpv4(before!), true);
    await sim.run(3000);
    expect(h2.agent!.overlayIp).not.toBe(before);
    expect(h2.agent!.overlayIp).toBeDefined();
  });
});

describe('pinned addresses', () => {
  it('uses a free pinned address and refuses, changing nothing, when another host holds it', async () => {
    const sim = await startedSim(2);
    const held = sim.hosts[0]!.agent!.overlayIp!;
    const p = sim.addHost('p', '10.0.0.40', { pinnedIp: ip('100.64.192.77') });
    const started = sim.start(p); // a pinned address is settled (probed) before start() returns
    await sim.run(3000);
    await started;
    expect(p.agent!.overlayIp).toBe(ip('100.64.192.77'));
    expect(p.agent!.status().node.pinned).toBe(true);
    const q = sim.addHost('q', '10.0.0.41', { pinnedIp: held });
    await sim.run(1);
    const opsBefore = q.kernel.ops.length; // the host's own eth0 address
    const refused = sim.start(q);
    refused.catch(() => {});
    await sim.run(3000);
    await expect(refused).rejects.toMatchObject({ code: 'E_CONFLICT', message: expect.stringMatching(
      /^overlay IP 100\.64\.192\.\d+ pinned by --overlay-ip is already taken: .*node [0-9a-f]{32}/) });
    expect(q.kernel.ops.slice(opsBefore)).toEqual([]);
    expect(sim.hosts[0]!.agent!.overlayIp).toBe(held);
  });

  it('refuses at once, with E_CONFLICT and no stray rejection, when its persisted peer table already names the holder',
    async () => {
    const sim = await startedSim(2);
    const held = sim.hosts[0]!.agent!.overlayIp!;
    const q = sim.addHost('q', '10.0.0.41');
    await sim.start(q);
    await sim.run(3000); // q has heard (and persisted) the holder
    await sim.stop(q);
    q.config = { ...q.config, pinnedIp: held };
    const opsBefore = q.kernel.ops.length;
    await expect(sim.start(q)).rejects.toMatchObject(
      { code: 'E_CONFLICT', message: expect.stringMatching(/already taken: node [0-9a-f]{32} holds it/) });
    expect(q.kernel.ops.slice(opsBefore)).toEqual([]);
  });
});

describe('messy LANs', () => {
  it('reports another cluster with an overlapping CIDR loudly, and ignores its packets', async () => {
    const sim = await startedSim(2);
    const other = sim.addHost('o', '10.0.0.90', { cluster: 'other', cidr: { network: ip('100.64.0.0'), prefix: 16 } });
    other.keys = parseKeyText(randomBytes(32).toString('hex'), 'k');
    await sim.start(other);
    await sim.run(3000);
    const h1 = sim.hosts[0]!;
    const st = h1.agent!.status();
    expect(st.security.foreignClusters)
      .toEqual([expect.objectContaining({ name: 'other', cidr: '100.64.0.0/16', overlapping: true })]);
    expect(st.peers).toHaveLength(1);
    expect(h1.agent!.counters.dropped['other-cluster']).toBeGreaterThan(0);
    expect(h1.logs.lines.filter((l) => l.code === 'E_CIDR_OVERLAP')).toHaveLength(1);
  });

  it('detects a second host using its node id (a cloned state directory)', async () => {
    const sim = await startedSim(2);
    const [h1] = sim.hosts as [SimHost, SimHost];
    const clone = sim.addHost('clone', '10.0.0.99');
    clone.fs.files.set('/sim/clone/state.json', h1.fs.files.get('/sim/h1/state.json')!);
    await sim.start(clone);
    await sim.run(3000);
    expect(h1.agent!.counters.duplicateNodeId).toBeGreaterThan(0);
    expect(h1.logs.lines.some((l) => l.code === 'E_DUPLICATE_NODE_ID')).toBe(true);
  });

  it('abandons a probe when it can no longer send, and probes afresh once it can', async () => {
    const sim = new Sim(9);
    const h = sim.addHost('h1', '10.0.0.11');
    await sim.start(h);
    await sim.run(50); // mid-probe
    expect(h.agent!.status().node.addressState).toBe('probing');
    h.kernel.removeAddr(h.physIndex, ip('10.0.0.11'), 24);
    await sim.run(5000);
    expect(h.agent!.status().node.addressState).toBe('waiting');
    expect(h.agent!.overlayIp).toBeUndefined();
    await h.kernel.addAddr(h.physIndex, ip('10.0.0.11'), 24);
    await sim.run(2000);
    expect(h.agent!.overlayIp).toBeDefined();
  });

  it('does nothing at all once stopped', async () => {
    const sim = await startedSim(2);
    const h1 = sim.hosts[0]!;
    const agent = h1.agent!;
    await agent.stop();
    const ops = h1.kernel.ops.length;
    const sent = h1.transport.sent;
    const late = sim.addHost('late', '10.0.0.77');
    await sim.start(late);
    await sim.run(10_000);
    expect(h1.kernel.ops.length).toBe(ops);
    expect(h1.transport.sent).toBe(sent);
  });
});

describe('routed underlays', () => {
  it('joins hosts on two L2 segments through one unicast seed, then renumbers across them', async () => {
    const sim = new Sim(12);
    const a = [1, 2, 3].map((i) => sim.addHost(`a${i}`, `10.0.0.${10 + i}`));
    const b = [1, 2].map((i) =>
      sim.addHost(`b${i}`, `10.1.0.${10 + i}`, { seeds: [{ address: '10.0.0.11', port: sim.lan.port }] }));
    for (const h of b) sim.lan.segments.set(h.transport, 1);
    for (const h of [...a, ...b]) await sim.start(h);
    await sim.run(5000);
    const all = [...a, ...b];
    expect(new Set(sim.overlayIps()).size).toBe(5);
    for (const h of all) {
      expect(h.agent!.status().peers.map((p) => p.state)).toEqual(['alive', 'alive', 'alive', 'alive']);
      expect(h.kernel.fdbOf('scvx-100').filter((e) => e.mac === '00:00:00:00:00:00')).toHaveLength(4);
    }
    // a host on segment B is renumbered: everyone on A follows directly
    await sim.renumber(b[1]!, '10.1.0.99');
    await sim.run(50);
    for (const h of a) expect(h.kernel.fdbOf('scvx-100').map((e) => formatIp(e.dst))).toContain('10.1.0.99');
  });
});
