// Layer: discovery transport (real). Contract: Transport over UDP/IPv4, plus
// raw L2 frames (discovery/raw.ts) when asked. Two sockets: the receiver on
// 0.0.0.0:port hears limited broadcasts; the sender, bound to the physical
// interface's address (setSource() rebinds it on renumbering), pins them there.

import dgram from 'node:dgram';
import type { Endpoint, Transport } from './transport.js';
import { RawChannel } from './raw.js';

export const LIMITED_BROADCAST = '255.255.255.255';

export class UdpTransport implements Transport {
  private readonly rx: dgram.Socket;
  private tx: dgram.Socket | undefined;
  private txReady = false;
  private source: string | undefined;
  /** sends issued while the sender socket is still binding (bounded) */
  private pending: [Buffer, string, number][] = [];
  private handler: ((packet: Buffer, from: Endpoint) => void) | undefined;
  sendErrors = 0;

  private readonly raw: RawChannel | undefined;

  private constructor(private readonly port: number, rx: dgram.Socket, withRaw: boolean) {
    this.rx = rx;
    this.raw = withRaw ? new RawChannel((packet, mac) => this.handler?.(packet, { address: `l2:${mac}`, port: 0 })) : undefined;
    rx.on('message', (msg, rinfo) => this.handler?.(msg, { address: rinfo.address, port: rinfo.port }));
    rx.on('error', () => { /* receive errors are transient; the socket stays bound */ });
  }

  /** withRaw: also send and receive raw L2 frames (needs CAP_NET_RAW). */
  static async open(port: number, withRaw = true): Promise<UdpTransport> {
    const rx = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      rx.once('error', reject);
      rx.bind(port, '0.0.0.0', () => {
        rx.off('error', reject);
        resolve();
      });
    });
    return new UdpTransport(port, rx, withRaw);
  }

  onPacket(handler: (packet: Buffer, from: Endpoint) => void): void {
    this.handler = handler;
  }

  setSource(address: string | undefined): void {
    if (address === this.source) return;
    this.source = address;
    const old = this.tx;
    this.tx = undefined;
    this.txReady = false;
    this.pending = [];
    old?.close();
    if (!address) return;
    const tx = dgram.createSocket({ type: 'udp4' });
    tx.on('error', () => {
      this.sendErrors++;
      if (this.tx === tx) {
        this.tx = undefined;
        this.txReady = false;
        this.source = undefined; // rebind on the next setSource()
      }
      tx.close();
    });
    tx.bind(0, address, () => {
      if (this.tx !== tx) return;
      tx.setBroadcast(true);
      this.txReady = true;
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

  setLink(index: number | undefined): void {
    this.raw?.setLink(index);
  }

  canBroadcast(): boolean {
    return this.tx !== undefined || Boolean(this.raw?.ready);
  }

  /** Why raw L2 discovery is off, if it is. */
  get rawError(): string | undefined {
    return this.raw ? this.raw.openError : 'disabled';
  }

  broadcast(packet: Buffer): void {
    this.raw?.broadcast(packet);
    if (this.tx) this.send(packet, LIMITED_BROADCAST, this.port);
  }

  unicast(packet: Buffer, to: Endpoint): void {
    this.send(packet, to.address, to.port);
  }

  async close(): Promise<void> {
    this.raw?.close();
    this.tx?.close();
    this.tx = undefined;
    await new Promise<void>((resolve) => this.rx.close(() => resolve()));
  }
}
