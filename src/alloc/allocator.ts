// Layer: addressing policy (pure). Contract: given the CIDR, a node id and the
// addresses known to be taken, pick the address this node should claim; and
// decide, deterministically on every host, which of two claims wins.

import { createHash } from 'node:crypto';
import { hostRange, type Cidr, type Ipv4 } from '../net/ipv4.js';

/**
 * An established claim on an overlay address: who, and for how long it has
 * been held. `heldMs` is measured on the holder's monotonic clock and
 * persisted across restarts, so it does not care what the hosts' wall
 * clocks say (edge hosts often boot with a wrong one).
 */
export interface Claim {
  nodeId: string;
  heldMs: number;
  /** set by an operator (--overlay-ip): never moves, beats any unpinned claim */
  pinned?: boolean;
}

/** A probe for an address: who, and when it started (the prober's wall clock). */
export interface ProbeClaim {
  nodeId: string;
  startedAt: number;
}

/** Held times closer than this are a tie (message delay blurs them); the node id decides. */
export const HELD_TIE_MS = 2000;

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
 * True when established claim `a` beats `b` for the same address: a pinned
 * holder beats an unpinned one; otherwise the claim held longer wins (a host
 * that has held its address beats a newcomer from the other side of a
 * partition); within HELD_TIE_MS the lower node id wins. Every host
 * evaluates the same rule on the same inputs. (An established holder always
 * beats a probe; that needs no rule.)
 */
export function claimWins(a: Claim, b: Claim): boolean {
  if (Boolean(a.pinned) !== Boolean(b.pinned)) return Boolean(a.pinned);
  if (Math.abs(a.heldMs - b.heldMs) > HELD_TIE_MS) return a.heldMs > b.heldMs;
  return a.nodeId < b.nodeId;
}

/** Between two probes for one address the earlier one wins; a tie goes to the lower node id. */
export function probeWins(a: ProbeClaim, b: ProbeClaim): boolean {
  if (a.startedAt !== b.startedAt) return a.startedAt < b.startedAt;
  return a.nodeId < b.nodeId;
}
