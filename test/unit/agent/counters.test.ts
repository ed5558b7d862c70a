// Unit: the agent's counters (agent/records/counters.ts): what the snapshot holds and how each counter counts.
import { describe, expect, it } from 'vitest';
import { AGENT_DROP_REASONS, Counters } from '../../../src/agent/records/counters.js';
import { DROP_REASONS, MessageType } from '../../../src/wire/codec.js';

describe('counters', () => {
  it('start at zero with every message type and every drop reason present', () => {
    const s = new Counters().snapshot();
    expect(Object.keys(s).sort()).toEqual([
      'conflicts', 'dropped', 'duplicateNodeId', 'duplicates', 'familySwitches', 'foreignOverlaps', 'kernelResyncs',
      'received', 'reconcileErrors', 'reconciles', 'relayed', 'sent', 'underlayChanges', 'verifiedByKey',
    ]);
    const zeros = (keys: readonly string[]): Record<string, number> => Object.fromEntries(keys.map((k) => [k, 0]));
    expect(s.sent).toEqual(zeros(Object.keys(MessageType)));
    expect(s.received).toEqual(zeros(Object.keys(MessageType)));
    expect(s.dropped).toEqual(zeros([...DROP_REASONS, ...AGENT_DROP_REASONS]));
    expect(s.verifiedByKey).toEqual({});
    expect(s.underlayChanges).toEqual({ own: 0, peer: 0 });
    const plain = ['duplicates', 'foreignOverlaps', 'duplicateNodeId', 'relayed', 'familySwitches', 'conflicts',
      'reconciles', 'reconcileErrors', 'kernelResyncs'] as const;
    for (const k of plain) expect(s[k]).toBe(0);
  });

  it('count sent and received packets by type, drops by reason, verified packets by key label', () => {
    const c = new Counters();
    c.sent('announce');
    c.sent('announce');
    c.sent('probe');
    c.received('defend');
    c.drop('bad-auth');
    c.drop('replay');
    c.drop('replay');
    c.verified('ops');
    c.verified('ops');
    c.verified('1a2b3c4d');
    const s = c.snapshot();
    expect(s.sent).toMatchObject({ announce: 2, probe: 1, defend: 0, forget: 0, challenge: 0 });
    expect(s.received).toMatchObject({ announce: 0, defend: 1 });
    expect(s.dropped).toMatchObject({ 'bad-auth': 1, replay: 2, 'too-short': 0, unconfirmed: 0 });
    expect(s.verifiedByKey).toEqual({ ops: 2, '1a2b3c4d': 1 });
  });

  it('show the plain counters, own and peer underlay changes grouped', () => {
    const c = new Counters();
    c.duplicates = 1;
    c.foreignOverlaps = 2;
    c.duplicateNodeId = 3;
    c.relayed = 4;
    c.underlayChangesOwn = 5;
    c.underlayChangesPeer = 6;
    c.familySwitches = 7;
    c.conflicts = 8;
    c.reconciles = 9;
    c.reconcileErrors = 10;
    c.kernelResyncs = 11;
    expect(c.snapshot()).toMatchObject({
      duplicates: 1, foreignOverlaps: 2, duplicateNodeId: 3, relayed: 4, underlayChanges: { own: 5, peer: 6 },
      familySwitches: 7, conflicts: 8, reconciles: 9, reconcileErrors: 10, kernelResyncs: 11,
    });
  });

  it('give a snapshot that later counting does not change', () => {
    const c = new Counters();
    c.sent('announce');
    c.drop('replay');
    c.verified('ops');
    const s = c.snapshot();
    c.sent('announce');
    c.drop('replay');
    c.verified('ops');
    c.conflicts++;
    expect(s.sent.announce).toBe(1);
    expect(s.dropped.replay).toBe(1);
    expect(s.verifiedByKey.ops).toBe(1);
    expect(s.conflicts).toBe(0);
    s.sent.announce = 99; // nor does changing the snapshot change the counters
    expect(c.snapshot().sent.announce).toBe(2);
  });
});
