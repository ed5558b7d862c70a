// Layer: agent (observability). Contract: remembers other clusters heard on
// the LAN — their packets fail our cluster check; their name and CIDR are
// read without authentication, so they are only ever reported, never acted
// on. A cluster whose CIDR overlaps ours is the dangerous case (two overlays
// handing out the same addresses) and is logged loudly, at a bounded rate.
// Anyone can make up cluster names: the table is an LRU with expiry, and
// names are stored with control characters escaped.

import type { Clock } from '../../clock.js';
import type { Logger } from '../../log.js';
import { formatCidr, overlaps, type Cidr } from '../../net/ipv4.js';
import { TokenBucket } from '../../util/ratelimit.js';
import { printable } from '../../util/text.js';
import type { Counters } from '../records/counters.js';

export interface ForeignCluster {
  name: string;
  cidr: string | null;
  overlapping: boolean;
  from: string;
  lastSeenAt: number;
  packets: number;
}

const MAX_FOREIGN = 64;
/** a cluster not heard for this long is forgotten */
const EXPIRE_MS = 3600_000;
/** overlap reports logged: a few at once, then one a minute */
const LOG_BURST = 5;
const LOG_PER_SECOND = 1 / 60;

export interface ForeignDeps {
  ours: Cidr;
  clock: Clock;
  log: Logger;
  counters: Counters;
}

export class ForeignClusters {
  private readonly map = new Map<string, ForeignCluster & { seenMono: number }>();
  private readonly logBudget: TokenBucket;
  private suppressed = 0;

  constructor(private readonly d: ForeignDeps) {
    this.logBudget = new TokenBucket(LOG_PER_SECOND, LOG_BURST, d.clock.monotonic());
  }

  /** A packet of another cluster (unauthenticated: name and CIDR are claims). */
  observe(rawName: string, cidr: Cidr | undefined, from: string): void {
    const now = this.d.clock.monotonic();
    this.expire(now);
    const name = printable(rawName.slice(0, 64));
    let c = this.map.get(name);
    if (c) this.map.delete(name); // most recently heard last
    else c = { name, cidr: null, overlapping: false, from, lastSeenAt: 0, packets: 0, seenMono: now };
    this.map.set(name, c);
    if (this.map.size > MAX_FOREIGN) this.map.delete(this.map.keys().next().value!);
    c.packets++;
    c.lastSeenAt = this.d.clock.now();
    c.seenMono = now;
    c.from = from;
    if (!cidr) return;
    const text = formatCidr(cidr);
    const news = c.cidr !== text || !c.overlapping;
    c.cidr = text;
    c.overlapping = overlaps(cidr, this.d.ours);
    if (c.overlapping && news) this.report(c, from, now);
  }

  private report(c: ForeignCluster, from: string, now: number): void {
    this.d.counters.foreignOverlaps++;
    if (!this.logBudget.take(now)) {
      this.suppressed++;
      return;
    }
    const ours = formatCidr(this.d.ours);
    const more = this.suppressed > 0 ? ` (${this.suppressed} more such reports not logged)` : '';
    this.suppressed = 0;
    this.d.log.error({ code: 'E_CIDR_OVERLAP', cluster: c.name, theirs: c.cidr, ours, from },
      'ANOTHER CLUSTER ON THIS LAN USES AN OVERLAPPING OVERLAY CIDR: '
      + `cluster "${c.name}" announces ${c.cidr} (ours: ${ours}); `
      + `the two overlays will hand out the same addresses — give one of them another CIDR${more}`);
  }

  private expire(now: number): void {
    for (const [k, c] of this.map) {
      if (now - c.seenMono <= EXPIRE_MS) break; // oldest first: the rest are newer
      this.map.delete(k);
    }
  }

  list(): ForeignCluster[] {
    this.expire(this.d.clock.monotonic());
    return [...this.map.values()].map(({ seenMono: _, ...c }) => ({ ...c }));
  }
}
