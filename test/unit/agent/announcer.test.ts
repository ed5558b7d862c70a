// Unit: agent/messages/announcer.ts: when we announce (period, bursts, triggers, answers to fresh peers, fresh marks).
import { describe, expect, it, vi } from 'vitest';
import { Announcer, type ClaimView } from '../../../src/agent/messages/announcer.js';
import { Sender, type OwnClaim } from '../../../src/agent/messages/sender.js';
import { Seeds } from '../../../src/agent/membership/seeds.js';
import { Counters } from '../../../src/agent/records/counters.js';
import { DEFAULT_TIMINGS } from '../../../src/agent/config.js';
import { PeerTable } from '../../../src/peers/table.js';
import { parseIpv4, type Cidr, type Ipv4 } from '../../../src/net/ipv4.js';
import { parseKeyText } from '../../../src/wire/keyfile.js';
import { FakeClock } from '../../fakes/clock.js';
import { FakeLan, type FakeTransport } from '../../fakes/network.js';

const ip = (s: string): number => parseIpv4(s)!;
const cidr: Cidr = { network: ip('100.64.192.0'), prefix: 24 };
const P = 'a'.repeat(32);
const Q = 'b'.repeat(32);
const AT_P = ip('10.0.0.7');
const AT_Q = ip('10.0.0.8');

interface Sent {
  at: number;
  claim: OwnClaim;
  to: Ipv4 | undefined;
  echo: string | undefined;
  fresh: boolean;
}

interface Setup {
  a: Announcer;
  clock: FakeClock;
  claim: { -readonly [K in keyof ClaimView]: ClaimView[K] };
  transport: FakeTransport;
  sent: Sent[];
  /** times (ms since the start) of every announcement */
  times: () => number[];
}

function setup(random = 0.5): Setup {
  const clock = new FakeClock();
  const transport = new FakeLan(clock).join();
  transport.setSource('10.0.0.1');
  let seq = 0;
  const sender = new Sender({
    identity: { cluster: 'edge', nodeId: 'e'.repeat(32), cidr, vni: 100, mac: '02:ee:ee:ee:ee:ee' }, transport, clock,
    counters: new Counters(), peers: new PeerTable(20_000), nextSeq: () => ++seq, discoveryPort: 9477,
    keys: parseKeyText('1'.repeat(64), 'k'), seeds: new Seeds([]),
  });
  const start = clock.monotonic();
  const sent: Sent[] = [];
  const real = sender.announce.bind(sender);
  vi.spyOn(sender, 'announce').mockImplementation((claim, opts) => {
    sent.push({ at: clock.monotonic() - start, claim, to: opts.to, echo: opts.echo, fresh: opts.fresh });
    real(claim, opts);
  });
  const claim: Setup['claim'] = { ip: ip('100.64.192.9'), claimedAt: 1234, heldMs: 500, isPinned: false };
  const a = new Announcer({ clock, sender, claim, timings: DEFAULT_TIMINGS, random: () => random });
  return { a, clock, claim, transport, sent, times: () => sent.map((s) => s.at) };
}

describe('periodic announcements', () => {
  it('come every announce interval, jittered by up to 10 %', async () => {
    for (const [random, period] of [[0.5, 5000], [0, 4500], [0.9999999, 5500]] as const) {
      const s = setup(random);
      s.a.start();
      await s.clock.advance(period - 1);
      expect(s.sent).toEqual([]);
      await s.clock.advance(1);
      await s.clock.advance(period);
      expect(s.times()).toEqual([period, 2 * period]);
    }
  });

  it('carry our claim as it is at the time', async () => {
    const s = setup();
    s.a.start();
    await s.clock.advance(5000);
    s.claim.heldMs = 5500;
    s.claim.isPinned = true;
    await s.clock.advance(5000);
    expect(s.sent.map((x) => x.claim)).toEqual([
      { ip: ip('100.64.192.9'), claimedAt: 1234, heldMs: 500, pinned: false },
      { ip: ip('100.64.192.9'), claimedAt: 1234, heldMs: 5500, pinned: true },
    ]);
    expect(s.sent.every((x) => x.to === undefined && x.echo === undefined)).toBe(true);
  });

  it('are skipped while we hold no claim, and resume with one', async () => {
    const s = setup();
    s.claim.ip = undefined;
    s.a.start();
    await s.clock.advance(10_000);
    expect(s.sent).toEqual([]);
    s.claim.ip = ip('100.64.192.9');
    s.claim.claimedAt = undefined; // half a claim is none
    await s.clock.advance(5000);
    expect(s.sent).toEqual([]);
    s.claim.claimedAt = 1234;
    await s.clock.advance(5000);
    expect(s.times()).toEqual([20_000]);
  });

  it('send nothing while the host cannot send', async () => {
    const s = setup();
    s.transport.setSource(undefined);
    s.a.start();
    await s.clock.advance(5000);
    expect(s.sent).toEqual([]);
    expect(s.transport.sent).toBe(0);
  });

  it('stop with stop(), with every other timer', async () => {
    const s = setup();
    s.a.start();
    s.a.burst();
    s.a.trigger(0);
    expect(s.clock.pending).toBeGreaterThan(0);
    s.a.stop();
    expect(s.clock.pending).toBe(0);
    await s.clock.advance(20_000);
    expect(s.times()).toEqual([0]); // the burst's first, sent at once
  });
});

describe('bursts', () => {
  it('announce now and again after each burst repeat', async () => {
    const s = setup();
    s.a.burst();
    expect(s.times()).toEqual([0]);
    await s.clock.advance(1000);
    expect(s.times()).toEqual([0, ...DEFAULT_TIMINGS.burstRepeatsMs]);
  });

  it('a new burst cancels the old one\'s repeats', async () => {
    const s = setup();
    s.a.burst();
    await s.clock.advance(50);
    s.a.burst();
    await s.clock.advance(1000);
    expect(s.times()).toEqual([0, 50, 150, 450]);
  });
});

describe('triggers', () => {
  it('announce once, 20 ms later, however many ask', async () => {
    const s = setup();
    s.a.trigger(0);
    await s.clock.advance(10);
    s.a.trigger(0);
    s.a.trigger(0);
    await s.clock.advance(1000);
    expect(s.times()).toEqual([20]);
    s.a.trigger(0);
    await s.clock.advance(1000);
    expect(s.times()).toEqual([20, 1030]);
  });
});

describe('where triggered announcements go', () => {
  it('by unicast to each host that asked (the others know us), together', async () => {
    const s = setup();
    s.a.trigger(AT_P);
    s.a.answerFresh(Q, false, AT_Q);
    s.a.trigger(AT_P);
    await s.clock.advance(1000);
    expect(s.sent.map((x) => [x.at, x.to])).toEqual([[20, AT_P], [20, AT_Q]]);
  });

  it('as one broadcast for the hosts without an address (raw L2 only), by unicast to the others however many',
    async () => {
    const s = setup();
    s.a.trigger(AT_P);
    s.a.trigger(0);
    s.a.trigger(0);
    await s.clock.advance(1000);
    expect(s.sent.map((x) => x.to)).toEqual([undefined, AT_P]);
    for (let i = 1; i <= 40; i++) s.a.trigger(ip(`10.0.1.${i}`));
    await s.clock.advance(1000);
    expect(s.sent.slice(2).map((x) => x.to)).toEqual(Array.from({ length: 40 }, (_, i) => ip(`10.0.1.${i + 1}`)));
  });
});

describe('answers to fresh peers', () => {
  it('come 100-200 ms later', async () => {
    for (const [random, delay] of [[0, 100], [0.5, 150], [0.99, 199]] as const) {
      const s = setup(random);
      s.a.answerFresh(P, false, AT_P);
      await s.clock.advance(1000);
      expect(s.times()).toEqual([delay]);
    }
  });

  it('come once per peer per episode, again once it is over', async () => {
    const s = setup();
    s.a.answerFresh(P, false, AT_P);
    await s.clock.advance(1000);
    s.a.answerFresh(P, false, AT_P);
    await s.clock.advance(1000);
    expect(s.times()).toEqual([150]);
    s.a.answerFresh(P, false, AT_P); // 2 s after it was asked the first time: still the same episode
    await s.clock.advance(1);
    s.a.answerFresh(P, false, AT_P); // a new episode
    await s.clock.advance(1000);
    expect(s.times()).toEqual([150, 2151]);
  });

  it('come again within an episode when the peer moved, or when we did (markFresh)', async () => {
    const s = setup();
    s.a.answerFresh(P, false, AT_P);
    await s.clock.advance(500);
    s.a.answerFresh(P, true, AT_P);
    await s.clock.advance(500);
    expect(s.times()).toEqual([150, 650]);
    s.a.markFresh();
    s.a.answerFresh(P, false, AT_P);
    await s.clock.advance(500);
    expect(s.times()).toEqual([150, 650, 1150]);
  });

  it('are per peer, and share one pending moment', async () => {
    const s = setup();
    s.a.answerFresh(P, false, AT_P);
    s.a.answerFresh(Q, false, AT_Q);
    s.a.trigger(0);
    await s.clock.advance(1000);
    expect(s.sent.map((x) => [x.at, x.to])).toEqual([[150, undefined], [150, AT_P], [150, AT_Q]]);
    s.a.answerFresh(Q, false, AT_Q); // already answered in this episode
    await s.clock.advance(500);
    expect(s.times()).toEqual([150, 150, 150]);
  });
});

describe('fresh marking', () => {
  it('our announcements are fresh for 2 s from the first one', async () => {
    const s = setup();
    await s.clock.advance(10_000); // time before the first announcement does not count
    s.a.announce();
    await s.clock.advance(1999);
    s.a.announce();
    await s.clock.advance(1);
    s.a.announce();
    expect(s.sent.map((x) => x.fresh)).toEqual([true, true, false]);
  });

  it('and for 2 s after markFresh()', async () => {
    const s = setup();
    s.a.announce();
    await s.clock.advance(5000);
    s.a.markFresh();
    s.a.announce();
    await s.clock.advance(1999);
    s.a.announce();
    await s.clock.advance(1);
    s.a.announce();
    expect(s.sent.map((x) => x.fresh)).toEqual([true, true, true, false]);
  });

  it('an announcement that could not be sent does not start the fresh window', async () => {
    const s = setup();
    s.claim.ip = undefined;
    s.a.announce();
    await s.clock.advance(5000);
    s.claim.ip = ip('100.64.192.9');
    s.a.announce();
    expect(s.sent.map((x) => x.fresh)).toEqual([true]);
  });
});

describe('announce()', () => {
  it('answers one host, echoing a challenge\'s nonce; a missing held time is 0', () => {
    const s = setup();
    s.claim.heldMs = undefined;
    s.a.announce(ip('10.0.0.7'), '0011223344556677');
    expect(s.sent).toEqual([{ at: 0, claim: { ip: ip('100.64.192.9'), claimedAt: 1234, heldMs: 0, pinned: false },
      to: ip('10.0.0.7'), echo: '0011223344556677', fresh: true }]);
    expect(s.transport.sent).toBe(1);
  });
});
