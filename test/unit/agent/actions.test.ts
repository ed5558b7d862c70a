// Unit: agent/actions.ts merge() keeps every wish (sends, answers, flags, the stronger reprogram); NOTHING is neutral.
import { describe, expect, it } from 'vitest';
import { merge, NOTHING, sending, type Actions, type Outgoing, type Reprogram } from '../../../src/agent/actions.js';

const announce: Outgoing = { kind: 'announce' };
const forget: Outgoing = { kind: 'forget', target: 'b'.repeat(32), claimedAt: 5, overlayIp: 7 };
const relay: Outgoing = { kind: 'relay', packet: Buffer.from('x'), to: 9 };

describe('merge', () => {
  it('returns the other value unchanged when one side is NOTHING', () => {
    const a: Actions = { send: [announce], reprogram: 'routes', persist: true };
    expect(merge(NOTHING, a)).toBe(a);
    expect(merge(a, NOTHING)).toBe(a);
    expect(merge(NOTHING, NOTHING)).toBe(NOTHING);
  });

  it('keeps every send, first value first, and does not touch its inputs', () => {
    const a = sending(announce, forget);
    const b = sending(relay);
    const m = merge(a, b);
    expect(m.send).toEqual([announce, forget, relay]);
    expect(merge(b, a).send).toEqual([relay, announce, forget]);
    expect(a.send).toEqual([announce, forget]);
    expect(b.send).toEqual([relay]);
  });

  it('keeps the sends of the one side that has any', () => {
    expect(merge(sending(forget), { persist: true }).send).toEqual([forget]);
    expect(merge({ persist: true }, sending(forget)).send).toEqual([forget]);
    expect(merge({ persist: true }, { burst: true })).not.toHaveProperty('send');
  });

  it('concatenates answers and the hosts to tell about us', () => {
    const a: Actions = { answer: [{ peer: 'p1', moved: false, to: 7 }] };
    const b: Actions = { answer: [{ peer: 'p2', moved: true, to: 8 }] };
    expect(merge(a, b).answer).toEqual([{ peer: 'p1', moved: false, to: 7 }, { peer: 'p2', moved: true, to: 8 }]);
    expect(merge(a, { trigger: [9] }).answer).toEqual([{ peer: 'p1', moved: false, to: 7 }]);
    expect(merge({ trigger: [9] }, { reread: true })).not.toHaveProperty('answer');
    expect(merge({ trigger: [9] }, { trigger: [0] }).trigger).toEqual([9, 0]);
    expect(merge({ trigger: [9] }, { reread: true }).trigger).toEqual([9]);
    expect(merge({ persist: true }, { reread: true })).not.toHaveProperty('trigger');
  });

  it('keeps each flag asked for by either side', () => {
    const flags = ['fresh', 'burst', 'family', 'reread', 'persist'] as const;
    for (const f of flags) {
      const one: Actions = { [f]: true };
      expect(merge(one, { reprogram: 'routes' })[f]).toBe(true);
      expect(merge({ reprogram: 'routes' }, one)[f]).toBe(true);
      for (const g of flags) if (g !== f) expect(merge(one, { reprogram: 'routes' })[g]).toBe(false);
    }
  });

  it('keeps the stronger reprogram; routes and repair together make a full run', () => {
    const cases: [Reprogram | undefined, Reprogram | undefined, Reprogram | undefined][] = [
      [undefined, undefined, undefined],
      ['routes', undefined, 'routes'], [undefined, 'routes', 'routes'],
      ['repair', undefined, 'repair'], [undefined, 'repair', 'repair'],
      ['full', undefined, 'full'], [undefined, 'full', 'full'],
      ['routes', 'routes', 'routes'], ['repair', 'repair', 'repair'], ['full', 'full', 'full'],
      ['routes', 'repair', 'full'], ['repair', 'routes', 'full'],
      ['routes', 'full', 'full'], ['full', 'routes', 'full'],
      ['repair', 'full', 'full'], ['full', 'repair', 'full'],
    ];
    for (const [a, b, want] of cases) {
      expect(merge({ reprogram: a, persist: true }, { reprogram: b, burst: true }).reprogram, `${a} + ${b}`).toBe(want);
    }
  });

  it('is associative for what it keeps', () => {
    const a: Actions = { send: [announce], reprogram: 'routes', answer: [{ peer: 'p1', moved: false, to: 7 }] };
    const b: Actions = { send: [forget], reprogram: 'repair', fresh: true };
    const c: Actions = { send: [relay], answer: [{ peer: 'p2', moved: true, to: 8 }], persist: true };
    expect(merge(merge(a, b), c)).toEqual(merge(a, merge(b, c)));
    expect(merge(merge(a, b), c)).toMatchObject({
      send: [announce, forget, relay], reprogram: 'full', fresh: true, persist: true,
      answer: [{ peer: 'p1', moved: false, to: 7 }, { peer: 'p2', moved: true, to: 8 }],
    });
  });
});

describe('sending', () => {
  it('sends what it is given, in order, and nothing else', () => {
    expect(sending(forget, announce)).toEqual({ send: [forget, announce] });
  });
});
