// Layer: discovery (UDP channel). Contract: signed discovery packets over
// UDP/IPv4. Two sockets: the receiver on 0.0.0.0:port hears limited
// broadcasts whatever the NIC does; the sender, bound to the physical
// interface's address (setSource() rebinds it on renumbering), pins them
// there. A sender that fails is rebound with backoff. Built by main;
// LanTransport combines it with the raw L2 channel.

import dgram from 'node:dgram';
import type { Clock } from '../clock.js';
import { RetryTimer } from '../util/retry.js';
import type { ChannelHealth, Endpoint } from './transport.js';

const REBIND_FIRST_MS = 250;
const REBIND_MAX_MS = 8000;
/** the receiver's buffer, as the raw channel's (native/packet.cc kReceiveBuffer) */
const RECEIVE_BUFFER = 4 << 20;

export const LIMITED_BROADCAST = '255.255.255.255';

export type DatagramHandler = (packet: Buffer, from: Endpoint) => void;

/** The UDP channel as the transport uses it (tests give a fake). */
export interface UdpLink {
  onPacket(handler: DatagramHandler): void;
  /** the physical interface's IPv4 address (undefined: none): the sender binds to it */
  setSource(address: string | undefined): void;
  /** a sender socket exists */
  readonly ready: boolean;
  broadcast(packet: Buffer): void;
  unicast(packet: Buffer, to: Endpoint): void;
  health(): ChannelHealth;
  close(): Promise<void>;
}

export class UdpChannel implements UdpLink {
  private readonly rx: dgram.Socket;
  private tx: dgram.Socket | undefined;
  private txReady = false;
  /** the address the sender should be bound to, and the one it is bound (or binding) to */
  private wanted: string | undefined;
  private source: string | undefined;
  private readonly rebind: RetryTimer;
  /** sends issued while the sender socket is still binding (bounded) */
  private pending: [Buffer, string, number][] = [];
  private handler: DatagramHandler = () => {};
  private sendErrors = 0;
  private received = 0;
  private lastReceivedAt: number | null = null;
  /** why the sender could not be bound, while it cannot */
  private txError: string | null = null;

  private constructor(private readonly port: number, rx: dgram.Socket, clock: Clock) {
    this.rx = rx;
    this.rebind = new RetryTimer(clock, () => this.bind(this.wanted), {
      firstMs: REBIND_FIRST_MS, maxMs: REBIND_MAX_MS,
    });
    rx.on('message', (msg, rinfo) => {
      this.received++;
      this.lastReceivedAt = clock.now();
      this.handler(msg, { address: rinfo.address, port: rinfo.port });
    });
    rx.on('error', () => {
      /* receive errors are transient; the socket stays bound to 0.0.0.0, whatever the NIC does */
    });
  }

  static async open(port: number, clock: Clock): Promise<UdpChannel> {
    // no SO_REUSEADDR: nobody else may bind the port on one of our addresses and take unicast discovery
    // room for a site's first contact at once (the kernel caps it at net.core.rmem_max)
    const rx = dgram.createSocket({ type: 'udp4', recvBufferSize: RECEIVE_BUFFER });
    await new Promise<void>((resolve, reject) => {
      rx.once('error', reject);
      rx.bind(port, '0.0.0.0', () => {
        rx.off('error', reject);
        resolve();
      });
    });
    return new UdpChannel(port, rx, clock);
  }

  onPacket(handler: DatagramHandler): void {
    this.handler = handler;
  }

  setSource(address: string | undefined): void {
    this.wanted = address;
    this.bind(address);
  }

  /** A sender socket exists (bound, or binding to the current address). */
  get ready(): boolean {
    return this.tx !== undefined;
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
        this.rebind.schedule();
      }
      tx.close();
    });
    tx.bind(0, address, () => {
      if (this.tx !== tx) return;
      tx.setBroadcast(true);
      this.txReady = true;
      this.txError = null;
      this.rebind.reset();
      const queued = this.pending;
      this.pending = [];
      for (const [p, a, port] of queued) this.send(p, a, port);
    });
    this.tx = tx;
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

  health(): ChannelHealth {
    const up = this.tx !== undefined && this.txReady;
    const error = up ? null
      : this.txError ?? (this.source === undefined ? 'no IPv4 address on the physical interface' : 'binding');
    return {
      state: up ? 'up' : 'down', error, lastReceivedAt: this.lastReceivedAt, received: this.received,
      sendErrors: this.sendErrors,
    };
  }

  /** Limited broadcast from our address (no sender socket: nothing). */
  broadcast(packet: Buffer): void {
    if (this.tx) this.send(packet, LIMITED_BROADCAST, this.port);
  }

  unicast(packet: Buffer, to: Endpoint): void {
    this.send(packet, to.address, to.port);
  }

  async close(): Promise<void> {
    this.rebind.stop();
    this.tx?.close();
    this.tx = undefined;
    await new Promise<void>((resolve) => this.rx.close(() => resolve()));
  }
}
