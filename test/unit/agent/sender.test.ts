// Unit: agent/messages/sender.ts: what our signed messages say, where they go, nothing when we cannot send, counters.
import { describe, expect, it, vi } from 'vitest';
import { Sender, type FamilyView, type OwnClaim } from '../../../src/agent/messages/sender.js';
import { Seeds } from '../../../src/agent/membership/seeds.js';
import { Counters } from '../../../src/agent/records/counters.js';
import { PeerTable } from '../../../src/peers/table.js';
import { parseIpv4, type Cidr } from '../../../src/net/ipv4.js';
import { parseIpv6 } from '../../../src/net/ipv6.js';
import { decode, type AnnounceMsg, type Message } from '../../../src/wire/codec.js';
import { parseKeyText, type Keyring } from '../../../src/wire/keyfile.js';
import type { Endpoint } from '../../../src/discovery/transport.js';
import { FakeClock } from '../../fakes/clock.js';
import { FakeLan, type FakeTransport } from '../../fakes/network.js';
import { announceMsg, LAN } from '../../fakes/agent.js';

const ip = (s: string): number => parseIpv4(s)!;
const cidr: Cidr = { network: ip('100.64.192.0'), prefix: 24 };
const SELF = 'e'.repeat(32);
const P = 'a'.repeat(32);
const BRIDGE_MAC = '02:ee:ee:ee:ee:ee';
const KEYS: Keyring = parseKeyText(`k1:${'1'.repeat(64)}\nk2:${'2'.repeat(64)}`, 'keys');
const THEIRS = ip('100.64.192.50');
const NONCE = '0123456789abcdef';
const CLAIM: OwnClaim = { ip: ip('100.64.192.9'), claimedAt: 1234, heldMs: 5000.4, pinned: false };

interface Setup {
  sender: Sender;
  transport: FakeTransport;
  clock: FakeClock;
  counters: Counters;
  peers: PeerTable;
  seeds: Seeds;
  /** what left, in order: broadcast (to undefined) or unicast to an endpoint */
  out: { to: Endpoint | undefined; msg: Message; packet: Buffer }[];
}

function setup(seedList: Endpoint[] = []): Setup {
  const clock = new FakeClock();
  const transport = new FakeLan(clock).join();
  transport.setSource('10.0.0.1');
  const counters = new Counters();
  const peers = new PeerTable(20_000);
  const seeds = new Seeds(seedList, async () => []);
  let seq = 100;
  const sender = new Sender({
    identity: { cluster: 'edge', nodeId: SELF, cidr, vni: 100, mac: BRIDGE_MAC }, transport, clock, counters, peers,
    nextSeq: () => ++seq, discoveryPort: 9477, keys: KEYS, seeds,
  });
  const out: Setup['out'] = [];
  const read = (packet: Buffer): Message => {
    const r = decode(packet, 'edge', KEYS);
    if (!r.ok) throw new Error(`undecodable packet: ${r.reason}`);
    return r.msg;
  };
  const record = (packet: Buffer, to: Endpoint | undefined): void => { out.push({ to, msg: read(packet), packet }); };
  vi.spyOn(transport, 'broadcast').mockImplementation((packet) => record(packet, undefined));
  vi.spyOn(transport, 'unicast').mockImplementation(record);
  return { sender, transport, clock, counters, peers, seeds, out };
}

function peer(s: Setup, id: string, underlay: string): void {
  s.peers.observe(announceMsg({ nodeId: id, overlayIp: THEIRS, underlayIp: ip(underlay) }), 0, 0);
}
const to = (address: string, port = 9477): Endpoint => ({ address, port });

describe('announce', () => {
  it('states our claim, identity, underlay as last set, sequence number and send time', () => {
    const s = setup();
    s.sender.setUnderlay(LAN);
    s.sender.announce(CLAIM, { fresh: false });
    expect(s.out).toHaveLength(1);
    expect(s.out[0]!.to).toBeUndefined();
    expect(s.out[0]!.msg).toEqual({
      type: 'announce', cluster: 'edge', nodeId: SELF, seq: 101, sentAt: s.clock.now(), overlayIp: ip('100.64.192.9'),
      underlayIp: ip('10.0.0.1'), mac: BRIDGE_MAC, claimedAt: 1234, heldMs: 5000, cidr, vni: 100,
      physMac: '52:54:00:00:00:01', caps: 0,
    });
  });

  it('before the underlay was read: no underlay address, no physical MAC', () => {
    const s = setup();
    s.sender.announce(CLAIM, { fresh: false });
    const msg = s.out[0]!.msg as AnnounceMsg;
    expect(msg.underlayIp).toBe(0);
    expect(msg.physMac).toBeUndefined();
  });

  it('carries pinned, fresh, the echo, and the family view as last set', () => {
    const s = setup();
    s.sender.setUnderlay(LAN);
    const family: FamilyView = { linkLocal: parseIpv6('fe80::5054:ff:fe00:1'), caps: 1, ready: true };
    s.sender.setFamily(family);
    s.sender.announce({ ...CLAIM, pinned: true }, { fresh: true, echo: '00112233aabbccdd' });
    expect(s.out[0]!.msg).toMatchObject({
      pinned: true, fresh: true, echo: '00112233aabbccdd', linkLocal: 'fe80::5054:ff:fe00:1', caps: 1, llReady: true,
    });
    s.sender.setFamily({ linkLocal: undefined, caps: 0, ready: false });
    s.sender.announce(CLAIM, { fresh: false });
    const msg = s.out[1]!.msg as AnnounceMsg;
    for (const k of ['pinned', 'fresh', 'echo', 'linkLocal', 'llReady'] as const) expect(msg[k]).toBeUndefined();
  });

  it('is signed with the first key of the keyring; setKeys() changes it for the next message', () => {
    const s = setup();
    s.sender.announce(CLAIM, { fresh: false });
    expect(decode(s.out[0]!.packet, 'edge', [KEYS[0]!]).ok).toBe(true);
    expect(decode(s.out[0]!.packet, 'edge', [KEYS[1]!]).ok).toBe(false);
    const next = [KEYS[1]!, KEYS[0]!];
    s.sender.setKeys(next);
    expect(s.sender.keys).toBe(next);
    s.sender.announce(CLAIM, { fresh: false });
    expect(decode(s.out[1]!.packet, 'edge', [KEYS[1]!]).ok).toBe(true);
  });

  it('broadcasts, with unicast copies to the seeds and to the peers beyond our LAN (each once)', () => {
    const s = setup([to('192.0.2.1'), to('seed.example', 9000), to('10.9.0.1')]);
    s.sender.setUnderlay(LAN);
    peer(s, 'a'.repeat(32), '10.0.0.7'); // on our LAN: hears the broadcast
    peer(s, 'b'.repeat(32), '10.9.0.1'); // beyond, and a seed as well
    peer(s, 'c'.repeat(32), '172.16.0.3'); // beyond
    s.sender.announce(CLAIM, { fresh: false });
    expect(s.out[0]!.to).toBeUndefined();
    expect(s.out.slice(1).map((o) => o.to)).toEqual(expect.arrayContaining([
      to('192.0.2.1'), to('seed.example', 9000), to('10.9.0.1'), to('172.16.0.3'),
    ]));
    expect(s.out).toHaveLength(5);
    expect(new Set(s.out.map((o) => o.packet.toString('hex'))).size).toBe(1); // one message, one sequence number
    expect(s.counters.sentByType.announce).toBe(1);
  });

  it('a reply goes by unicast to the host alone; to 0 or to nobody is a broadcast', () => {
    const s = setup([to('192.0.2.1')]);
    s.sender.announce(CLAIM, { fresh: false, to: ip('10.0.0.7') });
    expect(s.out.map((o) => o.to)).toEqual([to('10.0.0.7')]);
    s.out.length = 0;
    s.sender.announce(CLAIM, { fresh: false, to: 0 });
    expect(s.out.map((o) => o.to)).toEqual([undefined, to('192.0.2.1')]);
    s.out.length = 0;
    s.sender.announce(CLAIM, { fresh: false, to: undefined });
    expect(s.out.map((o) => o.to)).toEqual([undefined, to('192.0.2.1')]);
  });
});

describe('probe', () => {
  it('names the candidate, when probing started, and our underlay; held time 0', () => {
    const s = setup();
    s.sender.setUnderlay(LAN);
    expect(s.sender.probe(ip('100.64.192.77'), 4321)).toBe(true);
    expect(s.out[0]!.to).toBeUndefined();
    expect(s.out[0]!.msg).toMatchObject({
      type: 'probe', nodeId: SELF, overlayIp: ip('100.64.192.77'), claimedAt: 4321, heldMs: 0,
      underlayIp: ip('10.0.0.1'), physMac: '52:54:00:00:00:01', mac: BRIDGE_MAC, cidr, vni: 100,
    });
    expect(s.counters.sentByType.probe).toBe(1);
  });
});

describe('dispatch', () => {
  it('a defend states the holder\'s claim to the target, by unicast when its address is known', () => {
    const s = setup([to('192.0.2.1')]);
    const holder = { id: P, claimedAt: 77, heldMs: 1234.6 };
    const target = 'c'.repeat(32);
    const echo = 'aabbccddeeff0011';
    s.sender.dispatch({ kind: 'defend', target, to: ip('10.0.0.8'), overlayIp: THEIRS, holder, echo });
    expect(s.out).toHaveLength(1);
    expect(s.out[0]!.to).toEqual(to('10.0.0.8'));
    expect(s.out[0]!.msg).toMatchObject({
      type: 'defend', nodeId: SELF, overlayIp: THEIRS, holderId: P, holderClaimedAt: 77, holderHeldMs: 1235,
      targetId: target, echo,
    });
    s.sender.dispatch({ kind: 'defend', target, to: undefined, overlayIp: THEIRS, holder });
    expect(s.out.slice(1).map((o) => o.to)).toEqual([undefined, to('192.0.2.1')]);
    expect(s.counters.sentByType.defend).toBe(2);
  });

  it('a challenge carries the nonce, to the target\'s address or by broadcast', () => {
    const s = setup();
    s.sender.dispatch({ kind: 'challenge', target: P, overlayIp: CLAIM.ip, nonce: NONCE, to: ip('10.0.0.7') });
    expect(s.out[0]!.to).toEqual(to('10.0.0.7'));
    expect(s.out[0]!.msg).toMatchObject({ type: 'challenge', targetId: P, overlayIp: CLAIM.ip, nonce: NONCE });
    s.sender.dispatch({ kind: 'challenge', target: P, overlayIp: CLAIM.ip, nonce: NONCE, to: undefined });
    expect(s.out[1]!.to).toBeUndefined();
    expect(s.counters.sentByType.challenge).toBe(2);
  });

  it('a forget names the released claim; broadcast unless it is addressed', () => {
    const s = setup();
    s.sender.dispatch({ kind: 'forget', target: P, claimedAt: 555, overlayIp: THEIRS });
    expect(s.out[0]!.to).toBeUndefined();
    expect(s.out[0]!.msg).toMatchObject({ type: 'forget', targetId: P, targetClaimedAt: 555, overlayIp: THEIRS });
    s.sender.dispatch({ kind: 'forget', target: P, claimedAt: 555, overlayIp: THEIRS, to: ip('10.0.0.7') });
    expect(s.out[1]!.to).toEqual(to('10.0.0.7'));
    expect(s.counters.sentByType.forget).toBe(2);
  });

  // A host without IPv4 (raw L2 only) announces underlay 0, and the only way to reach it is a broadcast: a challenge
  // to it (a conflict to confirm) or a forget to it (its claim was released) must not go to 0.0.0.0.
  it('a challenge or a forget to 0 (a host without IPv4) is a broadcast, like every other reply', () => {
    const s = setup();
    s.sender.dispatch({ kind: 'challenge', target: P, overlayIp: CLAIM.ip, nonce: NONCE, to: 0 });
    s.sender.dispatch({ kind: 'forget', target: P, claimedAt: 555, overlayIp: THEIRS, to: 0 });
    expect(s.out.map((o) => o.to)).toEqual([undefined, undefined]);
  });

  it('a relayed packet is forwarded as received, to one host or broadcast on our LAN only; counted as relayed', () => {
    const s = setup([to('192.0.2.1')]);
    s.sender.setUnderlay(LAN);
    peer(s, P, '172.16.0.3');
    const other = setup();
    other.sender.announce(CLAIM, { fresh: false });
    const packet = other.out[0]!.packet;
    s.sender.dispatch({ kind: 'relay', packet, to: ip('10.9.0.5') });
    s.sender.dispatch({ kind: 'relay', packet });
    expect(s.out.map((o) => o.to)).toEqual([to('10.9.0.5'), undefined]); // no copies to seeds or remote peers
    expect(s.out.every((o) => o.packet.equals(packet))).toBe(true);
    expect(s.counters.relayed).toBe(2);
    expect(s.counters.sentByType.announce).toBe(0);
  });
});

describe('when nothing can be sent', () => {
  it('sends nothing, counts nothing and uses no sequence number while the transport cannot broadcast', () => {
    const s = setup([to('192.0.2.1')]);
    s.transport.setSource(undefined);
    expect(s.sender.canSend()).toBe(false);
    s.sender.announce(CLAIM, { fresh: false });
    expect(s.sender.probe(ip('100.64.192.77'), 1)).toBe(false);
    const holder = { id: P, claimedAt: 1, heldMs: 1 };
    s.sender.dispatch({ kind: 'defend', target: P, to: ip('10.0.0.7'), overlayIp: 1, holder });
    s.sender.dispatch({ kind: 'challenge', target: P, overlayIp: 1, nonce: NONCE, to: ip('10.0.0.7') });
    s.sender.dispatch({ kind: 'forget', target: P, claimedAt: 1, overlayIp: 1 });
    expect(s.out).toEqual([]);
    expect(Object.values(s.counters.sentByType).every((n) => n === 0)).toBe(true);
    s.transport.setSource('10.0.0.1');
    s.sender.announce(CLAIM, { fresh: false });
    expect(s.out[0]!.msg.seq).toBe(101);
  });

  it('sends nothing after stop()', () => {
    const s = setup();
    s.sender.stop();
    expect(s.sender.canSend()).toBe(false);
    s.sender.announce(CLAIM, { fresh: false });
    expect(s.sender.probe(ip('100.64.192.77'), 1)).toBe(false);
    expect(s.out).toEqual([]);
  });
});
