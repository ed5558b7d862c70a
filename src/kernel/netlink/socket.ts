// Layer: kernel (netlink transport). Contract: the only place that creates
// netlink sockets. RequestSocket turns a request into parsed replies or a
// KernelError carrying errno; at most MAX_INFLIGHT requests are outstanding,
// and a socket that errs or times out is dropped and reopened on next use.
// EventSocket delivers multicast notifications and reports lost ones
// (ENOBUFS overrun, reopen) so the caller resyncs from a full dump. It relies
// on our patch to netlink@0.3.0 (native/netlink-0.3.0.patch): unpatched, an
// overrun aborts the process instead of reaching the 'error' handler.

import { createRequire } from 'node:module';
import { getSystemErrorName } from 'node:util';
import { EdgeError, KernelError } from '../../errors.js';
import type { Clock, TimerHandle } from '../../clock.js';

const require = createRequire(import.meta.url);
export const nl = require('netlink') as typeof import('netlink');
export type RtMessage = import('netlink').rt.Message;
type NetlinkSocket = import('netlink').NetlinkSocket;
type NetlinkMessage = import('netlink').NetlinkMessage;

const MAX_INFLIGHT = 16;
const REQUEST_TIMEOUT_MS = 5000;
/** Default event socket buffer: rides out bursts of thousands of neighbour events. */
export const EVENT_RCVBUF = 8 * 1024 * 1024;

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

export class RequestSocket {
  private sock: NetlinkSocket | undefined;
  private inflight = 0;
  private readonly waiting: (() => void)[] = [];

  private socket(): NetlinkSocket {
    if (this.sock) return this.sock;
    // Large dumps (hundreds of FDB entries) arrive in bursts; 1 MiB each way.
    const s = nl.createNetlink(nl.Protocol.ROUTE, { recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
    s.on('error', () => this.drop(s));
    this.sock = s;
    return s;
  }

  private drop(s: NetlinkSocket): void {
    if (this.sock === s) this.sock = undefined;
    try { s.close(); } catch { /* already closed */ }
  }

  private async slot(): Promise<void> {
    if (this.inflight < MAX_INFLIGHT) {
      this.inflight++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next(); // hand the slot over
    else this.inflight--;
  }

  async request(op: string, type: number, flags: number, payload: Uint8Array[]): Promise<RtMessage[]> {
    await this.slot();
    try {
      const s = this.socket();
      let replies: NetlinkMessage[];
      try {
        [replies] = await s.request(type, payload, { flags, timeout: REQUEST_TIMEOUT_MS, checkError: false });
      } catch (err) {
        this.drop(s);
        throw new EdgeError('E_KERNEL_SOCKET', `${op}: netlink request failed: ${(err as Error).message}`, { op });
      }
      const out: RtMessage[] = [];
      for (const m of replies) {
        if (m.type === nl.MessageType.ERROR) {
          const { errno } = nl.parseError(m.data, m.flags);
          if (errno < 0) throw new KernelError(op, -errno, errnoName(-errno));
          continue; // ACK
        }
        out.push(nl.rt.parseMessage(m.type, m.data));
      }
      return out;
    } finally {
      this.release();
    }
  }

  close(): void {
    if (this.sock) this.drop(this.sock);
  }
}

export interface EventSink {
  messages(msgs: NetlinkMessage[]): void;
  lost(reason: string): void;
}

export class EventSocket {
  private sock: NetlinkSocket | undefined;
  private reopenTimer: TimerHandle | undefined;
  private closed = false;

  constructor(
    private readonly groups: number[], private readonly sink: EventSink, private readonly clock: Clock,
    private readonly rcvbuf = EVENT_RCVBUF,
  ) {}

  start(): void {
    this.closed = false;
    this.open();
  }

  private open(): void {
    const s = nl.createNetlink(nl.Protocol.ROUTE, { recvBufferSize: this.rcvbuf, sendBufferSize: 1 << 16 });
    for (const g of this.groups) s.addMembership(g);
    s.on('message', (msgs) => {
      try {
        this.sink.messages(msgs);
      } catch {
        this.sink.lost('event handler failed');
      }
    });
    s.on('truncatedMessage', () => this.sink.lost('truncated event'));
    s.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOBUFS') {
        this.sink.lost('overrun (ENOBUFS)');
        return;
      }
      // Anything else: the socket is gone. Reopen shortly, then resync.
      try { s.close(); } catch { /* closed by the binding */ }
      if (this.sock === s) this.sock = undefined;
      this.scheduleReopen();
    });
    this.sock = s;
  }

  private scheduleReopen(): void {
    if (this.closed || this.reopenTimer) return;
    this.reopenTimer = this.clock.setTimeout(() => {
      this.reopenTimer = undefined;
      if (this.closed) return;
      try {
        this.open();
        this.sink.lost('event socket reopened');
      } catch {
        this.scheduleReopen();
      }
    }, 200);
  }

  close(): void {
    this.closed = true;
    this.reopenTimer?.cancel();
    this.reopenTimer = undefined;
    if (this.sock) {
      try { this.sock.close(); } catch { /* already closed */ }
      this.sock = undefined;
    }
  }
}
