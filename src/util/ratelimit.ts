// Layer: shared. Contract: token buckets on a monotonic clock. A bucket holds
// up to `burst` tokens and refills at `perSecond`; take() spends one if it
// can. Buckets keyed by source are bounded (least recently used go first),
// because anyone can make up sources.

export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(private readonly perSecond: number, private readonly burst: number, now: number) {
    this.tokens = burst;
    this.at = now;
  }

  private refill(now: number): void {
    if (now > this.at) this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
  }

  /** Is a token there (without spending it)? */
  has(now: number): boolean {
    this.refill(now);
    return this.tokens >= 1;
  }

  /** Spends a token; false (and nothing spent) when none is left. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** A token bucket per key, at most `max` keys. */
export class KeyedBuckets {
  private readonly map = new Map<string, TokenBucket>();

  constructor(private readonly perSecond: number, private readonly burst: number, private readonly max: number) {}

  private get(key: string, now: number): TokenBucket {
    let b = this.map.get(key);
    if (b) {
      this.map.delete(key); // most recently used last
    } else {
      b = new TokenBucket(this.perSecond, this.burst, now);
      if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value!);
    }
    this.map.set(key, b);
    return b;
  }

  has(key: string, now: number): boolean {
    const b = this.map.get(key);
    return b === undefined || b.has(now);
  }

  take(key: string, now: number): boolean {
    return this.get(key, now).take(now);
  }

  get size(): number {
    return this.map.size;
  }
}
