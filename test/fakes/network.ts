// Test double: an in-memory LAN for Transports, with both paths of the real
// one (discovery/udp.ts + raw.ts). UDP needs a source address: a broadcast
// reaches every other member of the sender's L2 segment, a unicast the
// member whose source matches (segments are routed). Raw L2 (when the LAN
// carries it, `raw`): every broadcast also goes out as a frame from
// `l2:<sender MAC>` to each member of the segment whose raw socket is open
// (setLink), with or without IPv4. Delivery goes through the fake clock;
// both paths can be partitioned, dropped (loss), captured and injected.

import { isL2, type ChannelHealth, type Endpoint, type Transport,
  type TransportHealth } from '../../src/discovery/transport.js';
import type { FakeClock } from './clock.js';

/** how a copy travels */
export type Path = 'broadcast' | 'unicast' | 'raw';

/** A locally administered MAC, distinct for each n < 65536. */
const nthMac =
  (n: number): string => `02:fa:4e:00:${[n >> 8, n & 0xff].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;

export class FakeLan {
  readonly members: FakeTransport[] = [];
  /** every copy put on the wire (`from`: source IP, or `l2:<mac>` for a frame), for tests that replay or inspect */
  readonly captured: { packet: Buffer; from: string; via: Path }[] = [];
  loss: (from: FakeTransport, to: FakeTransport, via: Path) => boolean = () => false;
  /** L2 segment of each member (default 0): broadcasts and frames stay inside one, unicasts are routed */
  readonly segments = new Map<FakeTransport, number>();
  /** raw L2 frames are carried (off: UDP only) */
  raw = false;
  /** latency of raw frames (UDP: delayMs) */
  rawDelayMs: number;
  private groups: Map<FakeTransport, number> | undefined;
  private macs = 0;

  constructor(readonly clock: FakeClock, public delayMs = 1, readonly port = 9477) {
    this.rawDelayMs = delayMs;
  }

  /** A new member; `mac` is its physical NIC's (default: a distinct one). */
  join(mac = nthMac(++this.macs)): FakeTransport {
    const t = new FakeTransport(this, mac);
    this.members.push(t);
    return t;
  }

  segmentOf(t: FakeTransport): number {
    return this.segments.get(t) ?? 0;
  }

  /** Splits the LAN: members only reach members of their own group (both paths). */
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

  /** Sends one copy from `from` to `to`, if it gets there. */
  deliver(from: FakeTransport, to: FakeTransport, packet: Buffer, via: Path): void {
    if (to.closed || !this.canReach(from, to) || this.loss(from, to, via)) return;
    const src: Endpoint = via === 'raw' ? { address: `l2:${from.mac}`, port: 0 }
      : { address: from.source!, port: 40000 };
    this.later(to, packet, src);
  }

  /** Injects a packet as if an outsider at `address` had sent it to everyone ("l2:<mac>": as a frame). */
  inject(packet: Buffer, address: string): void {
    const l2 = isL2({ address, port: 0 });
    for (const m of this.members) if (!l2 || m.rawOpen) this.later(m, packet, { address, port: l2 ? 0 : 40000 });
  }

  private later(to: FakeTransport, packet: Buffer, from: Endpoint): void {
    const raw = isL2(from);
    this.clock.setTimeout(() => {
      if (to.closed || (raw && !to.rawOpen)) return;
      to.heard(raw ? 'raw' : 'udp', this.clock.now());
      to.handler?.(Buffer.from(packet), from);
    }, raw ? this.rawDelayMs : this.delayMs);
  }
}

export class FakeTransport implements Transport {
  source: string | undefined;
  /** the physical interface's index, as the agent last set it (raw L2 opens on it) */
  link: number | undefined;
  handler: ((packet: Buffer, from: Endpoint) => void) | undefined;
  closed = false;
  sendErrors = 0;
  /** sends that left (a broadcast counts once, whatever the paths) */
  sent = 0;
  private readonly last = { udp: { at: null as number | null, n: 0 }, raw: { at: null as number | null, n: 0 } };

  constructor(private readonly lan: FakeLan, readonly mac: string) {}

  /** A raw socket is open: the LAN carries frames and the agent gave a link. */
  get rawOpen(): boolean {
    return this.lan.raw && this.link !== undefined && !this.closed;
  }

  setSource(address: string | undefined): void {
    this.source = address;
  }

  setLink(index: number | undefined): void {
    this.link = index;
  }

  canBroadcast(): boolean {
    return this.source !== undefined || this.rawOpen;
  }

  /** A packet arrived over `channel` (the LAN calls this). */
  heard(channel: 'udp' | 'raw', at: number): void {
    this.last[channel].at = at;
    this.last[channel].n++;
  }

  health(): TransportHealth {
    const ch = (up: boolean, error: string, c: { at: number | null; n: number }): ChannelHealth => (
      { state: up ? 'up' : 'down', error: up ? null : error, lastReceivedAt: c.at, received: c.n,
        sendErrors: this.sendErrors });
    return {
      udp: ch(this.source !== undefined, 'no IPv4 address on the physical interface', this.last.udp),
      raw: this.lan.raw ? ch(this.rawOpen, 'no physical interface', this.last.raw)
        : { state: 'off', error: 'raw L2 discovery is disabled', lastReceivedAt: null, received: 0, sendErrors: 0 },
    };
  }

  onPacket(handler: (packet: Buffer, from: Endpoint) => void): void {
    this.handler = handler;
  }

  broadcast(packet: Buffer): void {
    if (!this.canBroadcast()) { this.sendErrors++; return; }
    this.sent++;
    const seg = this.lan.segmentOf(this);
    const others = this.lan.members.filter((m) => m !== this && this.lan.segmentOf(m) === seg);
    // like the real transport: the frame first, then the UDP copy
    if (this.rawOpen) this.send(packet, `l2:${this.mac}`, 'raw', others);
    if (this.source) this.send(packet, this.source, 'broadcast', others);
  }

  unicast(packet: Buffer, to: Endpoint): void {
    if (!this.source) { this.sendErrors++; return; }
    this.sent++;
    this.send(packet, this.source, 'unicast', this.lan.members.filter((m) => m !== this && m.source === to.address));
  }

  private send(packet: Buffer, from: string, via: Path, to: FakeTransport[]): void {
    this.lan.captured.push({ packet: Buffer.from(packet), from, via });
    for (const m of to) this.lan.deliver(this, m, packet, via);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.link = undefined;
  }
}
