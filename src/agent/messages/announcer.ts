// Layer: agent (when to announce). Contract: a periodic announcement
// (jittered) proves liveness; a burst (at once, then repeated) follows any
// change of our address; a coalesced "triggered" one lets a new host learn
// the cluster in one round trip. For a while after it starts and after its
// own underlay address changed, a host marks its announcements "fresh": it may
// have missed news, so peers answer with theirs within 100-200 ms.

import type { Clock, TimerHandle } from '../../clock.js';
import type { Ipv4 } from '../../net/ipv4.js';
import type { Timings } from '../config.js';
import type { OwnClaim, Sender } from './sender.js';

const TRIGGER_DELAY_MS = 20;
const ANSWER_DELAY_MS = 100;
/** how long announcements stay fresh after the first one and after an own underlay change */
const FRESH_MS = 2000;
/** a peer's fresh announcements are answered once in this long (as long as they stay fresh) */
const FRESH_ANSWER_INTERVAL_MS = 2000;

/** Our claim, if we hold one (Addressing). */
export interface ClaimView {
  readonly ip: Ipv4 | undefined;
  readonly claimedAt: number | undefined;
  readonly heldMs: number | undefined;
  readonly isPinned: boolean;
}

export interface AnnouncerDeps {
  clock: Clock;
  sender: Sender;
  claim: ClaimView;
  timings: Timings;
  random: () => number;
}

export class Announcer {
  private periodic: TimerHandle | undefined;
  private burstTimers: TimerHandle[] = [];
  private triggered: TimerHandle | undefined;
  private freshUntil: number | undefined;
  private ownChangeAt = -Infinity;
  private readonly answered = new Map<string, number>();
  /** where the coming triggered announcement goes (see trigger) */
  private readonly replies = new Set<Ipv4>();

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
    this.replies.clear();
    this.burstTimers = [];
  }

  /** Our underlay address changed: ask peers for their news again. */
  markFresh(): void {
    this.ownChangeAt = this.d.clock.monotonic();
    this.freshUntil = this.ownChangeAt + FRESH_MS;
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

  /**
   * A host we did not know appeared at `to` (its underlay address; 0: none, raw L2 only): tell it about us soon.
   * Answers to several hosts go out together, each by unicast (the others know us already; a broadcast would cost
   * every host a read and an HMAC), and as one broadcast for hosts without an address.
   */
  trigger(to: Ipv4): void {
    this.replies.add(to);
    this.announceWithin(TRIGGER_DELAY_MS);
  }

  /**
   * A peer announced fresh (it just started or moved and may have missed our
   * news): answer — once per peer per episode, since our answer may itself be
   * fresh and must not start a ping-pong; but always when it moved or we moved
   * since our last answer, so a quick restart inside one episode does not cost
   * it a period. Answers change nothing, so they never satisfy that and cannot
   * loop. Not at once: when a whole LAN renumbers, answers would compete for
   * the CPU with the FDB updates that bring traffic back.
   */
  answerFresh(peer: string, moved: boolean, to: Ipv4): void {
    const now = this.d.clock.monotonic();
    const last = this.answered.get(peer) ?? -Infinity;
    if (!moved && this.ownChangeAt <= last && now - last <= FRESH_ANSWER_INTERVAL_MS) return;
    this.answered.set(peer, now);
    this.replies.add(to);
    this.announceWithin(ANSWER_DELAY_MS * (1 + this.d.random()));
  }

  private announceWithin(ms: number): void {
    if (this.triggered) return;
    this.triggered = this.d.clock.setTimeout(() => {
      this.triggered = undefined;
      const to = [...this.replies];
      this.replies.clear();
      // a host without an address hears a broadcast; the others each a unicast (a broadcast costs every host)
      if (to.length === 0 || to.includes(0)) this.announce();
      for (const ip of to) if (ip !== 0) this.announce(ip);
    }, Math.round(ms));
  }

  /** Our announcement: broadcast (and to remotes), or a reply to one host; `echo` answers a challenge. */
  announce(to?: Ipv4, echo?: string): void {
    const c = this.d.claim;
    if (c.ip === undefined || c.claimedAt === undefined || !this.d.sender.canSend()) return;
    const now = this.d.clock.monotonic();
    this.freshUntil ??= now + FRESH_MS; // the first announcement of this process
    const claim: OwnClaim = { ip: c.ip, claimedAt: c.claimedAt, heldMs: c.heldMs ?? 0, pinned: c.isPinned };
    this.d.sender.announce(claim, { to, echo, fresh: now < this.freshUntil });
  }
}
