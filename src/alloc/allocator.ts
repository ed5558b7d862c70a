// Layer: addressing policy (pure). Contract: given the CIDR, a node id and the
// addresses known to be taken, pick the address this node should claim; and
// decide, deterministically on every host, which of two claims wins.

import { createHash } from 'node:crypto';
import { hostRange, type Cidr, type Ipv4 } from '../net/ipv4.js';

/** A claim on an overlay address: who, and since when (wall ms). */
export interface Claim {
  nodeId: string;
  claimedAt: number;
  /** true once the holder has persisted and configured it (not a probe). */
  established: boolean;
}

/** The address a node tries first: a stable hash of its id into the host range. */
export function preferredAddress(cidr: Cidr, nodeId: string): Ipv4 {
  const { first, count } = hostRange(cidr);
  const h = createHash('sha256').update(nodeId).digest();
  return (first + (h.readUInt32BE(0) % count)) >>> 0;
}

/**
 * The first free host address at or after the preferred one (wrapping), or
 * undefined when every host address is taken.
 */
export function pickAddress(cidr: Cidr, nodeId: string, taken: ReadonlySet<Ipv4>): Ipv4 | undefined {
  const { first, count } = hostRange(cidr);
  const start = preferredAddress(cidr, nodeId) - first;
  for (let i = 0; i < count; i++) {
    const ip = (first + ((start + i) % count)) >>> 0;
    if (!taken.has(ip)) return ip;
  }
  return undefined;
}

/**
 * True when claim `a` beats claim `b` for the same address. An established
 * holder beats a probe; between equals the older claim wins; a tie goes to
 * the lower node id. Every host evaluates the same rule on the same inputs.
 */
export function claimWins(a: Claim, b: Claim): boolean {
  if (a.established !== b.established) return a.established;
  if (a.claimedAt !== b.claimedAt) return a.claimedAt < b.claimedAt;
  return a.nodeId < b.nodeId;
}
