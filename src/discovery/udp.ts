// Layer: discovery transport (real). Contract: Transport over UDP/IPv4, plus
// raw L2 frames (discovery/raw.ts) when asked. Two sockets: the receiver on
// 0.0.0.0:port hears limited broadcasts whatever the NIC does; the sender,
// bound to the physical interface's address (setSource() rebinds it on
// renumbering), pins them there. A sender that fails is rebound with backoff.

import dgram from 'node:dgram';
import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';
import type { ChannelHealth, Endpoint, Transport, TransportHealth } from './transport.js';
import { RawChannel } from './raw.js';

const OFF: ChannelHealth = { state: 'off', error: 'raw L2 discovery is disabled', lastReceivedAt: null, received: 0, sendErrors: 0 };
const REBIND_FIRST_MS = 250;
const REBIND_MAX_MS = 8000;

export const LIMITED_BROADCAST = '255.255.255.255';

export interface TransportOptions {
  /** also send and receive raw L2 frames (needs CAP_NET_RAW; default true) */
  raw?: boolean;
  /** channel state changes are logged here */
  log?: Logger | undefined;
}

export class UdpTransport implements Transport {
  private readonly rx: dgram.Socket;
  private tx: dgram.Socket | undefined;
  private txReady = false;
  /** the address the sender should be bound to, and the one it is bound (or binding) to */
  private wanted: string | undefined;
  private source: string | undefined;
  private rebindTimer: TimerHandle | undefined;
  private rebindMs = REBIND_FIRST_MS;
  /** sends issued while the sender socket is still binding (bounded) */
  private pending: [Buffer, string, number][] = [];
  private handler: ((packet: Buffer, from: Endpoint) => void) | undefined;
  private sendErrors = 0;
  private received = 0;
  private lastReceivedAt: number | null = null;
  /** why the sender could not be bound, while it cannot */
  private txError: string | null = null;

  private readonly raw: RawChannel | undefined;

  private constructor(private readonly port: number, rx: dgram.Socket, private readonly clock: Clock, opts: TransportOptions) {
    this.rx = rx;
    this.raw = opts.raw === false ? undefined
      : new RawChannel((packet, mac) => this.handler?.(packet, { address: `l2:${mac}`, port: 0 }), { clock, log: opts.log });
    rx.on('message', (msg, rinfo) => {
      this.received++;
      this.lastReceivedAt = clock.now();
      this.handler?.(msg, { address: rinfo.address, port: rinfo.port });
    });
    rx.on('error', () => { /* receive errors are transient; the socket stays bound to 0.0.0.0, whatever the NIC does */ });
  }

  static async open(port: number, clock: Clock, opts: TransportOptions = {}): Promise<UdpTransport> {
    // no SO_REUSEADDR: nobody else may bind the port on one of our addresses and take unicast discovery
    const rx = dgram.createSocket({ type: 'udp4' });
    await new Promise<void>((resolve, reject) => {
      rx.once('error', reject);
      rx.bind(port, '0.0.0.0', () => {
        rx.off('error', reject);
        resolve();
      });
    });
    return new UdpTransport(port, rx, clock, opts);
  }

  onPacket(handler: (packet: Buffer, from: Endpoint) => void): void {
    this.handler = handler;
  }

  setSource(address: string | undefined): void {
    this.wanted = address;
    this.bind(address);
  }

  private bind(address: string | undefined): void {
    if (address === this.source) return;
    this.source = address;
    const old = this.tx;
    this.tx = undefined;
    this.txReady = false;
    this.pending = [];
    old?.close();
    if (!address) return;
    const tx = dgram.createSocket({ type: 'udp4' });
    tx.on('error', (err: NodeJS.ErrnoException) => {
      this.sendErrors++;
      if (this.tx === tx) {
        this.txError = `cannot send from ${address}: ${err.code ?? err.message}`;
        this.tx = undefined;
        this.txReady = false;
        this.source = undefined; // rebound by the next setSource(), or by the timer
        this.rebindLater();
      }
      tx.close();
    });
    tx.bind(0, address, () => {
      if (this.tx !== tx) return;
      tx.setBroadcast(true);
      this.txReady = true;
      this.txError = null;
      this.rebindMs = REBIND_FIRST_MS;
      const queued = this.pending;
      this.pending = [];
      for (const [p, a, port] of queued) this.send(p, a, port);
    });
    this.tx = tx;
  }

  private rebindLater(): void {
    if (this.rebindTimer) return;
    const delay = this.rebindMs;
    this.rebindMs = Math.min(REBIND_MAX_MS, this.rebindMs * 2);
    this.rebindTimer = this.clock.setTimeout(() => {
      this.rebindTimer = undefined;
      this.bind(this.wanted);
    }, delay);
  }

  private send(packet: Buffer, address: string, port: number): void {
    const tx = this.tx;
    if (tx && !this.txReady && this.pending.length < 16) {
      this.pending.push([packet, address, port]); // the socket is binding to a new address
      return;
    }
    if (!tx || !this.txReady) {
      this.sendErrors++;
      return;
    }
    tx.send(packet, port, address, (err) => {
      if (err) this.sendErrors++;
    });
  }

  setLink(index: number | undefined): void {
    this.raw?.setLink(index);
  }

  canBroadcast(): boolean {
    return this.tx !== undefined || Boolean(this.raw?.ready);
  }

  health(): TransportHealth {
    const up = this.tx !== undefined && this.txReady;
    const error = up ? null : this.txError ?? (this.source === undefined ? 'no IPv4 address on the physical interface' : 'binding');
    return {
      udp: { state: up ? 'up' : 'down', error, lastReceivedAt: this.lastReceivedAt, received: this.received, sendErrors: this.sendErrors },
      raw: this.raw ? this.raw.health() : OFF,
    };
  }

  broadcast(packet: Buffer): void {
    this.raw?.broadcast(packet);
    if (this.tx) this.send(packet, LIMITED_BROADCAST, this.port);
  }

  unicast(packet: Buffer, to: Endpoint): void {
    this.send(packet, to.address, to.port);
  }

  async close(): Promise<void> {
    this.rebindTimer?.cancel();
    this.raw?.close();
    this.tx?.close();
    this.tx = undefined;
    await new Promise<void>((resolve) => this.rx.close(() => resolve()));
  }
}
