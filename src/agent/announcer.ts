// Layer: agent (sending). Contract: builds and signs every message this host
// sends and decides when: a periodic announcement (jittered), an urgent
// burst when our address changes (sent at once, repeated in case one is
// lost), and a coalesced "triggered" announcement when a new host appears so
// it learns the cluster in one round trip. Everything broadcast is also sent
// by unicast to `remotes()` (seeds given with --peer, peers on other
// segments), so the overlay spans routed underlays. Without an IPv4
// address, messages still go out as raw L2 frames (underlayIp 0.0.0.0), so
// a host can claim its overlay address before DHCP answers.

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
  heldMs: number | undefined;
  pinned: boolean;
  physMac: string | undefined;
}

export interface AnnouncerDeps {
  clock: Clock;
  transport: Transport;
  /** the key that signs (the first of the keyring) */
  key: () => SigningKey;
  self: () => SelfView;
  nextSeq: () => number;
  timings: Timings;
  random: () => number;
  counters: Counters;
  discoveryPort: number;
  /** unicast copies of every broadcast: seeds and peers beyond our LAN */
  remotes: () => Endpoint[];
}

const TRIGGER_DELAY_MS = 20;
const ANSWER_DELAY_MS = 100;
/**
 * For this long after its first announcement, and after its own underlay
 * address changed, a host marks its announcements "fresh": it may have
 * missed peers' news (it was not running, or cut off), so they answer with
 * theirs at once instead of at their next period.
 */
const FRESH_MS = 2000;

export class Announcer {
  private periodic: TimerHandle | undefined;
  private burstTimers: TimerHandle[] = [];
  private triggered: TimerHandle | undefined;
  private freshUntil: number | undefined;
  private ownChange = -Infinity;

  constructor(private readonly d: AnnouncerDeps) {}

  /** Our underlay address changed: ask peers for their news again (see FRESH_MS). */
  markFresh(): void {
    this.ownChange = this.d.clock.monotonic();
    this.freshUntil = this.ownChange + FRESH_MS;
  }

  /** Monotonic time of our last own underlay change (-Infinity: none in this process). */
  get ownChangeAt(): number {
    return this.ownChange;
  }

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
    this.announceWithin(TRIGGER_DELAY_MS);
  }

  /**
   * A peer's fresh announcement asks for our news: answer within 100–200 ms,
   * coalesced with any other pending announcement. Not at once: when a whole
   * LAN renumbers, answers sent at once would compete for the CPU with the
   * FDB updates that bring traffic back, and a few tenths of a second do not
   * matter to a host that just started or moved — a whole period would.
   */
  answerFresh(): void {
    this.announceWithin(ANSWER_DELAY_MS * (1 + this.d.random()));
  }

  private announceWithin(ms: number): void {
    if (this.triggered) return;
    this.triggered = this.d.clock.setTimeout(() => {
      this.triggered = undefined;
      this.announce();
    }, Math.round(ms));
  }

  private common(s: SelfView = this.d.self()): { cluster: string; nodeId: string; seq: number; sentAt: number } | undefined {
    if (!this.d.transport.canBroadcast()) return undefined;
    return { cluster: s.cluster, nodeId: s.nodeId, seq: this.d.nextSeq(), sentAt: this.d.clock.now() };
  }

  private endpoint(ip: Ipv4): Endpoint {
    return { address: formatIpv4(ip), port: this.d.discoveryPort };
  }

  /** A reply to a host: unicast to its underlay address, broadcast when it has none (raw L2 only) or it is unknown. */
  private replyTo(ip: Ipv4 | undefined): Endpoint | undefined {
    return ip === undefined || ip === 0 ? undefined : this.endpoint(ip);
  }

  /** Signs and sends: to one endpoint, or broadcast plus the unicast remotes. */
  private send(msg: Message, to?: Endpoint): void {
    const packet = encode(msg, this.d.key());
    if (to) {
      this.d.transport.unicast(packet, to);
    } else {
      this.d.transport.broadcast(packet);
      for (const r of this.d.remotes()) this.d.transport.unicast(packet, r);
    }
    this.d.counters.sent(msg.type);
  }

  /** Our announcement: broadcast (and to remotes), or a reply to one host (`replyTo`); `echo` answers a challenge. */
  announce(to?: Ipv4, echo?: string): void {
    const s = this.d.self();
    if (s.overlayIp === undefined || s.claimedAt === undefined) return;
    const c = this.common(s);
    if (!c) return;
    const now = this.d.clock.monotonic();
    this.freshUntil ??= now + FRESH_MS; // the first announcement of this process
    this.send({
      ...c, type: 'announce', overlayIp: s.overlayIp, underlayIp: s.underlayIp ?? 0, mac: s.mac, claimedAt: s.claimedAt,
      heldMs: Math.round(s.heldMs ?? 0), cidr: s.cidr, vni: s.vni, ...(s.pinned ? { pinned: true } : {}),
      ...(s.physMac ? { physMac: s.physMac } : {}), ...(echo ? { echo } : {}), ...(now < this.freshUntil ? { fresh: true } : {}),
    }, this.replyTo(to));
  }

  /** false when nothing could be sent (no IPv4 source and no raw L2). */
  probe(candidate: Ipv4, startedAt: number): boolean {
    const s = this.d.self();
    const c = this.common(s);
    if (!c) return false;
    this.send({
      ...c, type: 'probe', overlayIp: candidate, underlayIp: s.underlayIp ?? 0, mac: s.mac, claimedAt: startedAt, heldMs: 0, cidr: s.cidr, vni: s.vni,
      ...(s.physMac ? { physMac: s.physMac } : {}),
    });
    return true;
  }

  /** Tells `to` that `holder` holds overlayIp; unicast when its address is known, else broadcast. */
  defend(to: { nodeId: string; underlayIp: Ipv4 | undefined }, overlayIp: Ipv4, holder: { id: string; claimedAt: number; heldMs: number }, echo?: string): void {
    const c = this.common();
    if (!c) return;
    this.send({
      ...c, type: 'defend', overlayIp, holderId: holder.id, holderClaimedAt: holder.claimedAt, holderHeldMs: Math.round(holder.heldMs),
      targetId: to.nodeId, ...(echo ? { echo } : {}),
    }, this.replyTo(to.underlayIp));
  }

  challenge(targetId: string, overlayIp: Ipv4, nonce: string, targetUnderlay: Ipv4 | undefined): void {
    const c = this.common();
    if (!c) return;
    this.send({ ...c, type: 'challenge', overlayIp, targetId, nonce }, targetUnderlay === undefined ? undefined : this.endpoint(targetUnderlay));
  }

  forget(targetId: string, targetClaimedAt: number, overlayIp: Ipv4, toUnderlay?: Ipv4): void {
    const c = this.common();
    if (!c) return;
    this.send({ ...c, type: 'forget', overlayIp, targetId, targetClaimedAt }, toUnderlay === undefined ? undefined : this.endpoint(toUnderlay));
  }
}
