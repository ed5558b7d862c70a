// Layer: dataplane policy (pure). Contract: from the peers we know and what
// the kernel holds, compute the smallest set of operations that makes the
// kernel match. Plans are data; dataplane/apply.ts executes them, additions
// before deletions so a peer that moves is never unreachable in between.

import { contains, ZERO_MAC, type Cidr, type Ipv4 } from '../net/ipv4.js';
import type { IpAddr, Ipv6 } from '../net/ipv6.js';
import type { FdbEntry, HostRoute, Neigh } from '../kernel/types.js';

/** What the dataplane needs to know about one peer. */
export interface PeerRoute {
  id: string;
  /** undefined: no neighbour entry (this peer lost a claim on its address) */
  overlayIp: Ipv4 | undefined;
  underlayIp: Ipv4;
  /** its IPv6 link-local address, if known */
  linkLocal?: Ipv6 | undefined;
  mac: string;
}

/**
 * Where the FDB sends a peer's frames: its IPv4 address, or its link-local address out of the physical interface
 * (`via`).
 */
export type FdbTarget = { family: 'ipv4' } | { family: 'link-local'; via: number };

export interface FdbPlan {
  /** all-zeros flood entries to add (the kernel refuses REPLACE on them: append). */
  append: FdbEntry[];
  /** unicast entries to create or repoint (REPLACE is allowed for unicast). */
  replace: FdbEntry[];
  /** entries to remove, after the additions. */
  del: FdbEntry[];
  /** underlay IPs whose ARP (or ND) entry on the physical device must be
   *  dropped: a vanished or reassigned IP would otherwise stall VXLAN frames
   *  on an INCOMPLETE/STALE entry for seconds. */
  flushArp: IpAddr[];
}

export interface NeighPlan {
  set: { dst: Ipv4; mac: string }[];
  del: Ipv4[];
}

/** Entries that differ only in `via` are distinct in the kernel. */
export const fdbKey = (e: FdbEntry): string => `${e.mac}/${e.dst}${e.via === undefined ? '' : `%${e.via}`}`;
const key = fdbKey;

/** The flood and unicast entries for every peer (with link-local, only those whose address we know). */
export function desiredFdb(peers: readonly PeerRoute[], target: FdbTarget = { family: 'ipv4' }): FdbEntry[] {
  const out = new Map<string, FdbEntry>();
  for (const p of peers) {
    const to = target.family === 'ipv4' ? { dst: p.underlayIp as IpAddr }
      : p.linkLocal === undefined ? undefined : { dst: p.linkLocal, via: target.via };
    if (!to) continue;
    const flood = { mac: ZERO_MAC, ...to };
    out.set(key(flood), flood);
    const uni = { mac: p.mac, ...to };
    out.set(key(uni), uni);
  }
  return [...out.values()];
}

const byAddr = (a: IpAddr, b: IpAddr): number =>
  typeof a === 'number' && typeof b === 'number' ? a - b
    : typeof a === 'number' ? -1 : typeof b === 'number' ? 1 : a < b ? -1 : a > b ? 1 : 0;

export function planFdb(desired: readonly FdbEntry[], actual: readonly FdbEntry[]): FdbPlan {
  const have = new Set(actual.map(key));
  const want = new Set(desired.map(key));
  const append: FdbEntry[] = [];
  const replace: FdbEntry[] = [];
  const flush = new Set<IpAddr>();
  const actualByMac = new Map<string, IpAddr[]>();
  for (const e of actual) actualByMac.set(e.mac, [...(actualByMac.get(e.mac) ?? []), e.dst]);

  for (const e of desired) {
    if (have.has(key(e))) continue;
    if (e.mac === ZERO_MAC) {
      append.push(e);
    } else {
      replace.push(e);
      const olds = actualByMac.get(e.mac) ?? [];
      if (olds.length > 0) {
        // the MAC moved to another underlay IP: both ARP entries may be wrong now
        flush.add(e.dst);
        for (const o of olds) flush.add(o);
      }
    }
  }
  // REPLACE repoints a unicast entry's (first) destination in place, so an
  // old destination that was the only one is already gone: no delete for it.
  const repointed = new Set(replace.filter((e) => actualByMac.get(e.mac)?.length === 1).map((e) => e.mac));
  const del = actual.filter((e) => !want.has(key(e)) && !repointed.has(e.mac));

  const actualDsts = new Set(actual.map((e) => e.dst));
  const desiredDsts = new Set(desired.map((e) => e.dst));
  for (const d of actualDsts) if (!desiredDsts.has(d)) flush.add(d);
  for (const d of desiredDsts) if (!actualDsts.has(d)) flush.add(d);
  return { append, replace, del, flushArp: [...flush].sort(byAddr) };
}

/**
 * Permanent neighbour entries on the bridge for every peer's overlay IP.
 * The agent owns permanent entries inside the overlay CIDR (except the VIP,
 * which belongs to whoever announces it); anything else is left alone.
 */
export function planNeigh(peers: readonly PeerRoute[], actual: readonly Neigh[], cidr: Cidr, vip: Ipv4): NeighPlan {
  const want = new Map<Ipv4, string>();
  for (const p of peers) if (p.overlayIp !== undefined) want.set(p.overlayIp, p.mac);
  const set: NeighPlan['set'] = [];
  const byDst = new Map(actual.map((n) => [n.dst, n]));
  for (const [dst, mac] of want) {
    const cur = byDst.get(dst);
    if (!cur || !cur.permanent || cur.mac !== mac) set.push({ dst, mac });
  }
  const del = actual
    .filter((n) => n.permanent && contains(cidr, n.dst) && n.dst !== vip && !want.has(n.dst))
    .map((n) => n.dst);
  return { set, del };
}

/** Our on-link /32 routes: set the missing or changed ones, delete the rest. */
export function planHostRoutes(
  desired: readonly HostRoute[], actual: readonly HostRoute[],
): { set: HostRoute[]; del: HostRoute[] } {
  const same = (a: HostRoute, b: HostRoute): boolean => a.dst === b.dst && a.index === b.index && a.src === b.src;
  return {
    set: desired.filter((d) => !actual.some((a) => same(a, d))),
    del: actual.filter((a) => !desired.some((d) => d.dst === a.dst)),
  };
}
