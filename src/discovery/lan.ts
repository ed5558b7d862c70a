// Layer: discovery transport (real). Contract: the Transport the agent runs
// on, made of two channels main builds and passes in: UDP/IPv4 (udp.ts) and,
// unless it is off, raw L2 frames (raw.ts). A broadcast goes out on both;
// packets from either reach one handler, raw frames as from "l2:<mac>".

import type { ChannelHealth, Endpoint, Transport, TransportHealth } from './transport.js';
import type { UdpLink } from './udp.js';
import type { RawLink } from './raw.js';

const RAW_OFF: ChannelHealth = {
  state: 'off', error: 'raw L2 discovery is disabled', lastReceivedAt: null, received: 0, sendErrors: 0,
};

export class LanTransport implements Transport {
  constructor(private readonly udp: UdpLink, private readonly raw: RawLink | undefined) {}

  onPacket(handler: (packet: Buffer, from: Endpoint) => void): void {
    this.udp.onPacket(handler);
    this.raw?.onFrame((packet, mac) => handler(packet, { address: `l2:${mac}`, port: 0 }));
  }

  setSource(address: string | undefined): void {
    this.udp.setSource(address);
  }

  setLink(index: number | undefined): void {
    this.raw?.setLink(index);
  }

  canBroadcast(): boolean {
    return this.udp.ready || Boolean(this.raw?.ready);
  }

  health(): TransportHealth {
    return { udp: this.udp.health(), raw: this.raw ? this.raw.health() : RAW_OFF };
  }

  broadcast(packet: Buffer): void {
    this.raw?.broadcast(packet);
    this.udp.broadcast(packet);
  }

  unicast(packet: Buffer, to: Endpoint): void {
    this.udp.unicast(packet, to);
  }

  async close(): Promise<void> {
    this.raw?.close();
    await this.udp.close();
  }
}
