// Layer: discovery (raw L2 fairness). Contract: the source MACs whose frames
// the kernel drops for a while (bpf.ts builds the program): a source that
// went over its budget is put on the list for DROP_FOR_MS, then taken off and
// judged again by what it sends. At most MAX_DROPPED_SOURCES at once; every
// change of the list is handed to `onChange`.

import type { Clock, TimerHandle } from '../clock.js';
import { MAX_DROPPED_SOURCES } from './bpf.js';

export const DROP_FOR_MS = 10_000;

export class DropList {
  /** mac -> until (monotonic) */
  private readonly until = new Map<string, number>();
  private timer: TimerHandle | undefined;

  constructor(private readonly clock: Clock, private readonly onChange: (macs: string[]) => void) {}

  get macs(): string[] {
    return [...this.until.keys()];
  }

  /** Drops `mac`'s frames from now on; false when it is on the list already or the list is full. */
  add(mac: string): boolean {
    if (this.until.has(mac) || this.until.size >= MAX_DROPPED_SOURCES) return false;
    this.until.set(mac, this.clock.monotonic() + DROP_FOR_MS);
    this.arm();
    this.onChange(this.macs);
    return true;
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(): void {
    if (this.timer || this.until.size === 0) return;
    const next = Math.min(...this.until.values());
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      const now = this.clock.monotonic();
      for (const [mac, t] of this.until) if (t <= now) this.until.delete(mac);
      this.onChange(this.macs);
      this.arm();
    }, Math.max(1, next - this.clock.monotonic()));
  }
}
