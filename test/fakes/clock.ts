// Test double: a Clock whose time moves only when the test says so. advance()
// runs due timers in order and lets promise chains settle between them, so
// async agent code (fake kernel calls) completes as it would in real time.

import type { Clock, TimerHandle } from '../../src/clock.js';

interface Timer {
  id: number;
  due: number;
  fn: () => void;
  every: number | undefined;
}

export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class FakeClock implements Clock {
  private mono = 1_000;
  private wallOffset: number;
  private timers: Timer[] = [];
  private nextId = 1;

  constructor(wallStart = Date.UTC(2026, 0, 1)) {
    this.wallOffset = wallStart - this.mono;
  }

  now(): number {
    return this.mono + this.wallOffset;
  }

  monotonic(): number {
    return this.mono;
  }

  /** Steps the wall clock (not the monotonic one), as an NTP correction would. */
  stepWall(ms: number): void {
    this.wallOffset += ms;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, undefined);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, Math.max(1, ms));
  }

  private add(fn: () => void, ms: number, every: number | undefined): TimerHandle {
    const t: Timer = { id: this.nextId++, due: this.mono + Math.max(0, ms), fn, every };
    this.timers.push(t);
    return { cancel: () => { this.timers = this.timers.filter((x) => x !== t); } };
  }

  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing every timer that comes due, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.mono + ms;
    await flush();
    for (;;) {
      const next = this.timers.filter((t) => t.due <= target).sort((a, b) => a.due - b.due || a.id - b.id)[0];
      if (!next) break;
      this.mono = Math.max(this.mono, next.due);
      if (next.every !== undefined) next.due += next.every;
      else this.timers = this.timers.filter((t) => t !== next);
      next.fn();
      await flush();
    }
    this.mono = target;
    await flush();
  }
}

/**
 * One host's view of a shared FakeClock: the same monotonic time and timers,
 * its own wall clock (an RTC that is off, or stepped by NTP or by hand).
 */
export class HostClock implements Clock {
  private wallOffset = 0;

  constructor(private readonly base: FakeClock) {}

  now(): number {
    return this.base.now() + this.wallOffset;
  }

  monotonic(): number {
    return this.base.monotonic();
  }

  stepWall(ms: number): void {
    this.wallOffset += ms;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.base.setTimeout(fn, ms);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.base.setInterval(fn, ms);
  }
}
