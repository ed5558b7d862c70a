// Layer: kernel (netlink transport). Contract: the only place that creates
// netlink sockets. RequestSocket returns parsed replies or a KernelError
// (errno); EventSocket delivers multicast notifications and reports lost ones
// so the caller resyncs from a full dump.

import * as constants from 'netlink/dist/constants.js';
import * as structs from 'netlink/dist/structs.js';
import * as netlink from 'netlink/dist/netlink.js';
import * as rt from 'netlink/dist/rt/structs.js';
import * as ifla from 'netlink/dist/rt/ifla.js';
import { EdgeError, errnoName, KernelError } from '../../errors.js';
import type { Clock, TimerHandle } from '../../clock.js';

/**
 * The parts of the netlink library we use. Its index also loads nl80211,
 * WireGuard and generic-netlink tables we never need (~1.5 MB of RSS on an
 * agent that aims at 64), so the pieces are imported one by one.
 */
export const nl = { ...constants, ...structs, ...netlink, rt, ifla };
export type RtMessage = import('netlink').rt.Message;
type NetlinkSocket = import('netlink').NetlinkSocket;
type NetlinkMessage = import('netlink').NetlinkMessage;

const MAX_INFLIGHT = 16;
const REQUEST_TIMEOUT_MS = 5000;
/** Default event socket buffer: rides out bursts of thousands of neighbour events. */
export const EVENT_RCVBUF = 8 * 1024 * 1024;

/** Fails the requests waiting on a dropped socket; `message` is just the reason. */
class SocketDropped extends EdgeError {
  constructor(why: string) {
    super('E_KERNEL_SOCKET', why);
  }
}

/**
 * One netlink socket with a bound on requests in flight. A socket that errs,
 * gets an unparseable datagram or times out is dropped: the requests waiting
 * on it fail at once (not after their timeout) and the next one reopens it.
 * rtnetlink by default; nf_tables (kernel/netlink/nftables.ts) opens one too.
 */
export class Channel {
  private sock: NetlinkSocket | undefined;
  /** the socket's netlink port id, read once (the library would ask the kernel on every send) */
  private port = 0;
  private broken: { promise: Promise<never>; reject: (e: Error) => void } | undefined;
  private inflight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly maxInflight: number,
    private readonly protocol: number = nl.Protocol.ROUTE,
    // Large dumps (hundreds of FDB entries) arrive in bursts; 1 MiB each way.
    private readonly recvBufferSize = 1 << 20,
  ) {}

  private socket(): { s: NetlinkSocket; port: number; broken: Promise<never> } {
    if (this.sock && this.broken) return { s: this.sock, port: this.port, broken: this.broken.promise };
    const s = nl.createNetlink(this.protocol, { recvBufferSize: this.recvBufferSize, sendBufferSize: 1 << 20 });
    let reject!: (e: Error) => void;
    const promise = new Promise<never>((_, r) => { reject = r; });
    promise.catch(() => { /* observed by the requests racing it */ });
    const broken = { promise, reject };
    s.on('error', (err) => this.drop(s, broken, `socket error: ${(err as Error).message}`));
    s.on('invalid', () => this.drop(s, broken, 'unparseable reply'));
    this.sock = s;
    this.port = s.address().port;
    this.broken = broken;
    return { s, port: this.port, broken: promise };
  }

  drop(s: NetlinkSocket, broken: { reject: (e: Error) => void } | undefined, why: string): void {
    if (this.sock === s) {
      this.sock = undefined;
      this.broken = undefined;
    }
    broken?.reject(new SocketDropped(why));
    try { s.close(); } catch { /* already closed */ }
  }

  async run<T>(fn: (s: NetlinkSocket, port: number) => Promise<T>): Promise<T> {
    if (this.inflight < this.maxInflight) this.inflight++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      const { s, port, broken } = this.socket();
      try {
        return await Promise.race([fn(s, port), broken]);
      } catch (err) {
        if (!(err instanceof KernelError)) {
          this.drop(s, this.sock === s ? this.broken : undefined, (err as Error).message);
        }
        throw err;
      }
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // hand the slot over
      else this.inflight--;
    }
  }

  close(): void {
    if (this.sock) this.drop(this.sock, this.broken, 'closed');
  }
}

/**
 * Requests to rtnetlink. Dumps get a socket of their own and run one at a
 * time: the kernel allows one dump per socket (EBUSY), and the library cannot
 * tell a dump's parts from other replies arriving in between. Everything else
 * runs up to MAX_INFLIGHT at once on a second socket.
 */
export class RequestSocket {
  private readonly dumps = new Channel(1);
  private readonly commands = new Channel(MAX_INFLIGHT);

  async request(op: string, type: number, flags: number, payload: Uint8Array[]): Promise<RtMessage[]> {
    const isDump = (flags & nl.FlagsGet.DUMP) === nl.FlagsGet.DUMP;
    return (isDump ? this.dumps : this.commands).run(async (s, localPort) => {
      let replies: NetlinkMessage[];
      try {
        [replies] = await s.request(type, payload, {
          flags, localPort, timeout: REQUEST_TIMEOUT_MS, checkError: false,
        });
      } catch (err) {
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
    }).catch((err: unknown) => {
      if (err instanceof EdgeError && !(err instanceof SocketDropped)) throw err; // a drop's reason gets the op prefix
      throw new EdgeError('E_KERNEL_SOCKET', `${op}: netlink socket failed: ${(err as Error).message}`, { op });
    });
  }

  close(): void {
    this.dumps.close();
    this.commands.close();
  }
}

export interface EventSink {
  messages(msgs: NetlinkMessage[]): void;
  lost(reason: string): void;
}

/**
 * Reports ENOBUFS overruns and reopens as lost events. Relies on our patch to
 * netlink@0.3.0 (native/netlink-0.3.0.patch): unpatched, an overrun aborts
 * the process instead of reaching the 'error' handler.
 */
export class EventSocket {
  private sock: NetlinkSocket | undefined;
  private reopenTimer: TimerHandle | undefined;
  private closed = false;

  constructor(
    private readonly groups: number[], private readonly sink: EventSink, private readonly clock: Clock,
    private readonly rcvbuf = EVENT_RCVBUF, private readonly protocol: number = nl.Protocol.ROUTE,
  ) {}

  start(): void {
    this.closed = false;
    this.open();
  }

  private open(): void {
    const s = nl.createNetlink(this.protocol, { recvBufferSize: this.rcvbuf, sendBufferSize: 1 << 16 });
    for (const g of this.groups) s.addMembership(g);
    s.on('message', (msgs) => {
      try {
        this.sink.messages(msgs);
      } catch {
        this.sink.lost('event handler failed');
      }
    });
    s.on('truncatedMessage', () => this.sink.lost('truncated event'));
    s.on('invalid', () => this.sink.lost('unparseable event'));
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
