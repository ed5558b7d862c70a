// Layer: agent (observability). Contract: remembers other clusters heard on
// the LAN (their packets fail our cluster check; their CIDR is read without
// authentication, so it is only ever reported, never acted on). A cluster
// whose CIDR overlaps ours is the dangerous case (two overlays handing out
// the same addresses on one LAN): the caller logs it loudly once. Bounded,
// because anyone can send packets with made-up cluster names.

import { formatCidr, overlaps, type Cidr } from '../net/ipv4.js';

export interface ForeignCluster {
  name: string;
  cidr: string | null;
  overlapping: boolean;
  from: string;
  lastSeenAt: number;
  packets: number;
}

const MAX_FOREIGN = 64;

export class ForeignClusters {
  private readonly map = new Map<string, ForeignCluster>();

  constructor(private readonly ours: Cidr) {}

  /** Returns true when this packet reveals a new overlap with our CIDR. */
  observe(name: string, cidr: Cidr | undefined, from: string, now: number): boolean {
    const key = name.slice(0, 64);
    let c = this.map.get(key);
    if (!c) {
      if (this.map.size >= MAX_FOREIGN) return false;
      c = { name: key, cidr: null, overlapping: false, from, lastSeenAt: now, packets: 0 };
      this.map.set(key, c);
    }
    c.packets++;
    c.lastSeenAt = now;
    c.from = from;
    if (!cidr) return false;
    const text = formatCidr(cidr);
    const isNew = c.cidr !== text;
    c.cidr = text;
    const wasOverlapping = c.overlapping;
    c.overlapping = overlaps(cidr, this.ours);
    return c.overlapping && (isNew || !wasOverlapping);
  }

  list(): ForeignCluster[] {
    return [...this.map.values()].map((c) => ({ ...c }));
  }

}
