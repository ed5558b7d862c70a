// Layer: shared. Contract: one pending retry at a time on the Clock. schedule()
// arms the timer unless it is armed already (wake-ups merge); each armed delay
// doubles up to `maxMs` (equal to `firstMs`: a fixed delay) until reset().
// After stop() nothing is armed again.

import type { Clock, TimerHandle } from '../clock.js';

export interface RetryOptions {
  firstMs: number;
  /** longest delay (default: firstMs, no backoff) */
  maxMs?: number | undefined;
}

export class RetryTimer {
  private timer: TimerHandle | undefined;
  private delayMs: number;
  private stopped = false;

  constructor(private readonly clock: Clock, private readonly fn: () => void, private readonly opts: RetryOptions) {
    this.delayMs = opts.firstMs;
  }

  get armed(): boolean {
    return this.timer !== undefined;
  }

  schedule(): void {
    if (this.timer || this.stopped) return;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.opts.maxMs ?? this.opts.firstMs, this.delayMs * 2);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.fn();
    }, delay);
  }

  /** The next delay is the first one again (the thing retried worked). */
  reset(): void {
    this.delayMs = this.opts.firstMs;
  }

  cancel(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  stop(): void {
    this.stopped = true;
    this.cancel();
  }
}
