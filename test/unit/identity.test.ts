// Unit: node identity — random node ids and the stable, locally administered bridge MAC derived from each.
import { describe, expect, it } from 'vitest';
import { bridgeMacFor, newNodeId } from '../../src/state/identity.js';

describe('identity', () => {
  it('makes random node ids and a stable, locally administered bridge MAC from each', () => {
    expect(newNodeId()).toMatch(/^[0-9a-f]{32}$/);
    expect(newNodeId()).not.toBe(newNodeId());
    expect(bridgeMacFor('ab'.repeat(16))).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    expect(bridgeMacFor('ab'.repeat(16))).toBe(bridgeMacFor('ab'.repeat(16)));
  });
});
