// Layer: discovery transport (raw L2). Contract: our packets as Ethernet
// broadcast frames (own EtherType, native AF_PACKET) on the physical
// interface, so hosts meet before they have IPv4 or when DHCP split one
// segment into subnets. A socket that reports an error (the link went down,
// the NIC vanished) is closed; setLink() — called on every link event —
// opens a new one at once, and a timer retries with backoff meanwhile. Each
// source MAC has a budget of frames (fairness: one flooding MAC crowds no one
// out); all together are read at a bounded rate: the rest waits in the kernel.
// Built by main (its own seam: RawLink); LanTransport gives it its handler.

import type { Clock, TimerHandle } from '../clock.js';
import { errnoName } from '../errors.js';
import type { Logger } from '../log.js';
import { openPacketSocket, type PacketSocket } from '../native/addon.js';
import { KeyedBuckets, TokenBucket } from '../util/ratelimit.js';
import { RetryTimer } from '../util/retry.js';
import { printable } from '../util/text.js';
import { dropSources } from './bpf.js';
import { DROP_FOR_MS, DropList } from './droplist.js';
import type { ChannelHealth } from './transport.js';

/** IEEE 802 "Local Experimental Ethertype 1". */
export const DISCOVERY_ETHERTYPE = 0x88b5;

const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 8000;
/**
 * Frames each source MAC may hand on a second (and a burst): a host sends a
 * few (an announcement every 5 s, bursts of three on a change, answers; more
 * while a site of dozens starts at once). The excess of a source over its
 * budget is dropped right after the read, so one flooding MAC cannot crowd
 * the others out (nftables cannot see AF_PACKET frames); a source that keeps
 * going past EXCESS is dropped in the kernel for a while (droplist.ts).
 */
export const PER_SOURCE = { perSecond: 200, burst: 500 };
export const EXCESS = { perSecond: 20, burst: 200 };
const MAX_SOURCES = 4096;
/**
 * Frames read a second in all (and a burst): the CPU's guard against a flood
 * from made-up MACs. Above it reading stops for a moment and the kernel drops
 * the excess, for every source alike. A LAN of hundreds of hosts renumbering
 * at once stays well under.
 */
export const READ_PER_SECOND = 20_000;
const READ_BURST = 5000;
const FLOOD_PAUSE_MS = 100;
const FLOOD_LOG_EVERY_MS = 60_000;

export type FrameHandler = (packet: Buffer, srcMac: string) => void;

/** The raw L2 channel as the transport uses it (tests give a fake). */
export interface RawLink {
  /** where each received packet goes, with the frame's source MAC */
  onFrame(handler: FrameHandler): void;
  /** the physical interface (undefined: none) */
  setLink(index: number | undefined): void;
  readonly ready: boolean;
  broadcast(packet: Buffer): void;
  health(): ChannelHealth;
  close(): void;
}

export interface RawOpener {
  (ifindex: number, onFrame: (frame: Buffer, srcMac: string) => void, onError: (errno: number) => void): PacketSocket;
}

export const openRaw: RawOpener = (ifindex, onFrame, onError) =>
  openPacketSocket(ifindex, DISCOVERY_ETHERTYPE, onFrame, onError);

/** Length (u16 BE) first: short frames get padded on the wire. */
export function frame(packet: Buffer): Buffer {
  const out = Buffer.alloc(2 + packet.length);
  out.writeUInt16BE(packet.length, 0);
  packet.copy(out, 2);
  return out;
}

/** The packet inside a frame, or the whole frame if its length is wrong (the decoder then counts it). */
export function unframe(f: Buffer): Buffer {
  if (f.length < 2) return f;
  const len = f.readUInt16BE(0);
  return len <= f.length - 2 ? f.subarray(2, 2 + len) : f;
}

export class RawChannel implements RawLink {
  private sock: PacketSocket | undefined;
  private index: number | undefined;
  private error: string | null = null;
  private readonly retry: RetryTimer;
  private onPacket: FrameHandler = () => {};
  private lastReceivedAt: number | null = null;
  private received = 0;
  private sendErrors = 0;
  private closed = false;
  private readonly budget: TokenBucket;
  private readonly perSource = new KeyedBuckets(PER_SOURCE.perSecond, PER_SOURCE.burst, MAX_SOURCES);
  /** how far past its budget each source may go before the kernel drops it */
  private readonly excess = new KeyedBuckets(EXCESS.perSecond, EXCESS.burst, MAX_SOURCES);
  private overBudgetLoggedAt = -Infinity;
  /** sources over their budget: the kernel drops their frames for a while */
  private readonly drops: DropList;
  private resumeTimer: TimerHandle | undefined;
  private floodLoggedAt = -Infinity;

  private readonly clock: Clock;
  private readonly open: RawOpener;
  private readonly log: Logger | undefined;
  /** the last state logged: only changes are logged, not every retry */
  private loggedDown = false;

  constructor(o: { clock: Clock; log?: Logger | undefined; open?: RawOpener }) {
    this.clock = o.clock;
    this.log = o.log;
    this.open = o.open ?? openRaw;
    this.budget = new TokenBucket(READ_PER_SECOND, READ_BURST, o.clock.monotonic());
    this.retry = new RetryTimer(o.clock, () => {
      if (!this.sock) this.connect();
    }, { firstMs: RETRY_FIRST_MS, maxMs: RETRY_MAX_MS });
    this.drops = new DropList(o.clock, () => this.filter());
  }

  /** Hands the drop list to the kernel (a socket that cannot take it still drops those frames here). */
  private filter(): void {
    const errno = this.sock?.setFilter(dropSources(this.drops.macs)) ?? 0;
    if (errno !== 0) this.log?.warn({ channel: 'raw', err: errnoName(errno) }, 'raw L2 drop list not in the kernel');
  }

  onFrame(handler: FrameHandler): void {
    this.onPacket = handler;
  }

  /** The physical interface (undefined: none): opens a socket on it unless one is open and working there. */
  setLink(index: number | undefined): void {
    if (index === this.index && (this.sock || index === undefined)) return;
    this.drop();
    this.index = index;
    this.error = null;
    if (index === undefined) return;
    this.connect();
  }

  private connect(): void {
    const index = this.index;
    if (index === undefined || this.closed) return;
    try {
      const sock = this.open(index, (f, mac) => this.frameIn(f, mac), (errno) => this.failed(sock, errnoName(errno)));
      this.sock = sock;
      if (this.drops.macs.length) this.filter();
      this.error = null;
      if (this.loggedDown) this.log?.info({ channel: 'raw', ifindex: index }, 'raw L2 discovery socket open again');
      this.loggedDown = false;
    } catch (err) {
      this.failed(undefined, (err as Error).message); // e.g. no CAP_NET_RAW: UDP discovery still works
    }
  }

  private frameIn(f: Buffer, mac: string): void {
    this.received++;
    this.lastReceivedAt = this.clock.now();
    this.retry.reset();
    const now = this.clock.monotonic();
    if (!this.budget.take(now)) return this.flooded(now);
    if (!this.perSource.take(mac, now)) return this.overBudget(mac, now);
    this.onPacket(unframe(f), mac);
  }

  /** One source sends more than a host does: past its excess too, the kernel drops its frames for a while. */
  private overBudget(mac: string, now: number): void {
    if (this.excess.take(mac, now)) return;
    if (!this.drops.add(mac) || now - this.overBudgetLoggedAt < FLOOD_LOG_EVERY_MS) return;
    this.overBudgetLoggedAt = now;
    this.log?.warn({ channel: 'raw', ifindex: this.index, from: printable(mac) },
      `raw L2 frames from ${printable(mac)} over ${PER_SOURCE.perSecond} a second: `
      + `dropped for ${DROP_FOR_MS / 1000} s`);
  }

  /** More frames than a LAN sends: stop reading for a moment (the kernel drops the excess, not our CPU). */
  private flooded(now: number): void {
    const sock = this.sock;
    if (!sock || this.resumeTimer) return;
    sock.pause();
    if (now - this.floodLoggedAt >= FLOOD_LOG_EVERY_MS) {
      this.floodLoggedAt = now;
      this.log?.warn({ channel: 'raw', ifindex: this.index },
        `raw L2 discovery flooded: reading at most ${READ_PER_SECOND} frames a second`);
    }
    this.resumeTimer = this.clock.setTimeout(() => {
      this.resumeTimer = undefined;
      if (this.sock === sock) sock.resume();
    }, FLOOD_PAUSE_MS);
  }

  /** The socket receives nothing more: close it, and try again later unless a link event comes first. */
  private failed(sock: PacketSocket | undefined, why: string): void {
    if (sock && sock !== this.sock) return; // an old socket's last word
    this.drop();
    this.error = why;
    if (!this.loggedDown) {
      this.log?.warn({ channel: 'raw', ifindex: this.index, err: why }, 'raw L2 discovery socket failed; reopening');
    }
    this.loggedDown = true;
    this.retry.schedule();
  }

  private drop(): void {
    this.sock?.close();
    this.sock = undefined;
  }

  get ready(): boolean {
    return this.sock !== undefined;
  }

  health(): ChannelHealth {
    const error = this.sock ? null : this.error ?? 'no physical interface';
    return {
      state: this.sock ? 'up' : 'down', error, lastReceivedAt: this.lastReceivedAt, received: this.received,
      sendErrors: this.sendErrors,
    };
  }

  broadcast(packet: Buffer): void {
    if (!this.sock) return;
    const errno = this.sock.send(frame(packet));
    if (errno !== 0) this.sendErrors++;
  }

  close(): void {
    this.closed = true;
    this.retry.stop();
    this.drops.stop();
    this.resumeTimer?.cancel();
    this.resumeTimer = undefined;
    this.drop();
    this.index = undefined;
  }
}
