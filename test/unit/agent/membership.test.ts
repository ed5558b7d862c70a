// Unit: agent/membership/membership.ts: announcements, adjacency, forget, the dataplane's view, the sweep, adopt().
import { describe, expect, it } from 'vitest';
import { Membership } from '../../../src/agent/membership/membership.js';
import { Relay } from '../../../src/agent/membership/relay.js';
import { NOTHING, type Actions } from '../../../src/agent/actions.js';
import { Counters } from '../../../src/agent/records/counters.js';
import { PeerTable } from '../../../src/peers/table.js';
import { Tombstones } from '../../../src/peers/tombstones.js';
import { parseIpv4 } from '../../../src/net/ipv4.js';
import { parseIpv6 } from '../../../src/net/ipv6.js';
import type { AnnounceMsg } from '../../../src/wire/codec.js';
import { FakeClock } from '../../fakes/clock.js';
import { captureLog } from '../../fakes/log.js';
import { announceMsg, LAN } from '../../fakes/agent.js';

const ip = (s: string): number => parseIpv4(s)!;
const STALE_MS = 20_000;
const TRUST_STALE_MS = 600_000;
const P = 'a'.repeat(32);
const Q = 'b'.repeat(32);

interface Setup {
  m: Membership;
  peers: PeerTable;
  clock: FakeClock;
  counters: Counters;
  lines: Record<string, unknown>[];
  emitted: Actions[];
}

/** The agent's side: whatever the sweep emits, the agent acts on with a fresh view (desiredOf). */
function setup(): Setup {
  const clock = new FakeClock();
  const { log, lines } = captureLog();
  const peers = new PeerTable(STALE_MS);
  const counters = new Counters();
  const emitted: Actions[] = [];
  const m: Membership = new Membership({
    clock, log, peers, tombstones: new Tombstones(), relay: new Relay(peers), counters,
    emit: (a) => { emitted.push(a); m.view(); },
  });
  return { m, peers, clock, counters, lines, emitted };
}

let seq = 0;
const announce = (id: string, over: Partial<AnnounceMsg> = {}): AnnounceMsg => announceMsg({
  nodeId: id, seq: ++seq, overlayIp: ip('100.64.192.10'), underlayIp: ip('10.0.0.7'), claimedAt: 1000, heldMs: 5000,
  ...over,
});
type Outcome = ReturnType<Membership['onAnnounce']>;
const hear = (s: Setup, msg: AnnounceMsg): Outcome => s.m.onAnnounce(msg, Buffer.from('p'), LAN);
const infos = (lines: Record<string, unknown>[]): unknown[] =>
  lines.filter((l) => l.level === 'info').map((l) => l.msg);

describe('onAnnounce', () => {
  it('a new peer: the routes follow, the state is written, the family choice checked; logged as joined', () => {
    const s = setup();
    const out = hear(s, announce(P));
    expect(out).toEqual({ kind: 'new', actions: { reprogram: 'routes', persist: true, family: true } });
    expect(s.peers.get(P)).toMatchObject({ underlayIp: ip('10.0.0.7'), overlayIp: ip('100.64.192.10') });
    expect(s.lines.at(-1)).toMatchObject({ level: 'info', peer: P, msg: 'peer joined' });
  });

  it('a new peer beyond our LAN: its introduction is sent with the rest', () => {
    const s = setup();
    const out = hear(s, announce(P, { underlayIp: ip('10.9.0.7') }));
    expect(out.kind).toBe('new');
    expect(out.kind !== 'forgotten' && out.actions.send).toEqual([{ kind: 'relay', packet: Buffer.from('p') }]);
  });

  it('the same announcement again: refreshed, nothing to do', () => {
    const s = setup();
    hear(s, announce(P));
    expect(hear(s, announce(P))).toEqual({
      kind: 'refreshed', actions: { reprogram: undefined, persist: false, family: false },
    });
  });

  it('a peer that moved: the routes follow and the state is written; counted and logged', () => {
    const s = setup();
    hear(s, announce(P));
    const out = hear(s, announce(P, { underlayIp: ip('10.0.0.8') }));
    expect(out).toEqual({ kind: 'updated', actions: { reprogram: 'routes', persist: true, family: false } });
    expect(s.counters.underlayChangesPeer).toBe(1);
    expect(s.lines.at(-1)).toMatchObject({ level: 'info', peer: P, msg: 'peer underlay address changed' });
  });

  it('a peer whose capabilities or link-local address changed: the family choice is checked again', () => {
    const s = setup();
    const ll = parseIpv6('fe80::1')!;
    hear(s, announce(P, { caps: 0 }));
    const familyChecked = { kind: 'updated', actions: { family: true } };
    expect(hear(s, announce(P, { caps: 1 }))).toMatchObject(familyChecked);
    expect(hear(s, announce(P, { caps: 1, linkLocal: ll }))).toMatchObject(familyChecked);
    expect(s.counters.underlayChangesPeer).toBe(0); // a first link-local address is no move
    hear(s, announce(P, { caps: 1, linkLocal: parseIpv6('fe80::2')! }));
    expect(s.counters.underlayChangesPeer).toBe(1);
    expect(infos(s.lines)).toContain('peer link-local address changed');
  });

  it('a peer heard again after going stale is logged as back', async () => {
    const s = setup();
    hear(s, announce(P));
    await s.clock.advance(STALE_MS + 1);
    expect(hear(s, announce(P)).kind).toBe('refreshed');
    expect(s.lines.at(-1)).toMatchObject({ peer: P, msg: 'peer is back' });
  });

  it('a forgotten claim is not taken back; its holder is told, at most every 5 s', async () => {
    const s = setup();
    hear(s, announce(P));
    s.m.forget(P, 1000);
    expect(hear(s, announce(P))).toEqual({ kind: 'forgotten', claimedAt: 1000, reply: true });
    expect(hear(s, announce(P, { claimedAt: 900 }))).toEqual({ kind: 'forgotten', claimedAt: 1000, reply: false });
    await s.clock.advance(4999);
    expect(hear(s, announce(P))).toMatchObject({ reply: false });
    await s.clock.advance(1);
    expect(hear(s, announce(P))).toMatchObject({ reply: true });
    expect(s.peers.get(P)).toBeUndefined();
  });

  it('a newer claim by a forgotten node clears the tombstone and makes it a peer again', () => {
    const s = setup();
    hear(s, announce(P));
    s.m.forget(P, 1000);
    const out = hear(s, announce(P, { claimedAt: 2000, overlayIp: ip('100.64.192.11') }));
    expect(out).toMatchObject({ kind: 'new', actions: { reprogram: 'routes', persist: true } });
    expect(s.m.tombstones.get(P)).toBeUndefined();
  });
});

describe('markAdjacent', () => {
  it('the first frame from a peer ever: on-link routes, the state written, the family choice checked', () => {
    const s = setup();
    hear(s, announce(P));
    expect(s.m.markAdjacent(P)).toEqual({ reprogram: 'routes', persist: true, family: true });
    expect(s.m.markAdjacent(P)).toBe(NOTHING);
    expect(s.m.view().adjacent).toEqual(new Set([P]));
  });

  it('adjacent again after a silence: the routes follow, nothing else', async () => {
    const s = setup();
    hear(s, announce(P));
    s.m.markAdjacent(P);
    await s.clock.advance(STALE_MS + 1);
    expect(s.m.view().adjacent).toEqual(new Set());
    expect(s.m.markAdjacent(P)).toEqual({ reprogram: 'routes', persist: false, family: false });
  });
});

describe('forget', () => {
  it('tombstones the claim and drops the peer with its address; logged with who asked', () => {
    const s = setup();
    hear(s, announce(P));
    expect(s.m.forget(P, 1000, Q)).toEqual({ reprogram: 'routes', persist: true, family: true });
    expect(s.peers.get(P)).toBeUndefined();
    expect(s.m.tombstones.covers(P, 1000)).toBe(true);
    expect(s.lines.at(-1)).toMatchObject({ level: 'warn', peer: P, by: Q });
    expect(s.m.forget(P, 1000)).toBe(NOTHING); // known already
  });

  it('a forget of an older claim than the peer holds keeps the peer; of an unknown node, only the tombstone', () => {
    const s = setup();
    hear(s, announce(P, { claimedAt: 5000 }));
    expect(s.m.forget(P, 1000)).toEqual({ persist: true });
    expect(s.peers.get(P)).toBeDefined();
    expect(s.m.forget(Q, 1000)).toEqual({ persist: true });
    expect(s.m.tombstones.covers(Q, 1000)).toBe(true);
    expect(s.lines.at(-1)?.by).toBeUndefined();
  });

  it('resolve() names a peer for the operator, refusing an alive one without force', () => {
    const s = setup();
    hear(s, announce(P));
    expect(() => s.m.resolve(P, false)).toThrow(/is alive/);
    expect(s.m.resolve('100.64.192.10', true).id).toBe(P);
  });
});

describe('view', () => {
  it('gives a contested address\'s neighbour entry to one winner (the longer held claim)', () => {
    const s = setup();
    hear(s, announce(P, { heldMs: 1000 }));
    hear(s, announce(Q, { heldMs: 9000, underlayIp: ip('10.0.0.8'), mac: '02:00:00:00:00:08' }));
    const routes = s.m.view().routes;
    expect(routes.find((r) => r.id === Q)!.overlayIp).toBe(ip('100.64.192.10'));
    expect(routes.find((r) => r.id === P)!.overlayIp).toBeUndefined();
    expect(routes).toHaveLength(2); // both keep their FDB entries
  });

  it('trusts alive peers, and stale ones for 10 minutes of wall time after they were last heard', async () => {
    const s = setup();
    hear(s, announce(P));
    expect(s.m.view().trusted).toEqual(new Set([P]));
    await s.clock.advance(TRUST_STALE_MS);
    expect(s.peers.state(s.peers.get(P)!, s.clock.monotonic())).toBe('stale');
    expect(s.m.view().trusted).toEqual(new Set([P]));
    await s.clock.advance(1);
    expect(s.m.view().trusted).toEqual(new Set());
  });

  it('counts wall time for stale peers: a peer from the state file is trusted only if heard recently', () => {
    const s = setup();
    const before = new PeerTable(STALE_MS);
    before.observe(announce(P), s.clock.now() - 5 * 60_000, 0);
    before.observe(announce(Q, { overlayIp: ip('100.64.192.11') }), s.clock.now() - 11 * 60_000, 0);
    s.peers.load(before.toPersisted());
    expect(s.m.view().trusted).toEqual(new Set([P]));
  });

  it('a stale peer\'s trust follows the wall clock, not the monotonic one', async () => {
    const s = setup();
    hear(s, announce(P));
    await s.clock.advance(STALE_MS + 1000); // stale
    expect(s.m.view().trusted).toEqual(new Set([P]));
    s.clock.stepWall(TRUST_STALE_MS); // NTP stepped the wall clock: by it, P was last heard over 10 minutes ago
    expect(s.m.view().trusted).toEqual(new Set());
  });
});

describe('the sweep', () => {
  it('emits a routes reprogram when time alone changed who is trusted or adjacent, and only then', async () => {
    const s = setup();
    hear(s, announce(P));
    s.m.markAdjacent(P);
    s.m.view();
    s.m.start();
    await s.clock.advance(STALE_MS);
    expect(s.emitted).toEqual([]);
    await s.clock.advance(1000); // no longer adjacent
    expect(s.emitted).toEqual([{ reprogram: 'routes' }]);
    await s.clock.advance(TRUST_STALE_MS - STALE_MS - 2000);
    expect(s.emitted).toHaveLength(1);
    await s.clock.advance(2000); // no longer trusted
    expect(s.emitted).toEqual([{ reprogram: 'routes' }, { reprogram: 'routes' }]);
    await s.clock.advance(10_000);
    expect(s.emitted).toHaveLength(2);
  });

  it('logs a peer going stale once, and again after it came back and went quiet again', async () => {
    const s = setup();
    hear(s, announce(P));
    s.m.view();
    s.m.start();
    const stale = (): number => s.lines.filter((l) => l.level === 'warn' && l.peer === P).length;
    await s.clock.advance(STALE_MS + 5000);
    expect(stale()).toBe(1);
    await s.clock.advance(5000);
    expect(stale()).toBe(1);
    hear(s, announce(P));
    await s.clock.advance(STALE_MS + 2000);
    expect(stale()).toBe(2);
  });

  it('stops with stop()', async () => {
    const s = setup();
    hear(s, announce(P));
    s.m.start();
    expect(s.clock.pending).toBe(1);
    s.m.stop();
    expect(s.clock.pending).toBe(0);
    await s.clock.advance(TRUST_STALE_MS * 2);
    expect(s.emitted).toEqual([]);
  });
});

describe('adopt', () => {
  it('takes a peer\'s underlay and link-local addresses from the kernel\'s FDB, by the peer\'s MAC', () => {
    const s = setup();
    hear(s, announce(P, { linkLocal: parseIpv6('fe80::7')! }));
    hear(s, announce(Q, { underlayIp: ip('10.0.0.8'), mac: '02:00:00:00:00:08' }));
    s.m.adopt([
      { mac: '02:00:00:00:00:07', dst: ip('10.0.0.70') },
      { mac: '02:00:00:00:00:08', dst: parseIpv6('fe80::8')! },
      { mac: '02:00:00:00:00:99', dst: ip('10.0.0.99') }, // no peer of ours
    ]);
    expect(s.peers.get(P)).toMatchObject({ underlayIp: ip('10.0.0.70'), linkLocal: parseIpv6('fe80::7') });
    expect(s.peers.get(Q)).toMatchObject({ underlayIp: ip('10.0.0.8'), linkLocal: parseIpv6('fe80::8') });
    expect(s.lines.filter((l) => String(l.msg).startsWith('adopting'))).toHaveLength(2);
  });

  it('changes and logs nothing when the FDB agrees', () => {
    const s = setup();
    hear(s, announce(P, { linkLocal: parseIpv6('fe80::7')! }));
    const before = s.lines.length;
    s.m.adopt([{ mac: '02:00:00:00:00:07', dst: ip('10.0.0.7') }]);
    expect(s.peers.get(P)).toMatchObject({ underlayIp: ip('10.0.0.7'), linkLocal: parseIpv6('fe80::7') });
    expect(s.lines).toHaveLength(before);
  });
});
