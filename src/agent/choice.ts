// Layer: agent (underlay family). Contract: keeps the family choice of
// agent/family.ts current. evaluate() is called whenever its inputs may have
// changed (a peer joined, was forgotten, announced new capabilities or was
// heard over raw L2; our own IPv6 changed) and at the moment a new peer's L2
// verdict falls due; it reports what changed, the caller acts (announce our
// readiness, rebuild the VXLAN device). Logs each change once.

import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';
import { chooseFamily, readiness, type Choice, type OwnFacts, type PeerFacts } from './family.js';

export interface ChoiceDeps {
  clock: Clock;
  log: Logger;
  own(): OwnFacts;
  peers(nowMono: number): PeerFacts[];
  /** when the next pending peer's L2 verdict falls due (monotonic), if any */
  nextVerdict(nowMono: number): number | undefined;
  /** something changed: `family` the family we use, `ready` what we announce */
  changed(what: { family: boolean; ready: boolean }): void;
}

export class UnderlayChoice {
  private chosen: Choice | undefined;
  private ready: Choice | undefined;
  private timer: TimerHandle | undefined;
  /** wall time of the last family change (status) */
  changedAt: number | undefined;

  constructor(private readonly d: ChoiceDeps) {}

  /** The family in use (evaluated on first use). */
  get current(): Choice {
    if (!this.chosen) this.evaluate();
    return this.chosen!;
  }

  /** Do we announce that we and every host we know can use link-local? */
  get isReady(): boolean {
    if (!this.ready) this.evaluate();
    return this.ready!.family === 'link-local';
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Re-reads the inputs; the caller hears of a change (not of the first evaluation). */
  evaluate(): void {
    const now = this.d.clock.monotonic();
    const own = this.d.own();
    const peers = this.d.peers(now);
    const first = this.chosen === undefined;
    const next = chooseFamily(own, peers);
    const ready = readiness(own, peers);
    const family = !first && next.family !== this.chosen!.family;
    const readyChanged = !first && ready.family !== this.ready!.family;
    if (first) {
      this.d.log.info({ family: next.family, why: next.reason }, `underlay: ${next.family === 'link-local' ? 'IPv6 link-local' : 'IPv4'}`);
    } else if (family) {
      this.changedAt = this.d.clock.now();
      this.d.log.warn({ old: this.chosen!.family, new: next.family, why: next.reason }, 'underlay family changes; rebuilding the VXLAN device');
    }
    this.chosen = next;
    this.ready = ready;
    this.armVerdict(now);
    if (family || readyChanged) this.d.changed({ family, ready: readyChanged });
  }

  private armVerdict(now: number): void {
    this.timer?.cancel();
    this.timer = undefined;
    const due = this.d.nextVerdict(now);
    if (due !== undefined) this.timer = this.d.clock.setTimeout(() => { this.timer = undefined; this.evaluate(); }, Math.max(1, due - now + 1));
  }
}
