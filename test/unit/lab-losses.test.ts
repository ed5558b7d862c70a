// Unit (the lab's measurement): lossesAfterFirst counts the probes lost once
// the overlay answered and not those ping never sent before it did.
import { describe, expect, it } from 'vitest';
import { lossesAfterFirst, type PingResult } from '../lab/fixtures/underlay.js';

/** seqs answered, each sent at `sent(seq)` ms and answered at `at(seq)` ms */
function result(answered: number[], sent: (s: number) => number, at: (s: number) => number,
  unsentBeforeFirst: number): PingResult {
  return {
    seqs: answered, replies: answered.map(at), rtts: answered.map((s) => at(s) - sent(s)),
    sent: Math.max(...answered), unsentBeforeFirst,
  };
}

/**
 * As ping logged it on a power cut: 1-12 held in the neighbour queue (sent every 10 ms, all answered at
 * 2000 ms), 13-26 reported unsent, 27 on sent 10 ms after the first reply, one every 5 ms
 */
const FIRST = 2000;
const sent = (s: number): number => (s <= 12 ? 100 + s * 10 : s <= 26 ? 1000 + s * 30 : FIRST + 10 + (s - 27) * 5);
const at = (s: number): number => (s <= 12 ? FIRST : sent(s) + 0.02);
const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('lossesAfterFirst', () => {
  it('does not count the probes ping reported unsent before the first reply', () => {
    const r = lossesAfterFirst(result([...range(1, 12), ...range(27, 100)], sent, at, 14), 5);
    expect(r).toEqual({ lost: 0, answered: 86, firstAt: FIRST });
  });

  it('counts every probe lost after the first reply', () => {
    const answered = [...range(1, 12), ...range(27, 100)].filter((s) => s !== 40 && s !== 41);
    expect(lossesAfterFirst(result(answered, sent, at, 14), 5).lost).toBe(2);
  });

  it('counts the unanswered probes that fit between the first reply and the next one sent, unless reported unsent',
    () => {
      const answered = [...range(1, 12), ...range(27, 100)];
      // nothing reported: of 13-26, those that fit in the 10 ms before 27 (two) may have been sent after the reply
      expect(lossesAfterFirst(result(answered, sent, at, 0), 5).lost).toBe(2);
      // 13 reported: one of 13-26 was not
      expect(lossesAfterFirst(result(answered, sent, at, 13), 5).lost).toBe(1);
      // a reported one may be an unanswered probe lower down (here 5): it does not excuse one in the gap
      const missing5 = answered.filter((s) => s !== 5);
      expect(lossesAfterFirst(result(missing5, sent, at, 14), 5).lost).toBe(1);
    });
});
