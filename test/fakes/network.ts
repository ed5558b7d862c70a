// Test double: an in-memory LAN for Transports. Broadcasts reach every other
// member in the same partition; unicasts reach the member whose source
// address matches. Delivery goes through the fake clock (delayMs), can be
// dropped (loss) and can be tapped (to replay captured packets).

import type { Endpoint, Transport } from '../../src/discovery/transport.js';
import type { FakeClock } from './clock.js';

export class FakeLan {
  readonly members: FakeTransport[] = [];
  /** every packet put on the wire, for tests that replay or inspect */
  readonly captured: { packet: Buffer; from: string }[] = [];
  loss: (from: FakeTransport, to: FakeTransport) => boolean = () => false;
  /** L2 segment of each member (default 0): broadcasts stay inside one, unicasts are routed */
  readonly segments = new Map<FakeTransport, number>();
  private groups: Map<FakeTransport, number> | undefined;

  constructor(readonly clock: FakeClock, readonly delayMs = 1, readonly port = 9477) {}

  join(): FakeTransport {
    const t = new FakeTransport(this);
    this.members.push(t);
    return t;
  }

  /** Splits the LAN: members only reach members of their own group. */
  partition(groups: FakeTransport[][]): void {
    this.groups = new Map();
    groups.forEach((g, i) => g.forEach((t) => this.groups!.set(t, i)));
  }

  heal(): void {
    this.groups = undefined;
  }

  canReach(a: FakeTransport, b: FakeTransport): boolean {
    return !this.groups || this.groups.get(a) === this.groups.get(b);
  }

  deliver(from: FakeTransport, to: FakeTransport, packet: Buffer): void {
    if (to.closed || !this.canReach(from, to) || this.loss(from, to)) return;
    const src = from.source!;
    this.clock.setTimeout(() => {
      if (!to.closed) to.handler?.(Buffer.from(packet), { address: src, port: 40000 });
    }, this.delayMs);
  }

  /** Injects a packet as if an outsider at `address` had sent it to everyone. */
  inject(packet: Buffer, address: string): void {
    for (const m of this.members) {
      this.clock.setTimeout(() => {
        if (!m.closed) m.handler?.(Buffer.from(packet), { address, port: 40000 });
      }, this.delayMs);
    }
  }
}

export class FakeTransport implements Transport {
  source: string | undefined;
  handler: ((packet: Buffer, from: Endpoint) => void) | undefined;
  closed = false;
  sendErrors = 0;
  sent = 0;

  constructor(private readonly lan: FakeLan) {}

  link: number | undefined;

  setSource(address: string | undefined): void {
    this.source = address;
  }

  setLink(index: number | undefined): void {
    this.link = index;
  }

  canBroadcast(): boolean {
    return this.source !== undefined;
  }

  onPacket(handler: (packet: Buffer, from: Endpoint) => void): void {
    this.handler = handler;
  }

  broadcast(packet: Buffer): void {
    if (!this.source) { this.sendErrors++; return; }
    this.sent++;
    this.lan.captured.push({ packet: Buffer.from(packet), from: this.source });
    const seg = this.lan.segments.get(this) ?? 0;
    for (const m of this.lan.members) if (m !== this && (this.lan.segments.get(m) ?? 0) === seg) this.lan.deliver(this, m, packet);
  }

  unicast(packet: Buffer, to: Endpoint): void {
    if (!this.source) { this.sendErrors++; return; }
    this.sent++;
    this.lan.captured.push({ packet: Buffer.from(packet), from: this.source });
    for (const m of this.lan.members) if (m !== this && m.source === to.address) this.lan.deliver(this, m, packet);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
