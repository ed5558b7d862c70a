// Layer: shared. Contract: wake-ups merge into one pending
// flag. request() never queues more than one extra run: however many wake-ups
// arrive while the task runs, it runs once more afterwards, with fresh state.

export class SingleFlight {
  private running = false;
  private pending = false;
  private waiters: (() => void)[] = [];

  constructor(private readonly task: () => Promise<void>, private readonly onError: (err: unknown) => void) {}

  request(): void {
    this.pending = true;
    if (!this.running) void this.loop();
  }

  get busy(): boolean {
    return this.running || this.pending;
  }

  /** Resolves once no run is in progress or pending. */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.pending) {
        this.pending = false;
        try {
          await this.task();
        } catch (err) {
          this.onError(err);
        }
      }
    } finally {
      this.running = false;
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    }
  }
}
