import { describe, expect, it } from 'vitest';
import { claimWins, pickAddress, preferredAddress } from '../../src/alloc/allocator.js';
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

  it('decides conflicts the same way from both sides', () => {
    const old = { nodeId: id(9), claimedAt: 1000, established: true };
    const young = { nodeId: id(1), claimedAt: 2000, established: true };
    const probe = { nodeId: id(0), claimedAt: 10, established: false };
    expect(claimWins(old, young)).toBe(true);
    expect(claimWins(young, old)).toBe(false);
    expect(claimWins(young, probe)).toBe(true); // established beats probing, however old the probe
    expect(claimWins(probe, young)).toBe(false);
    const tieA = { nodeId: id(1), claimedAt: 5, established: true };
    const tieB = { nodeId: id(2), claimedAt: 5, established: true };
    expect(claimWins(tieA, tieB)).toBe(true);
    expect(claimWins(tieB, tieA)).toBe(false);
  });
});
