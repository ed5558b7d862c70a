// Unit: the rules that keep strangers without the key and replays out:
// per-sender floors, first-contact admission by challenge, the send-time
// slack, the failure budget checked before any HMAC, and text made safe for
// terminals.
import { describe, expect, it } from 'vitest';
import { Floors, LATE_SLACK_MS, WINDOW } from '../../src/peers/floors.js';
import { Admission, CHALLENGE_RETRIES_MS, SENT_AT_SLACK_MS } from '../../src/agent/trust/admission.js';
import { AuthGate } from '../../src/agent/trust/gate.js';
import { KeyedBuckets, TokenBucket } from '../../src/util/ratelimit.js';
import { printable } from '../../src/util/text.js';
import type { AnnounceMsg, ForgetMsg } from '../../src/wire/codec.js';
import { FakeClock } from '../fakes/clock.js';
import { captureLog } from '../fakes/log.js';

const A = 'a'.repeat(32);
const announce = (seq: number, sentAt: number, echo?: string): AnnounceMsg => ({
  type: 'announce', cluster: 'c', nodeId: A, seq, sentAt, overlayIp: 7, underlayIp: 9, mac: '02:00:00:00:00:01',
  claimedAt: 1, heldMs: 1,
  cidr: { network: 0, prefix: 24 }, vni: 100, ...(echo ? { echo } : {}),
});

function admission(): {
  a: Admission; floors: Floors; sent: { id: string; nonce: string; to: number | undefined }[]; clock: FakeClock;
} {
  const clock = new FakeClock();
  const floors = new Floors(4);
  const sent: { id: string; nonce: string; to: number | undefined }[] = [];
  let n = 0;
  const a = new Admission({
    clock, log: captureLog().log, floors, nonce: () => `n${++n}`,
    emit: (actions) => {
      for (const o of actions.send ?? []) {
        if (o.kind === 'challenge') sent.push({ id: o.target, nonce: o.nonce, to: o.to });
      }
    },
  });
  return { a, floors, sent, clock };
}

describe('floors', () => {
  it('accept only newer sequence numbers, remember the newest send time, and stay bounded (least recently heard go)',
    () => {
    const f = new Floors(2);
    expect(f.check(A, 5, 100)).toBe('new');
    expect(f.check(A, 5, 100)).toBe('duplicate');
    expect(f.check(A, 5 - WINDOW - 1, 999)).toBe('old');
    expect(f.get(A)).toMatchObject({ seq: 5, sentAt: 100, admitted: false });
    f.check('b', 1);
    f.check('c', 1); // A is the least recently heard
    expect(f.get(A)).toBeUndefined();
    const g = new Floors();
    g.load(f.toPersisted());
    expect(g.check('b', 1)).toBe('duplicate');
  });

  it('accept a message overtaken by a newer one (within the window, once, sent shortly before), nothing else', () => {
    const f = new Floors();
    expect(f.check(A, 100, 10_000)).toBe('new');
    expect(f.check(A, 102, 10_010)).toBe('new');
    expect(f.check(A, 101, 10_005)).toBe('late'); // a unicast answer after the next broadcast
    expect(f.check(A, 101, 10_005)).toBe('old'); // again: a replay
    expect(f.check(A, 100, 10_000)).toBe('old'); // accepted before the window moved
    expect(f.check(A, 102 - WINDOW, 10_000)).toBe('late');
    expect(f.check(A, 102 - WINDOW - 1, 10_000)).toBe('old'); // below the window
    expect(f.check(A, 99, 10_010 - LATE_SLACK_MS - 1)).toBe('old'); // sent too long before the newest
    expect(f.check(A, 200, 11_000)).toBe('new'); // the window moves past everything
    expect(f.check(A, 101, 10_999)).toBe('old');
    expect(f.get(A)!.seq).toBe(200); // the floor is the newest
    const g = new Floors();
    g.load(f.toPersisted());
    expect(g.check(A, 199, 11_000)).toBe('old'); // the window is not persisted: after a restart, nothing older
  });
});

describe('first contact', () => {
  it('drops a stranger\'s announcement and challenges it; admits it when it echoes the nonce', async () => {
    const { a, floors, sent } = admission();
    floors.check(A, 1, 0);
    expect(a.check(announce(1, 0), 9)).toBe('unconfirmed');
    expect(sent).toEqual([{ id: A, nonce: 'n1', to: 9 }]);
    expect(a.check(announce(2, 0), 9)).toBe('unconfirmed'); // within a second: no second challenge
    expect(sent).toHaveLength(1);
    expect(a.check(announce(3, 0, 'wrong'), 9)).toBe('unconfirmed');
    expect(a.check(announce(4, 50, 'n1'), 9)).toBe('admitted');
    expect(floors.admitted(A)).toBe(true);
    expect(a.check(announce(5, 60), 9)).toBe('admitted');
  });

  it('asks again, backing off, while a challenge goes unanswered, then counts it as an unconfirmed claim', async () => {
    const { a, clock, sent } = admission();
    a.check(announce(1, 0), 9);
    const at = [0];
    let t = 0;
    for (const ms of CHALLENGE_RETRIES_MS) {
      await clock.advance(ms);
      t += ms;
      at.push(t);
      expect(sent).toHaveLength(at.length); // the same nonce, by itself
    }
    expect(sent.every((x) => x.nonce === 'n1' && x.to === 9)).toBe(true);
    expect(a.unconfirmed).toBe(0);
    await clock.advance(1000);
    expect(a.unconfirmed).toBe(1);
    expect(sent).toHaveLength(CHALLENGE_RETRIES_MS.length + 1); // no more
  });

  it('a lost challenge (or answer) costs a quarter of a second, not an announce period: the repeat is answered',
    async () => {
    const { a, clock, sent, floors } = admission();
    a.check(announce(1, 0), 9); // this challenge is lost
    await clock.advance(CHALLENGE_RETRIES_MS[0]!);
    expect(CHALLENGE_RETRIES_MS[0]).toBeLessThanOrEqual(250);
    expect(sent.map((x) => x.nonce)).toEqual(['n1', 'n1']);
    expect(a.check(announce(2, 250, 'n1'), 9)).toBe('admitted');
    expect(floors.admitted(A)).toBe(true);
    await clock.advance(5000);
    expect(a.unconfirmed).toBe(0);
    expect(sent).toHaveLength(2); // answered: no more
  });

  it('never challenges over a forget (a stranger\'s forget waits for its announcement)', () => {
    const { a, sent } = admission();
    const forget: ForgetMsg = { type: 'forget', cluster: 'c', nodeId: A, seq: 1, sentAt: 0, overlayIp: 7,
      targetId: 'b'.repeat(32), targetClaimedAt: 1 };
    expect(a.check(forget, 9)).toBe('unconfirmed');
    expect(sent).toEqual([]);
  });

  it('suspends a peer whose announcement is far older than its newest one, until it answers again', () => {
    const { a, floors, sent } = admission();
    const now = Date.UTC(2026, 0, 1);
    floors.check(A, 10, now);
    floors.admit(A, now);
    expect(a.check(announce(11, now - SENT_AT_SLACK_MS + 1), 9)).toBe('admitted'); // within the slack
    // a replay, or a clock stepped back
    expect(a.check(announce(12, now - SENT_AT_SLACK_MS - 1), 9)).toBe('unconfirmed');
    expect(floors.admitted(A)).toBe(false);
    const nonce = sent.at(-1)!.nonce;
    // its clock really went back: it answered
    expect(a.check(announce(13, now - 5 * 3600_000, nonce), 9)).toBe('admitted');
    expect(a.check(announce(14, now - 5 * 3600_000), 9)).toBe('admitted');
  });
});

describe('failure budget before any HMAC', () => {
  it('holds back one source after its burst, refills slowly, and leaves other sources alone', async () => {
    const clock = new FakeClock();
    const g = new AuthGate(clock);
    let verified = 0;
    for (let i = 0; i < 1000; i++) if (g.allow('10.0.0.66')) { verified++; g.failed('10.0.0.66'); }
    expect(verified).toBe(20);
    expect(g.allow('10.0.0.7')).toBe(true);
    await clock.advance(1000);
    expect(g.allow('10.0.0.66')).toBe(true); // 5 more a second
  });

  it('caps failures from many random sources together, but a source that authenticated before is still verified',
    () => {
    const g = new AuthGate(new FakeClock());
    g.passed('10.0.0.7'); // a peer
    let verified = 0;
    for (let i = 0; i < 5000; i++) {
      const src = `10.9.${i >> 8}.${i & 255}`;
      if (g.allow(src)) { verified++; g.failed(src); }
    }
    expect(verified).toBe(400); // the strangers' burst
    expect(g.allow('10.0.0.7')).toBe(true);
  });

  it('token buckets refill on the monotonic clock; keyed buckets are bounded', () => {
    const b = new TokenBucket(2, 2, 0);
    expect([b.take(0), b.take(0), b.take(0)]).toEqual([true, true, false]);
    expect(b.take(499)).toBe(false);
    expect(b.take(500)).toBe(true);
    const k = new KeyedBuckets(1, 1, 3);
    for (const key of ['a', 'b', 'c', 'd']) k.take(key, 0);
    expect(k.size).toBe(3);
    expect(k.has('a', 0)).toBe(true); // forgotten: a fresh bucket
  });
});

describe('text from the network', () => {
  it('escapes control characters and bidirectional overrides', () => {
    expect(printable('ok-name')).toBe('ok-name');
    expect(printable('x\u001b[2J\u0007y')).toBe('x\\x1b[2J\\x07y');
    expect(printable('a\u202eb\u0085')).toBe('a\\u{202e}b\\x85');
  });
});
