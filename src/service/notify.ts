// Layer: service integration (systemd). Contract: speaks the sd_notify
// protocol through an injected sink (main wires the native sender to
// $NOTIFY_SOCKET). READY=1 is sent once, and only when the overlay works:
// the overlay bridge carries this host's overlay IP and the FDB is programmed.
// STATUS= follows the agent (sent when the line changes); WATCHDOG=1 every
// half $WATCHDOG_USEC while the event loop runs; STOPPING=1 on shutdown.

import type { Clock, TimerHandle } from '../clock.js';

export type NotifySink = (message: string) => void;

/** What the status line needs (a StatusReport has this shape); read every second. */
export interface ServiceView {
  node: { overlayIp: string | null; addressState: string };
  peers: { state: 'alive' | 'stale' }[];
  dataplane: { ready: boolean };
}

export function statusLine(s: ServiceView): string {
  const alive = s.peers.filter((p) => p.state === 'alive').length;
  const stale = s.peers.length - alive;
  const ip = s.node.overlayIp ?? `no overlay address (${s.node.addressState})`;
  return `overlay ${ip}; ${alive} peers alive, ${stale} stale; dataplane ${s.dataplane.ready ? 'ready' : 'not ready'}`;
}

export class ServiceNotifier {
  private readySent = false;
  private lastStatus = '';
  private timers: TimerHandle[] = [];

  constructor(
    private readonly sink: NotifySink,
    private readonly clock: Clock,
    /** $WATCHDOG_USEC, if the service manager wants watchdog pings */
    private readonly watchdogUsec: number | undefined,
  ) {}

  /** Starts following the agent: checks its status every `everyMs`. */
  start(status: () => ServiceView, everyMs = 1000): void {
    this.check(status());
    this.timers.push(this.clock.setInterval(() => this.check(status()), everyMs));
    if (this.watchdogUsec && this.watchdogUsec > 0) {
      const every = Math.max(50, Math.floor(this.watchdogUsec / 1000 / 2));
      this.sink('WATCHDOG=1');
      this.timers.push(this.clock.setInterval(() => this.sink('WATCHDOG=1'), every));
    }
  }

  private check(s: ServiceView): void {
    const line = statusLine(s);
    const readyNow = !this.readySent && s.dataplane.ready && s.node.overlayIp !== null;
    if (readyNow) this.readySent = true;
    if (readyNow || line !== this.lastStatus) {
      this.lastStatus = line;
      this.sink(readyNow ? `READY=1\nSTATUS=${line}` : `STATUS=${line}`);
    }
  }

  stopping(): void {
    for (const t of this.timers) t.cancel();
    this.timers = [];
    this.sink('STOPPING=1\nSTATUS=stopping; the overlay stays up');
  }
}
