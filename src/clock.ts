// Layer: seam. Contract: all time the agent uses comes from a Clock. `now()` is
// wall-clock milliseconds (persisted, compared across hosts), `monotonic()`
// never steps (ages, timeouts). Tests use a fake clock and advance it instead
// of sleeping; only main builds the system clock.

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  now(): number;
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  setInterval(fn: () => void, ms: number): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    return { cancel: () => clearInterval(t) };
  },
};
