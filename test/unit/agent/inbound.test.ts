// Unit: agent/messages/inbound.ts with real signed packets: every drop counted, and what an accepted packet asks.
import { describe, expect, it, vi } from 'vitest';
import { Inbound } from '../../../src/agent/messages/inbound.js';
import { NOTHING, type Actions, type Outgoing } from '../../../src/agent/actions.js';
import { Addressing } from '../../../src/agent/addressing/claim.js';
import { Tenure } from '../../../src/agent/addressing/tenure.js';
import { DEFAULT_TIMINGS } from '../../../src/agent/config.js';
import { Membership } from '../../../src/agent/membership/membership.js';
import { Relay } from '../../../src/agent/membership/relay.js';
import { Counters } from '../../../src/agent/records/counters.js';
import { Admission } from '../../../src/agent/trust/admission.js';
import { ForeignClusters } from '../../../src/agent/trust/foreign.js';
import { AuthGate } from '../../../src/agent/trust/gate.js';
import { PeerTable } from '../../../src/peers/table.js';
import { WINDOW } from '../../../src/peers/floors.js';
import { Tombstones } from '../../../src/peers/tombstones.js';
import { parseCidr, parseIpv4, type Cidr } from '../../../src/net/ipv4.js';
import {
  encode, type AnnounceMsg, type ChallengeMsg, type ForgetMsg, type Message, type ProbeMsg,
} from '../../../src/wire/codec.js';
import { parseKeyText } from '../../../src/wire/keyfile.js';
import type { Endpoint } from '../../../src/discovery/transport.js';
import { FakeClock } from '../../fakes/clock.js';
import { captureLog } from '../../fakes/log.js';
import { announceMsg, LAN, sentOf } from '../../fakes/agent.js';

const ip = (s: string): number => parseIpv4(s)!;
const cidr = parseCidr('100.64.192.0/24') as Cidr;
const KEYS = parseKeyText(`k1:${'1'.repeat(64)}`, 'keys');
const FOREIGN_KEY = parseKeyText(`x:${'9'.repeat(64)}`, 'other')[0]!;
const SELF = 'e'.repeat(32);
const OURS = ip('100.64.192.9');
const OUR_CLAIMED_AT = 100;
const OUR_HELD_MS = 60_000;
const P = 'a'.repeat(32);
const Q = 'b'.repeat(32);
const R = 'c'.repeat(32);
const MAC: Record<string, string> = {
  [SELF]: '52:54:00:00:00:01', [P]: '52:54:00:00:00:0a', [Q]: '52:54:00:00:00:0b', [R]: '52:54:00:00:00:0c',
};
const UNDERLAY: Record<string, string> = { [SELF]: '10.0.0.1', [P]: '10.0.0.7', [Q]: '10.0.0.8', [R]: '10.0.0.9' };
const FIRST_SEQ = 5000;
const LAST_SEQ = 6000;
const nonce = (i: number): string => `${i}`.padStart(16, '0');
const udp = (id: string): Endpoint => ({ address: UNDERLAY[id]!, port: 9477 });
const l2 = (id: string): Endpoint => ({ address: `l2:${MAC[id]}`, port: 0 });

function setup() {
  const clock = new FakeClock();
  const { log, lines } = captureLog();
  const counters = new Counters();
  const peers = new PeerTable(DEFAULT_TIMINGS.staleAfterMs);
  const emitted: Actions[] = [];
  const emit = (a: Actions): void => { emitted.push(a); };
  const tombstones = new Tombstones();
  const membership = new Membership({ clock, log, peers, tombstones, relay: new Relay(peers), counters, emit });
  let n = 0;
  const admission = new Admission({ clock, log, floors: peers.floors, emit, nonce: () => nonce(++n) });
  const addressing = new Addressing({
    clock, log, cidr, nodeId: SELF, peers, timings: DEFAULT_TIMINGS, random: () => 0.5, send: { probe: () => true },
    claims: { setClaim: () => true, clearClaim: () => undefined }, tenure: new Tenure(clock), counters, emit,
  });
  addressing.start({ ip: OURS, claimedAt: OUR_CLAIMED_AT, heldMs: OUR_HELD_MS });
  const foreign = new ForeignClusters({ ours: cidr, clock, log, counters });
  const inbound = new Inbound({
    self: { cluster: 'edge', cidr, vni: 100, nodeId: SELF }, keyring: { keys: KEYS }, clock, log, counters, foreign,
    gate: new AuthGate(clock), admission, membership, addressing, seqs: { firstSeq: FIRST_SEQ, lastSeq: LAST_SEQ },
  });
  let seq = 0;
  const common = (id: string): { cluster: string; nodeId: string; seq: number; sentAt: number } =>
    ({ cluster: 'edge', nodeId: id, seq: ++seq, sentAt: clock.now() });
  const announce = (id: string, over: Partial<AnnounceMsg> = {}): AnnounceMsg => announceMsg({
    ...common(id), overlayIp: ip('100.64.192.50'), underlayIp: ip(UNDERLAY[id]!), claimedAt: 1000, heldMs: 5000,
    physMac: MAC[id]!, ...over,
  });
  const probe = (id: string, over: Partial<ProbeMsg> = {}): ProbeMsg => ({
    ...common(id), type: 'probe', overlayIp: ip('100.64.192.77'), underlayIp: ip(UNDERLAY[id]!),
    mac: '02:00:00:00:00:07', claimedAt: 2000, heldMs: 0, cidr, vni: 100, ...over,
  });
  const challenge = (id: string, over: Partial<ChallengeMsg> = {}): ChallengeMsg => ({
    ...common(id), type: 'challenge', overlayIp: OURS, targetId: SELF, nonce: 'aabbccddeeff0011', ...over,
  });
  const forget = (id: string, over: Partial<ForgetMsg> = {}): ForgetMsg => ({
    ...common(id), type: 'forget', overlayIp: ip('100.64.192.60'), targetId: Q, targetClaimedAt: 1000, ...over,
  });
  const send = (msg: Message, from: Endpoint = udp(msg.nodeId)): Actions =>
    inbound.handle(encode(msg, KEYS[0]!), from, LAN);
  const challenges = (): Outgoing[] => sentOf(emitted, 'challenge');
  /** First contact done right: the stranger's announcement is challenged, its echo admits it. */
  const admit = (id: string, over: Partial<AnnounceMsg> = {}): Actions => {
    send(announce(id, over));
    const c = challenges().at(-1);
    if (c?.kind !== 'challenge' || c.target !== id) throw new Error('no challenge');
    return send(announce(id, { ...over, echo: c.nonce }));
  };
  return {
    clock, lines, counters, peers, emitted, membership, addressing, foreign, inbound,
    announce, probe, challenge, forget, send, challenges, admit,
  };
}

describe('standing', () => {
  it('a replay earns its source nothing: after thousands of replays from made-up sources and a flood that empties '
    + 'the strangers\' budget, a peer\'s own address is still verified', () => {
    const s = setup();
    s.admit(P);
    const captured = Array.from({ length: 5000 }, () => encode(s.announce(P), KEYS[0]!));
    for (let i = 0; i <= WINDOW; i++) s.send(s.announce(P)); // P moves on: every captured one is old now
    captured.forEach((c, i) => s.inbound.handle(c, { address: `198.18.${i >> 8}.${i & 255}`, port: 9477 }, LAN));
    expect(s.counters.dropped.replay).toBe(5000);
    const forged = encode(s.probe(Q), FOREIGN_KEY);
    for (let i = 0; i < 1000; i++) {
      s.inbound.handle(forged, { address: `198.19.${i >> 8}.${i & 255}`, port: 9477 }, LAN);
    }
    expect(s.counters.dropped['rate-limited']).toBeGreaterThan(0); // the strangers' budget is spent
    const limited = s.counters.dropped['rate-limited'];
    const heard = s.counters.receivedByType.announce;
    s.send(s.announce(P));
    expect(s.counters.dropped['rate-limited']).toBe(limited);
    expect(s.counters.receivedByType.announce).toBe(heard + 1);
  });
});

describe('drops', () => {
  it('counts what does not decode, by reason, and asks nothing', () => {
    const s = setup();
    expect(s.inbound.handle(Buffer.alloc(20), udp(P), LAN)).toBe(NOTHING);
    const broken = encode(s.announce(P), KEYS[0]!);
    broken[11] = 250; // the first field's length runs past the body
    expect(s.inbound.handle(broken, udp(P), LAN)).toBe(NOTHING);
    expect(s.counters.dropped['too-short']).toBe(1);
    expect(s.counters.dropped.malformed).toBe(1);
    expect(s.inbound.lastPeerAt).toEqual({ udp: null, raw: null });
  });

  it('counts a packet failing authentication; a source that keeps failing is dropped unverified, others are not',
    async () => {
      const s = setup();
      const forged = (): Buffer => encode(s.probe(P), FOREIGN_KEY);
      for (let i = 0; i < 20; i++) expect(s.inbound.handle(forged(), udp(P), LAN)).toBe(NOTHING);
      expect(s.counters.dropped['bad-auth']).toBe(20);
      expect(s.send(s.probe(P))).toBe(NOTHING); // a good packet, but its source is out of budget
      expect(s.counters.dropped['rate-limited']).toBe(1);
      expect(s.send(s.probe(Q))).toEqual({ trigger: [ip(UNDERLAY[Q]!)] }); // another source is verified
      await s.clock.advance(200); // 5 failures a second
      expect(s.send(s.probe(P))).toEqual({ trigger: [ip(UNDERLAY[P]!)] });
      expect(s.counters.dropped['bad-auth']).toBe(20);
    });

  it('counts another cluster\'s packet and remembers the cluster', () => {
    const s = setup();
    const theirs = encode({ ...s.announce(P), cluster: 'lab', cidr: parseCidr('100.64.0.0/16') as Cidr }, FOREIGN_KEY);
    expect(s.inbound.handle(theirs, udp(P), LAN)).toBe(NOTHING);
    expect(s.counters.dropped['other-cluster']).toBe(1);
    expect(s.foreign.list()).toEqual([expect.objectContaining({ name: 'lab', overlapping: true, from: '10.0.0.7' })]);
    expect(s.counters.foreignOverlaps).toBe(1);
  });

  it('drops a replayed older packet: it changes nothing, not even adjacency', async () => {
    const s = setup();
    s.admit(P);
    const old = s.announce(P, { underlayIp: ip('10.0.0.7') });
    const next = s.announce(P, { underlayIp: ip('10.0.0.70') });
    s.send(old);
    s.send(next);
    await s.clock.advance(2000);
    expect(s.send(old, l2(P))).toBe(NOTHING);
    expect(s.counters.dropped.replay).toBe(1);
    expect(s.peers.get(P)!.underlayIp).toBe(ip('10.0.0.70'));
    expect(s.membership.view().adjacent.has(P)).toBe(false);
  });

  it('drops a stranger\'s announcement and challenges it where it said it is; its echo admits it as a new peer', () => {
    const s = setup();
    expect(s.send(s.announce(P))).toBe(NOTHING);
    expect(s.counters.dropped.unconfirmed).toBe(1);
    expect(s.peers.get(P)).toBeUndefined();
    expect(s.challenges()).toEqual([
      { kind: 'challenge', target: P, overlayIp: ip('100.64.192.50'), nonce: nonce(1), to: ip('10.0.0.7') },
    ]);
    const a = s.send(s.announce(P, { echo: nonce(1) }));
    expect(a).toMatchObject({ trigger: [ip(UNDERLAY[P]!)], reprogram: 'routes', persist: true, family: true });
    expect(s.peers.get(P)).toBeDefined();
    expect(s.counters.receivedByType.announce).toBe(1);
    expect(s.counters.verifiedByKey).toEqual({ k1: 1 });
  });

  it('challenges a stranger at its signed address in our subnet (only it reads that), by broadcast one heard '
    + 'straight over raw L2 without such an address, a relayed one at its signed address', () => {
    const s = setup();
    s.send(s.announce(P), l2(P)); // 10.0.0.7: our subnet
    s.send(s.announce(R, { underlayIp: ip('10.1.0.9') }), l2(R)); // another subnet of our segment: not on-link yet
    s.send(s.announce(Q, { underlayIp: ip('10.9.0.5') }), { address: '10.0.0.99', port: 9477 });
    const asked = s.challenges().map((c) => c.kind === 'challenge' && [c.target, c.to]);
    expect(asked).toEqual([[P, ip('10.0.0.7')], [R, undefined], [Q, ip('10.9.0.5')]]);
  });

  it('never challenges over a stranger\'s forget, and acts on none', () => {
    const s = setup();
    s.admit(Q);
    expect(s.send(s.forget(P, { targetId: Q, targetClaimedAt: 1000 }))).toBe(NOTHING);
    expect(s.counters.dropped.unconfirmed).toBe(2); // Q's first announcement, and this forget
    expect(s.challenges()).toHaveLength(1);
    expect(s.peers.get(Q)).toBeDefined();
  });

  it('drops a peer running another CIDR or VNI, or claiming an address that is no host\'s, warning once a peer', () => {
    const s = setup();
    s.admit(P);
    const warns = (): number => s.lines.filter((l) => l.level === 'warn').length;
    const before = warns();
    expect(s.send(s.announce(P, { cidr: parseCidr('100.64.0.0/16') as Cidr }))).toBe(NOTHING);
    expect(s.send(s.announce(P, { cidr: parseCidr('100.64.0.0/16') as Cidr }))).toBe(NOTHING);
    expect(s.send(s.announce(P, { vni: 200 }))).toBe(NOTHING);
    expect(s.send(s.probe(P, { vni: 200 }))).toBe(NOTHING);
    expect(s.send(s.announce(P, { overlayIp: ip('100.64.192.1') }))).toBe(NOTHING); // the VIP
    expect(s.counters.dropped).toMatchObject({ 'cidr-mismatch': 2, 'vni-mismatch': 2, 'bad-address': 1 });
    expect(warns() - before).toBe(2);
    expect(s.peers.get(P)!.overlayIp).toBe(ip('100.64.192.50'));
  });
});

describe('our own node id', () => {
  it('ignores our own echo, silently', () => {
    const s = setup();
    const own = s.announce(SELF, { seq: FIRST_SEQ + 5 });
    expect(s.send(own, { address: '10.0.0.1', port: 9477 })).toBe(NOTHING);
    expect(s.counters.dropped.replay).toBe(0);
    expect(s.counters.duplicateNodeId).toBe(0);
    expect(s.inbound.lastPeerAt).toEqual({ udp: null, raw: null });
    expect(s.lines).toEqual([]);
  });

  it('counts a packet of ours from before this process started as a replay', () => {
    const s = setup();
    expect(s.send(s.announce(SELF, { seq: 10, sentAt: s.clock.now() - 60_000 }))).toBe(NOTHING);
    expect(s.counters.dropped.replay).toBe(1);
    expect(s.counters.duplicateNodeId).toBe(0);
  });

  it('raises the alarm over a packet with our id that we did not send, logged at most once a minute', async () => {
    const s = setup();
    const alarms = (): number => s.lines.filter((l) => l.code === 'E_DUPLICATE_NODE_ID').length;
    s.send(s.announce(SELF, { seq: LAST_SEQ + 1 }));
    s.send(s.announce(SELF, { seq: 10 })); // older than ours, but sent after we started
    expect(s.counters.duplicateNodeId).toBe(2);
    expect(alarms()).toBe(1);
    await s.clock.advance(60_000);
    s.send(s.announce(SELF, { seq: LAST_SEQ + 2 }));
    expect(alarms()).toBe(2);
    expect(s.counters.dropped.replay).toBe(0);
  });
});

describe('duplicates', () => {
  it('the second copy within a second is a duplicate; straight from its sender\'s NIC it proves adjacency', () => {
    const s = setup();
    s.admit(P);
    const msg = s.announce(P);
    expect(s.send(msg)).toMatchObject({ reprogram: undefined });
    expect(s.send(msg, l2(P))).toEqual({ reprogram: 'routes', persist: true, family: true });
    expect(s.send(msg)).toBe(NOTHING);
    expect(s.counters.duplicates).toBe(2);
    expect(s.counters.receivedByType.announce).toBe(2); // the echo and this one
    expect(s.inbound.lastPeerAt.raw).toBe(s.clock.now());
  });

  it('a later copy is a replay: dropped without another HMAC while its tag is remembered, it proves nothing',
    async () => {
    const s = setup();
    s.admit(P);
    const msg = s.announce(P);
    s.send(msg);
    await s.clock.advance(1001);
    expect(s.send(msg, l2(P))).toBe(NOTHING);
    expect(s.counters.dropped.replay).toBe(1);
    expect(s.counters.duplicates).toBe(0);
    expect(s.membership.view().adjacent.has(P)).toBe(false);
    await s.clock.advance(30_000); // forgotten: a copy is checked in full again
    expect(s.send(msg, l2(P))).toBe(NOTHING);
    expect(s.counters.dropped.replay + s.counters.duplicates).toBe(2);
  });

  it('a packet that only reuses a remembered tag is checked in full: a forgery, not a copy', () => {
    const s = setup();
    s.admit(P);
    const good = encode(s.announce(P), KEYS[0]!);
    s.inbound.handle(good, udp(P), LAN);
    const forged = Buffer.from(good);
    forged[20]! ^= 0x55; // a body byte: the tag stays
    expect(s.inbound.handle(forged, l2(P), LAN)).toBe(NOTHING);
    expect(s.counters.dropped['bad-auth']).toBe(1);
    expect(s.counters.duplicates).toBe(0);
  });

  it('a relayed frame (not from the sender\'s own NIC) proves no adjacency', () => {
    const s = setup();
    s.admit(P);
    expect(s.send(s.announce(P), l2(Q))).not.toHaveProperty('reprogram', 'routes');
    expect(s.membership.view().adjacent.has(P)).toBe(false);
    expect(s.send(s.announce(P), l2(P))).toMatchObject({ reprogram: 'routes' });
  });
});

describe('accepted announcements', () => {
  it('from a known peer that moved: the routes follow and the state is written; a refresh asks nothing', () => {
    const s = setup();
    s.admit(P);
    const moved = s.send(s.announce(P, { underlayIp: ip('10.0.0.70') }));
    expect(moved).toMatchObject({ reprogram: 'routes', persist: true });
    const same = s.send(s.announce(P, { underlayIp: ip('10.0.0.70') }));
    expect(same.reprogram).toBeUndefined();
    expect(same.persist).toBe(false);
    expect(same.send ?? []).toEqual([]);
    expect(same.trigger ?? false).toBe(false);
    expect(s.inbound.lastPeerAt.udp).toBe(s.clock.now());
  });

  it('a fresh one is answered (moved: it changed something)', () => {
    const s = setup();
    s.admit(P);
    expect(s.send(s.announce(P, { fresh: true })).answer).toEqual([{ peer: P, moved: false, to: ip('10.0.0.7') }]);
    const moved = s.send(s.announce(P, { fresh: true, underlayIp: ip('10.0.0.70') }));
    expect(moved.answer).toEqual([{ peer: P, moved: true, to: ip('10.0.0.70') }]); // where it is now
    expect(s.send(s.announce(P)).answer).toBeUndefined();
  });

  it('a weaker claim on our address is defended with an announcement of ours', () => {
    const s = setup();
    s.admit(P);
    const a = s.send(s.announce(P, { overlayIp: OURS, heldMs: 10 }));
    expect(a.send).toEqual([{ kind: 'announce' }]);
    expect(s.addressing.ip).toBe(OURS);
  });

  it('a stronger claim on our address is challenged first: we keep it until the echo comes', () => {
    const s = setup();
    s.admit(P);
    const a = s.send(s.announce(P, { overlayIp: OURS, heldMs: 10 * OUR_HELD_MS }));
    expect(a.send ?? []).toEqual([]);
    expect(s.addressing.ip).toBe(OURS);
    const c = s.challenges().at(-1)!;
    expect(c).toMatchObject({ kind: 'challenge', target: P, overlayIp: OURS, to: ip('10.0.0.7') });
    s.send(s.announce(P, { overlayIp: OURS, heldMs: 10 * OUR_HELD_MS, echo: c.kind === 'challenge' ? c.nonce : '' }));
    expect(s.addressing.ip).toBeUndefined();
    expect(s.emitted.at(-1)).toEqual({ reprogram: 'full' });
  });

  it('a forgotten claim is dropped and its holder told, at most every 5 s', async () => {
    const s = setup();
    s.admit(P);
    s.admit(Q, { overlayIp: ip('100.64.192.60'), claimedAt: 1000 });
    s.send(s.forget(P, { targetId: Q, targetClaimedAt: 1000 }));
    expect(s.peers.get(Q)).toBeUndefined();
    expect(s.send(s.announce(Q, { overlayIp: ip('100.64.192.60'), claimedAt: 1000 }))).toEqual({
      send: [{ kind: 'forget', target: Q, claimedAt: 1000, overlayIp: ip('100.64.192.60'), to: ip('10.0.0.8') }],
    });
    expect(s.send(s.announce(Q, { overlayIp: ip('100.64.192.60'), claimedAt: 1000 }))).toBe(NOTHING);
    expect(s.counters.dropped.forgotten).toBe(2);
    await s.clock.advance(5000);
    expect(s.send(s.announce(Q, { overlayIp: ip('100.64.192.60'), claimedAt: 1000 })).send).toHaveLength(1);
  });
});

describe('probes', () => {
  it('a probe for our address is answered with our announcement, to the prober', () => {
    const s = setup();
    const a = s.send(s.probe(P, { overlayIp: OURS }));
    expect(a.send).toEqual([{ kind: 'announce', to: ip('10.0.0.7') }]);
    expect(a.trigger).toEqual([ip('10.0.0.7')]); // a host we did not know: told about us there
  });

  it('a probe for a peer\'s address is answered with a defend on its behalf', async () => {
    const s = setup();
    s.admit(Q, { overlayIp: ip('100.64.192.60'), claimedAt: 1000, heldMs: 5000 });
    await s.clock.advance(3000);
    const a = s.send(s.probe(R, { overlayIp: ip('100.64.192.60') }));
    expect(a.send).toEqual([{
      kind: 'defend', target: R, to: ip('10.0.0.9'), overlayIp: ip('100.64.192.60'),
      holder: { id: Q, claimedAt: 1000, heldMs: 8000 },
    }]);
  });

  it('a probe for a free address from a known peer asks nothing', () => {
    const s = setup();
    s.admit(P);
    expect(s.send(s.probe(P))).toBe(NOTHING);
    expect(s.counters.receivedByType.probe).toBe(1);
  });
});

describe('challenges to us', () => {
  it('for our address: our announcement echoing the nonce, to the challenger\'s known address', () => {
    const s = setup();
    s.admit(P, { underlayIp: ip('10.0.0.70') });
    const a = s.send(s.challenge(P));
    expect(a).toEqual({ send: [{ kind: 'announce', to: ip('10.0.0.70'), echo: 'aabbccddeeff0011' }] });
  });

  it('from a host we do not know: to the packet\'s source; from a raw frame: by broadcast', () => {
    const s = setup();
    expect(s.send(s.challenge(R), { address: '10.0.0.99', port: 9477 }).send).toEqual([
      { kind: 'announce', to: ip('10.0.0.99'), echo: 'aabbccddeeff0011' },
    ]);
    expect(s.send(s.challenge(R), l2(R)).send).toEqual([{ kind: 'announce', to: undefined, echo: 'aabbccddeeff0011' }]);
  });

  it('for a peer\'s address: a defend on its behalf, echoing the nonce', () => {
    const s = setup();
    s.admit(Q, { overlayIp: ip('100.64.192.60'), claimedAt: 1000, heldMs: 5000 });
    const a = s.send(s.challenge(R, { overlayIp: ip('100.64.192.60') }));
    expect(a.send).toEqual([{
      kind: 'defend', target: R, to: ip('10.0.0.9'), overlayIp: ip('100.64.192.60'),
      holder: { id: Q, claimedAt: 1000, heldMs: 5000 },
      echo: 'aabbccddeeff0011',
    }]);
  });

  it('for an address nobody holds, or meant for another host: nothing', () => {
    const s = setup();
    expect(s.send(s.challenge(R, { overlayIp: ip('100.64.192.99') }))).toBe(NOTHING);
    expect(s.send(s.challenge(R, { targetId: P }))).toBe(NOTHING);
  });
});

describe('forgets', () => {
  it('of another host: it is dropped, the routes follow, the state is written', () => {
    const s = setup();
    s.admit(P);
    s.admit(Q, { overlayIp: ip('100.64.192.60'), claimedAt: 1000 });
    const a = s.send(s.forget(P, { targetId: Q, targetClaimedAt: 1000 }));
    expect(a).toEqual({ reprogram: 'routes', persist: true, family: true });
    expect(s.peers.get(Q)).toBeUndefined();
    expect(s.counters.receivedByType.forget).toBe(1);
  });

  it('of our claim: we give up the address; of an older claim of ours: nothing', () => {
    const s = setup();
    s.admit(P);
    expect(s.send(s.forget(P, { targetId: SELF, targetClaimedAt: OUR_CLAIMED_AT - 1 }))).toBe(NOTHING);
    expect(s.addressing.ip).toBe(OURS);
    expect(s.send(s.forget(P, { targetId: SELF, targetClaimedAt: OUR_CLAIMED_AT }))).toBe(NOTHING);
    expect(s.addressing.ip).toBeUndefined();
    expect(s.lines.some((l) => l.code === 'E_FORGOTTEN')).toBe(true);
  });
});

describe('defends', () => {
  it('a stronger holder\'s defend of our address is challenged before we move', () => {
    const s = setup();
    s.admit(P);
    const defend: Message = {
      cluster: 'edge', nodeId: P, seq: 999_999, sentAt: s.clock.now(), type: 'defend', overlayIp: OURS, holderId: Q,
      holderClaimedAt: 1, holderHeldMs: 10 * OUR_HELD_MS, targetId: SELF,
    };
    expect(s.send(defend)).toBe(NOTHING);
    expect(s.challenges().at(-1)).toMatchObject({ target: P, overlayIp: OURS });
    expect(s.addressing.ip).toBe(OURS);
  });
});

describe('robustness', () => {
  it('never throws: a failure handling a packet is counted as malformed and logged', () => {
    const s = setup();
    s.admit(P);
    vi.spyOn(s.membership, 'onAnnounce').mockImplementation(() => { throw new Error('boom'); });
    expect(s.send(s.announce(P))).toBe(NOTHING);
    expect(s.counters.dropped.malformed).toBe(1);
    expect(s.lines.at(-1)).toMatchObject({ level: 'error', err: 'boom', from: '10.0.0.7' });
  });
});
