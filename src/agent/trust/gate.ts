// Layer: agent (receiving, before authentication). Contract: checking a
// packet's HMAC costs tens of µs, and anyone can send packets that carry our
// cluster name and fail it. So failures are budgeted before any HMAC: each
// stranger source (an IP address, or a MAC for raw frames) has a bucket of
// failures, and all strangers together share one more. A stranger without
// budget is dropped unverified until its bucket refills. A known source — one
// that sent an admitted peer's fresh message lately (passed() is called only
// then: a replay earns nothing) — is always verified and never charged: a
// forger using a peer's address cannot make us drop that peer's packets. What
// reaches us from a peer's address is bounded in the kernel instead (the
// discovery chain's per-peer limit, firewall/script.ts).

import type { Clock } from '../../clock.js';
import { KeyedBuckets, TokenBucket } from '../../util/ratelimit.js';

/** failures one stranger source may cause: a burst, then a few a second */
const PER_SOURCE = { perSecond: 5, burst: 20 };
/** failures all stranger sources together may cause (a flood from random sources) */
const STRANGERS = { perSecond: 200, burst: 400 };
/** a source that sent an admitted peer's fresh message within this long counts as known */
const KNOWN_FOR_MS = 600_000;
const MAX_SOURCES = 4096;

export class AuthGate {
  private readonly perSource = new KeyedBuckets(PER_SOURCE.perSecond, PER_SOURCE.burst, MAX_SOURCES);
  private readonly strangers: TokenBucket;
  /** source -> when it last carried an admitted peer's fresh message (monotonic), oldest first */
  private readonly known = new Map<string, number>();

  constructor(private readonly clock: Clock) {
    this.strangers = new TokenBucket(STRANGERS.perSecond, STRANGERS.burst, clock.monotonic());
  }

  private isKnown(source: string, now: number): boolean {
    const at = this.known.get(source);
    return at !== undefined && now - at <= KNOWN_FOR_MS;
  }

  /** May a packet from `source` be verified now? */
  allow(source: string): boolean {
    const now = this.clock.monotonic();
    if (this.isKnown(source, now)) return true;
    return this.perSource.has(source, now) && this.strangers.has(now);
  }

  /** A packet from `source` failed authentication: a stranger pays for it. */
  failed(source: string): void {
    const now = this.clock.monotonic();
    if (this.isKnown(source, now)) return;
    this.perSource.take(source, now);
    this.strangers.take(now);
  }

  /** A fresh message of an admitted node came from `source`. */
  passed(source: string): void {
    this.known.delete(source);
    this.known.set(source, this.clock.monotonic());
    if (this.known.size > MAX_SOURCES) this.known.delete(this.known.keys().next().value!);
  }
}
