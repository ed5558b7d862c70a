// Unit: the address allocator — the stable id-derived address, picking around taken ones, claim and probe races.
import { describe, expect, it } from 'vitest';
import { HELD_TIE_MS, claimWins, pickAddress, preferredAddress, probeWins } from '../../src/alloc/allocator.js';
import { hostRange, parseCidr, vipOf, type Cidr } from '../../src/net/ipv4.js';

const cidr = parseCidr('100.64.192.0/24') as Cidr;
const id = (n: number): string => n.toString(16).padStart(32, '0');

describe('allocator', () => {
  it('prefers a stable, id-derived host address', () => {
    const a = preferredAddress(cidr, id(1));
    expect(preferredAddress(cidr, id(1))).toBe(a);
    const r = hostRange(cidr);
    for (let i = 0; i < 500; i++) {
      const p = preferredAddress(cidr, id(i));
      expect(p).toBeGreaterThanOrEqual(r.first);
      expect(p).toBeLessThanOrEqual(r.last);
      expect(p).not.toBe(vipOf(cidr));
    }
  });

  it('skips taken addresses, wraps around, and reports exhaustion', () => {
    const small = parseCidr('10.0.0.0/29') as Cidr; // hosts .2-.6
    const r = hostRange(small);
    const taken = new Set<number>();
    const got: number[] = [];
    for (let i = 0; i < r.count; i++) {
      const ip = pickAddress(small, id(7), taken)!;
      expect(taken.has(ip)).toBe(false);
      taken.add(ip);
      got.push(ip);
    }
    expect(new Set(got).size).toBe(5);
    expect(pickAddress(small, id(7), taken)).toBeUndefined();
  });

  it('decides conflicts the same way from both sides: pinned, then held longer, then lower id', () => {
    const old = { nodeId: id(9), heldMs: 3_600_000 };
    const young = { nodeId: id(1), heldMs: 60_000 };
    expect(claimWins(old, young)).toBe(true);
    expect(claimWins(young, old)).toBe(false);
    const pinned = { nodeId: id(8), heldMs: 0, pinned: true };
    expect(claimWins(pinned, old)).toBe(true);
    expect(claimWins(old, pinned)).toBe(false);
    // within the tie window (message delay) the node id decides, consistently
    const tieA = { nodeId: id(1), heldMs: 10_000 };
    const tieB = { nodeId: id(2), heldMs: 10_000 + HELD_TIE_MS - 1 };
    expect(claimWins(tieA, tieB)).toBe(true);
    expect(claimWins(tieB, tieA)).toBe(false);
  });

  it('gives a probe race to the earlier probe, then the lower id', () => {
    expect(probeWins({ nodeId: id(9), startedAt: 1 }, { nodeId: id(1), startedAt: 2 })).toBe(true);
    expect(probeWins({ nodeId: id(1), startedAt: 2 }, { nodeId: id(9), startedAt: 1 })).toBe(false);
    expect(probeWins({ nodeId: id(1), startedAt: 2 }, { nodeId: id(9), startedAt: 2 })).toBe(true);
  });
});
