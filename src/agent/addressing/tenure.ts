// Layer: agent (claim age). Contract: how long this host has held its
// overlay claim, on the monotonic clock and across restarts (the state file
// keeps it): claims are ordered by held time, never by wall clocks.

import type { Clock } from '../../clock.js';

export class Tenure {
  private base = 0;
  private since: number | undefined;

  constructor(private readonly clock: Clock) {}

  /** A claim is held from now on, having been held `heldMs` before. */
  begin(heldMs: number): void {
    this.base = heldMs;
    this.since = this.clock.monotonic();
  }

  end(): void {
    this.since = undefined;
  }

  /** undefined while no claim is held */
  get heldMs(): number | undefined {
    return this.since === undefined ? undefined : this.base + (this.clock.monotonic() - this.since);
  }
}
