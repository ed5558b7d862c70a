// Layer: agent (address claim state machine). Contract: a host with a
// persisted address keeps it and never probes. A new host probes for a free
// address RFC 5227 style — a random wait, `probeCount` probes, a quiet
// period — and only then establishes it (the agent persists before it
// configures). Conflicts follow allocator.claimWins on every host alike:
// established beats probing, older claim beats newer, lower id breaks ties.
// All inputs here are authenticated, replay-checked messages.

import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';
import { claimWins, pickAddress, type Claim } from '../alloc/allocator.js';
import { formatIpv4, type Cidr, type Ipv4 } from '../net/ipv4.js';
import type { AnnounceMsg, DefendMsg, ProbeMsg } from '../wire/codec.js';
import type { Peer, PeerTable } from '../peers/table.js';
import type { Timings } from './config.js';

export type Phase =
  | { kind: 'waiting' }
  | { kind: 'probing'; candidate: Ipv4; startedAt: number; sent: number }
  | { kind: 'established'; ip: Ipv4; claimedAt: number }
  | { kind: 'exhausted' };

export interface AddressingDeps {
  clock: Clock;
  log: Logger;
  cidr: Cidr;
  nodeId: string;
  peers: PeerTable;
  timings: Timings;
  random: () => number;
  sendProbe(candidate: Ipv4, startedAt: number): void;
  /** Persist the claim (synchronously); false if it could not be written. Nothing is configured before this succeeds. */
  persistClaim(ip: Ipv4, claimedAt: number): boolean;
  /** The claim is persisted and in effect: configure and announce it. */
  established(): void;
  /** We lost our established address to `winner`: unconfigure it and forget the claim. */
  relinquish(ip: Ipv4, winner: string): void;
}

/** What the agent should send in answer to a probe. */
export type ProbeReply = { kind: 'announce' } | { kind: 'defend'; holder: Peer } | undefined;

const PROBER_RESERVATION_MS = 10_000;

export class Addressing {
  phase: Phase = { kind: 'waiting' };
  private timer: TimerHandle | undefined;
  /** addresses others probe (and beat us to) or hold per a defend, with expiry (monotonic) */
  private readonly reserved = new Map<Ipv4, { claim: Claim; until: number }>();
  private canSend = false;

  constructor(private readonly d: AddressingDeps) {}

  /** Starts from a persisted claim, or begins probing once packets can be sent. */
  start(persisted: { ip: Ipv4; claimedAt: number } | undefined): void {
    if (persisted) this.phase = { kind: 'established', ip: persisted.ip, claimedAt: persisted.claimedAt };
    else this.maybeBegin();
  }

  /** The underlay gained (true) or lost (false) an address to send from. */
  setCanSend(yes: boolean): void {
    this.canSend = yes;
    if (yes) this.maybeBegin();
  }

  get ip(): Ipv4 | undefined {
    return this.phase.kind === 'established' ? this.phase.ip : undefined;
  }

  get claimedAt(): number | undefined {
    return this.phase.kind === 'established' ? this.phase.claimedAt : undefined;
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private maybeBegin(): void {
    if ((this.phase.kind === 'waiting' || this.phase.kind === 'exhausted') && this.canSend) this.begin();
  }

  private taken(): Set<Ipv4> {
    const now = this.d.clock.monotonic();
    const out = this.d.peers.takenAddresses();
    for (const [ip, r] of this.reserved) {
      if (r.until < now) this.reserved.delete(ip);
      else out.add(ip);
    }
    return out;
  }

  private begin(): void {
    this.stop();
    const candidate = pickAddress(this.d.cidr, this.d.nodeId, this.taken());
    if (candidate === undefined) {
      this.phase = { kind: 'exhausted' };
      this.d.log.error({ code: 'E_EXHAUSTED' }, 'no free address left in the overlay CIDR; retrying in 5 s');
      this.timer = this.d.clock.setTimeout(() => { this.phase = { kind: 'waiting' }; this.maybeBegin(); }, 5000);
      return;
    }
    this.phase = { kind: 'probing', candidate, startedAt: this.d.clock.now(), sent: 0 };
    this.d.log.info({ new: formatIpv4(candidate) }, 'probing for an overlay address');
    this.timer = this.d.clock.setTimeout(() => this.tick(), Math.floor(this.d.random() * this.d.timings.probeWaitMs));
  }

  private tick(): void {
    const p = this.phase;
    if (p.kind !== 'probing') return;
    const t = this.d.timings;
    if (p.sent < t.probeCount) {
      this.d.sendProbe(p.candidate, p.startedAt);
      p.sent++;
      this.timer = this.d.clock.setTimeout(() => this.tick(), p.sent < t.probeCount ? t.probeIntervalMs : t.announceWaitMs);
      return;
    }
    const claimedAt = this.d.clock.now();
    this.timer = undefined;
    if (!this.d.persistClaim(p.candidate, claimedAt)) {
      // Never use an address we could not persist: a restart would lose it.
      this.phase = { kind: 'waiting' };
      this.timer = this.d.clock.setTimeout(() => this.maybeBegin(), this.d.timings.retryMs);
      return;
    }
    this.phase = { kind: 'established', ip: p.candidate, claimedAt };
    this.d.log.info({ new: formatIpv4(p.candidate) }, 'overlay address claimed and persisted');
    this.d.established();
  }

  private retry(why: string, extra: Record<string, unknown>): void {
    this.d.log.info({ ...extra, old: this.phase.kind === 'probing' ? formatIpv4(this.phase.candidate) : undefined }, `probe abandoned: ${why}`);
    this.begin();
  }

  private me(): Claim {
    return { nodeId: this.d.nodeId, claimedAt: this.claimedAt ?? 0, established: true };
  }

  /** Call after the peer table has recorded `msg`. Returns true if we should re-announce at once (defend). */
  onAnnounce(msg: AnnounceMsg): boolean {
    const p = this.phase;
    if (p.kind === 'probing' && msg.overlayIp === p.candidate) {
      this.retry('address held by an established peer', { peer: msg.nodeId });
      return false;
    }
    if (p.kind !== 'established' || msg.overlayIp !== p.ip) return false;
    const them: Claim = { nodeId: msg.nodeId, claimedAt: msg.claimedAt, established: true };
    if (claimWins(this.me(), them)) return true;
    this.lose(msg.nodeId, msg.claimedAt);
    return false;
  }

  onProbe(msg: ProbeMsg): ProbeReply {
    const p = this.phase;
    if (p.kind === 'established' && msg.overlayIp === p.ip) return { kind: 'announce' };
    if (p.kind === 'probing' && msg.overlayIp === p.candidate) {
      const them: Claim = { nodeId: msg.nodeId, claimedAt: msg.claimedAt, established: false };
      const me: Claim = { nodeId: this.d.nodeId, claimedAt: p.startedAt, established: false };
      if (claimWins(them, me)) {
        this.reserved.set(msg.overlayIp, { claim: them, until: this.d.clock.monotonic() + PROBER_RESERVATION_MS });
        this.retry('another host probed the same address first', { peer: msg.nodeId });
      }
      return undefined;
    }
    const holder = this.d.peers.holders(msg.overlayIp).find((h) => h.id !== msg.nodeId);
    return holder ? { kind: 'defend', holder } : undefined;
  }

  onDefend(msg: DefendMsg): void {
    if (msg.targetId !== this.d.nodeId || msg.holderId === this.d.nodeId) return;
    const holder: Claim = { nodeId: msg.holderId, claimedAt: msg.holderClaimedAt, established: true };
    const p = this.phase;
    if (p.kind === 'probing' && msg.overlayIp === p.candidate) {
      this.reserved.set(msg.overlayIp, { claim: holder, until: Number.POSITIVE_INFINITY });
      this.retry('address reserved by a known host', { peer: msg.holderId });
      return;
    }
    if (p.kind === 'established' && msg.overlayIp === p.ip && claimWins(holder, this.me())) {
      this.reserved.set(msg.overlayIp, { claim: holder, until: Number.POSITIVE_INFINITY });
      this.lose(msg.holderId, msg.holderClaimedAt);
    }
  }

  private lose(winner: string, winnerClaimedAt: number): void {
    const p = this.phase;
    if (p.kind !== 'established') return;
    this.d.log.warn({
      code: 'E_CONFLICT', peer: winner, node: this.d.nodeId, old: formatIpv4(p.ip),
      ourClaimedAt: p.claimedAt, theirClaimedAt: winnerClaimedAt,
    }, `ADDRESS CONFLICT: ${formatIpv4(p.ip)} is claimed by node ${winner} with an older claim than ours (node ${this.d.nodeId}); moving to a new address`);
    this.phase = { kind: 'waiting' };
    this.d.relinquish(p.ip, winner);
    this.maybeBegin();
  }
}
