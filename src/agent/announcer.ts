// Layer: agent (sending). Contract: builds and signs every message this host
// sends and decides when: a periodic announcement (jittered), an urgent
// burst when our address changes (sent at once, repeated in case one is
// lost), and a coalesced "triggered" announcement when a new host appears so
// it learns the cluster in one round trip. Nothing is sent without an
// underlay source address or before our own address is established.

import type { Clock, TimerHandle } from '../clock.js';
import { formatIpv4, type Cidr, type Ipv4 } from '../net/ipv4.js';
import { encode, type Message, type SigningKey } from '../wire/codec.js';
import type { Endpoint, Transport } from '../discovery/transport.js';
import type { Timings } from './config.js';
import type { Counters } from './counters.js';

export interface SelfView {
  cluster: string;
  nodeId: string;
  cidr: Cidr;
  vni: number;
  mac: string;
  underlayIp: Ipv4 | undefined;
  overlayIp: Ipv4 | undefined;
  claimedAt: number | undefined;
}

export interface AnnouncerDeps {
  clock: Clock;
  transport: Transport;
  key: () => SigningKey;
  self: () => SelfView;
  nextSeq: () => number;
  timings: Timings;
  random: () => number;
  counters: Counters;
  discoveryPort: number;
}

const TRIGGER_DELAY_MS = 20;

export class Announcer {
  private periodic: TimerHandle | undefined;
  private burstTimers: TimerHandle[] = [];
  private triggered: TimerHandle | undefined;

  constructor(private readonly d: AnnouncerDeps) {}

  start(): void {
    this.schedulePeriodic();
  }

  stop(): void {
    this.periodic?.cancel();
    this.triggered?.cancel();
    for (const t of this.burstTimers) t.cancel();
    this.periodic = undefined;
    this.triggered = undefined;
    this.burstTimers = [];
  }

  private schedulePeriodic(): void {
    const base = this.d.timings.announceIntervalMs;
    const jitter = base * 0.1 * (2 * this.d.random() - 1);
    this.periodic = this.d.clock.setTimeout(() => {
      this.announce();
      this.schedulePeriodic();
    }, Math.max(1, Math.round(base + jitter)));
  }

  /** Our address (overlay or underlay) changed: tell everyone now, and again shortly. */
  burst(): void {
    for (const t of this.burstTimers) t.cancel();
    this.announce();
    this.burstTimers = this.d.timings.burstRepeatsMs.map((ms) => this.d.clock.setTimeout(() => this.announce(), ms));
  }

  /** A host we did not know appeared: announce soon, once, however many ask. */
  trigger(): void {
    if (this.triggered) return;
    this.triggered = this.d.clock.setTimeout(() => {
      this.triggered = undefined;
      this.announce();
    }, TRIGGER_DELAY_MS);
  }

  private common(): { cluster: string; nodeId: string; seq: number; sentAt: number } | undefined {
    const s = this.d.self();
    if (s.underlayIp === undefined) return undefined;
    return { cluster: s.cluster, nodeId: s.nodeId, seq: this.d.nextSeq(), sentAt: this.d.clock.now() };
  }

  private announceMsg(): Message | undefined {
    const s = this.d.self();
    if (s.overlayIp === undefined || s.underlayIp === undefined || s.claimedAt === undefined) return undefined;
    const c = this.common();
    if (!c) return undefined;
    return { ...c, type: 'announce', overlayIp: s.overlayIp, underlayIp: s.underlayIp, mac: s.mac, claimedAt: s.claimedAt, cidr: s.cidr, vni: s.vni };
  }

  private send(msg: Message, to?: Endpoint): void {
    const packet = encode(msg, this.d.key());
    if (to) this.d.transport.unicast(packet, to);
    else this.d.transport.broadcast(packet);
    this.d.counters.sent(msg.type);
  }

  announce(to?: Endpoint): void {
    const msg = this.announceMsg();
    if (msg) this.send(msg, to);
  }

  probe(candidate: Ipv4, startedAt: number): void {
    const s = this.d.self();
    const c = this.common();
    if (!c || s.underlayIp === undefined) return;
    this.send({ ...c, type: 'probe', overlayIp: candidate, underlayIp: s.underlayIp, mac: s.mac, claimedAt: startedAt, cidr: s.cidr, vni: s.vni });
  }

  defend(to: { nodeId: string; underlayIp: Ipv4 }, overlayIp: Ipv4, holderId: string, holderClaimedAt: number): void {
    const c = this.common();
    if (!c) return;
    this.send({ ...c, type: 'defend', overlayIp, holderId, holderClaimedAt, targetId: to.nodeId },
      { address: formatIpv4(to.underlayIp), port: this.d.discoveryPort });
  }
}
