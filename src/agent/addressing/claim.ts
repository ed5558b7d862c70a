// Layer: agent (address claim state machine). Contract: a host with a
// persisted claim keeps it and never probes; a new host probes RFC 5227 style
// (random wait, probes, quiet period) and persists the claim before it is
// established. Conflicts follow the allocator's rules on every host alike.
// An established host moves only on a signed answer to a fresh challenge, so
// a replayed packet never makes it move. A pinned address never moves. A new
// or lost claim is emitted as Actions (configure and announce it, or not).

import type { Clock, TimerHandle } from '../../clock.js';
import { EdgeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { claimWins, pickAddress, probeWins, type Claim } from '../../alloc/allocator.js';
import { formatIpv4, type Cidr, type Ipv4 } from '../../net/ipv4.js';
import type { AnnounceMsg, DefendMsg, ProbeMsg } from '../../wire/codec.js';
import type { Peer, PeerTable } from '../../peers/table.js';
import type { Timings } from '../config.js';
import type { Tenure } from './tenure.js';
import { Challenges } from '../trust/challenge.js';
import type { Emit } from '../actions.js';

export type Phase =
  | { kind: 'waiting' }
  | { kind: 'probing'; candidate: Ipv4; startedAt: number; sent: number }
  | { kind: 'established'; ip: Ipv4; claimedAt: number }
  | { kind: 'exhausted' }
  | { kind: 'failed'; reason: string };

/** Sends our probes (the agent's Sender); false when nothing could be sent. */
export interface ClaimSender {
  probe(candidate: Ipv4, startedAt: number): boolean;
}

/** Persists the claim synchronously (the state file); setClaim() is false when it could not be written. */
export interface ClaimStore {
  setClaim(ip: Ipv4, claimedAt: number): boolean;
  clearClaim(): void;
}

export interface AddressingDeps {
  clock: Clock;
  log: Logger;
  cidr: Cidr;
  nodeId: string;
  peers: PeerTable;
  timings: Timings;
  random: () => number;
  /** operator-pinned address (--overlay-ip), if any */
  pinned?: Ipv4 | undefined;
  send: ClaimSender;
  claims: ClaimStore;
  tenure: Tenure;
  counters: { conflicts: number };
  /** a claim was established (configure and announce it) or given up (already cleared on disk: unconfigure it) */
  emit: Emit;
}

/** What the agent should send in answer to a probe. */
export type ProbeReply = { kind: 'announce' } | { kind: 'defend'; holder: Peer } | undefined;

const PROBER_RESERVATION_MS = 10_000;

export class Addressing {
  phase: Phase = { kind: 'waiting' };
  private timer: TimerHandle | undefined;
  /** addresses others probe (and beat us to) or hold per a defend, with expiry (monotonic) */
  private readonly reserved = new Map<Ipv4, number>();
  private canSend = false;
  private readonly challenges: Challenges;
  /** a new claim is dated no earlier than this (after a forget; see onForgotten) */
  private claimFloor = 0;
  /** Settles once a pinned address is ours; rejects (E_CONFLICT) if it cannot be had. Resolved without a pin. */
  readonly pinSettled: Promise<void>;
  private pin: { resolve: () => void; reject: (e: Error) => void } | undefined;

  constructor(private readonly d: AddressingDeps) {
    this.pinSettled = d.pinned === undefined
      ? Promise.resolve()
      : new Promise((resolve, reject) => { this.pin = { resolve, reject }; });
    this.pinSettled.catch(() => undefined); // may be refused before anyone awaits it
    this.challenges = new Challenges({ clock: d.clock, log: d.log, nodeId: d.nodeId, peers: d.peers, emit: d.emit });
  }

  /** claims on our address that were not confirmed when challenged (status) */
  get unconfirmed(): number {
    return this.challenges.unconfirmed;
  }

  /** Starts from a persisted claim, or begins probing once packets can be sent. */
  start(persisted: { ip: Ipv4; claimedAt: number; heldMs: number } | undefined): void {
    const pin = this.d.pinned;
    if (persisted && (pin === undefined || pin === persisted.ip)) {
      return this.establish(persisted.ip, persisted.claimedAt, persisted.heldMs);
    }
    if (pin !== undefined) {
      const holder = this.d.peers.holders(pin).find((h) => h.id !== this.d.nodeId);
      if (holder) {
        return this.failPinned(`node ${holder.id} holds it (last seen ${new Date(holder.lastSeenAt).toISOString()})`);
      }
    }
    this.maybeBegin();
  }

  /** The underlay gained (true) or lost (false) an address to send from. */
  setCanSend(yes: boolean): void {
    if (yes === this.canSend) return; // told on every read of the interface: only a change counts
    this.canSend = yes;
    if (yes) this.maybeBegin();
    else if (this.phase.kind === 'probing') this.abortProbe('the host can no longer send');
  }

  /** A probe that was not heard proves nothing: start over once we can send. */
  private abortProbe(why: string): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.d.log.info({ old: this.phase.kind === 'probing' ? formatIpv4(this.phase.candidate) : undefined },
      `probe abandoned: ${why}`);
    this.phase = { kind: 'waiting' };
  }

  get ip(): Ipv4 | undefined {
    return this.phase.kind === 'established' ? this.phase.ip : undefined;
  }

  get claimedAt(): number | undefined {
    return this.phase.kind === 'established' ? this.phase.claimedAt : undefined;
  }

  /** How long we have held our claim (monotonic, across restarts), if we hold one. */
  get heldMs(): number | undefined {
    return this.phase.kind === 'established' ? this.d.tenure.heldMs : undefined;
  }

  get isPinned(): boolean {
    return this.d.pinned !== undefined && this.ip === this.d.pinned;
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.challenges.stop();
  }

  private maybeBegin(): void {
    if ((this.phase.kind === 'waiting' || this.phase.kind === 'exhausted') && this.canSend) this.begin();
  }

  private taken(): Set<Ipv4> {
    const now = this.d.clock.monotonic();
    const out = this.d.peers.takenAddresses();
    for (const [ip, until] of this.reserved) {
      if (until < now) this.reserved.delete(ip);
      else out.add(ip);
    }
    return out;
  }

  private begin(): void {
    this.timer?.cancel();
    const candidate = this.d.pinned ?? pickAddress(this.d.cidr, this.d.nodeId, this.taken());
    if (candidate === undefined) {
      this.phase = { kind: 'exhausted' };
      this.d.log.error({ code: 'E_EXHAUSTED' }, 'no free address left in the overlay CIDR; retrying in 5 s');
      this.timer = this.d.clock.setTimeout(() => { this.phase = { kind: 'waiting' }; this.maybeBegin(); }, 5000);
      return;
    }
    this.phase = { kind: 'probing', candidate, startedAt: this.d.clock.now(), sent: 0 };
    this.d.log.info({ new: formatIpv4(candidate), pinned: this.d.pinned !== undefined },
      'probing for an overlay address');
    this.timer = this.d.clock.setTimeout(() => this.tick(), Math.floor(this.d.random() * this.d.timings.probeWaitMs));
  }

  private tick(): void {
    const p = this.phase;
    if (p.kind !== 'probing') return;
    const t = this.d.timings;
    if (!this.canSend) return this.abortProbe('the host can no longer send');
    if (p.sent < t.probeCount) {
      if (!this.d.send.probe(p.candidate, p.startedAt)) return this.abortProbe('a probe could not be sent');
      p.sent++;
      this.timer = this.d.clock.setTimeout(() => this.tick(),
        p.sent < t.probeCount ? t.probeIntervalMs : t.announceWaitMs);
      return;
    }
    const claimedAt = Math.max(this.d.clock.now(), this.claimFloor);
    this.timer = undefined;
    if (!this.d.claims.setClaim(p.candidate, claimedAt)) {
      // Never use an address we could not persist: a restart would lose it.
      this.phase = { kind: 'waiting' };
      this.timer = this.d.clock.setTimeout(() => this.maybeBegin(), this.d.timings.retryMs);
      return;
    }
    this.establish(p.candidate, claimedAt, 0);
    this.d.log.info({ new: formatIpv4(p.candidate) }, 'overlay address claimed and persisted');
    this.d.emit({ reprogram: 'full', burst: true });
  }

  private establish(ip: Ipv4, claimedAt: number, heldMs: number): void {
    this.phase = { kind: 'established', ip, claimedAt };
    this.d.tenure.begin(heldMs);
    this.pin?.resolve();
  }

  private failPinned(why: string): void {
    const ip = formatIpv4(this.d.pinned!);
    this.stop();
    this.phase = { kind: 'failed', reason: why };
    this.pin?.reject(new EdgeError('E_CONFLICT', `overlay IP ${ip} pinned by --overlay-ip is already taken: ${why}; `
      + 'choose another address or release it with edge-overlay forget'));
  }

  /** Our probe lost: pick another address, unless it was pinned. */
  private retry(why: string, extra: Record<string, unknown>): void {
    if (this.d.pinned !== undefined) return this.failPinned(`${why} (node ${String(extra.peer)})`);
    this.d.log.info({ ...extra, old: this.phase.kind === 'probing' ? formatIpv4(this.phase.candidate) : undefined },
      `probe abandoned: ${why}`);
    this.begin();
  }

  private me(): Claim {
    return { nodeId: this.d.nodeId, heldMs: this.heldMs ?? 0, pinned: this.isPinned };
  }

  /** Call after the peer table has recorded `msg`. Returns true if we should re-announce at once (defend). */
  onAnnounce(msg: AnnounceMsg): boolean {
    const p = this.phase;
    if (p.kind === 'probing' && msg.overlayIp === p.candidate) {
      this.retry('address held by an established peer', { peer: msg.nodeId });
      return false;
    }
    if (p.kind !== 'established' || msg.overlayIp !== p.ip) return false;
    const them: Claim = { nodeId: msg.nodeId, heldMs: msg.heldMs, pinned: Boolean(msg.pinned) };
    if (claimWins(this.me(), them)) return true;
    this.contest(msg.nodeId, them, msg.echo);
    return false;
  }

  onProbe(msg: ProbeMsg): ProbeReply {
    const p = this.phase;
    if (p.kind === 'established' && msg.overlayIp === p.ip) return { kind: 'announce' };
    if (p.kind === 'probing' && msg.overlayIp === p.candidate) {
      if (probeWins({ nodeId: msg.nodeId, startedAt: msg.claimedAt },
        { nodeId: this.d.nodeId, startedAt: p.startedAt })) {
        this.reserved.set(msg.overlayIp, this.d.clock.monotonic() + PROBER_RESERVATION_MS);
        this.retry('another host probed the same address first', { peer: msg.nodeId });
      }
      return undefined;
    }
    const holder = this.d.peers.holders(msg.overlayIp).find((h) => h.id !== msg.nodeId);
    return holder ? { kind: 'defend', holder } : undefined;
  }

  onDefend(msg: DefendMsg): void {
    if (msg.targetId !== this.d.nodeId || msg.holderId === this.d.nodeId) return;
    const holder: Claim = { nodeId: msg.holderId, heldMs: msg.holderHeldMs };
    const p = this.phase;
    if (p.kind === 'probing' && msg.overlayIp === p.candidate) {
      this.reserved.set(msg.overlayIp, Number.POSITIVE_INFINITY);
      this.retry('address reserved by a known host', { peer: msg.holderId });
      return;
    }
    if (p.kind === 'established' && msg.overlayIp === p.ip && claimWins(holder, this.me())) {
      this.contest(msg.nodeId, holder, msg.echo);
    }
  }

  /**
   * An operator released our claim made at `claimedAt` (or earlier). A new
   * claim must be dated after it, or peers would take it for the released
   * one too: with a wall clock stepped back (an RTC reset by a power cut)
   * "now" can be earlier than the old claim.
   */
  onForgotten(by: string, claimedAt: number): void {
    this.claimFloor = Math.max(this.claimFloor, claimedAt + 1);
    if (this.phase.kind !== 'established') return;
    this.d.log.warn({ code: 'E_FORGOTTEN', peer: by, old: formatIpv4(this.phase.ip) },
      `this host's overlay address was released by an operator (edge-overlay forget on node ${by}); `
        + 'claiming a new one');
    this.lose(by, undefined);
  }

  /**
   * A claim that beats ours arrived from `asked` (the winner itself or a peer defending it): move only on a fresh
   * answer.
   */
  private contest(asked: string, winner: Claim, echo: string | undefined): void {
    if (this.isPinned) {
      this.d.log.error({ code: 'E_CONFLICT', peer: winner.nodeId, node: this.d.nodeId },
        `ADDRESS CONFLICT: pinned overlay IP ${formatIpv4(this.ip!)} is also claimed by node ${winner.nodeId}; `
        + 'a pinned address never moves — fix the configuration');
      return;
    }
    if (this.challenges.confirm(asked, echo, this.ip!)) this.lose(winner.nodeId, winner.heldMs);
  }

  private lose(winner: string, winnerHeldMs: number | undefined): void {
    const p = this.phase;
    if (p.kind !== 'established') return;
    if (winnerHeldMs !== undefined) {
      this.d.log.warn({
        code: 'E_CONFLICT', peer: winner, node: this.d.nodeId, old: formatIpv4(p.ip),
        ourHeldMs: Math.round(this.heldMs ?? 0), theirHeldMs: Math.round(winnerHeldMs),
      }, `ADDRESS CONFLICT: ${formatIpv4(p.ip)} is claimed by node ${winner} with an older claim than ours `
        + `(node ${this.d.nodeId}); moving to a new address`);
    }
    this.reserved.set(p.ip, Number.POSITIVE_INFINITY);
    this.phase = { kind: 'waiting' };
    this.d.tenure.end();
    this.d.claims.clearClaim();
    this.d.counters.conflicts++;
    this.d.log.warn({ peer: winner, old: formatIpv4(p.ip) }, 'overlay address given up');
    this.d.emit({ reprogram: 'full' });
    this.maybeBegin();
  }
}
