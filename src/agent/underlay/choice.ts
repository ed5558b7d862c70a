// Layer: agent (underlay family). Contract: keeps the family choice of
// policy/family.ts current. evaluate() takes its inputs as values — our own
// facts, every peer's, and when the next new peer's L2 verdict falls due —
// whenever they may have changed (a peer joined, was forgotten, announced new
// capabilities or was heard over raw L2; our own IPv6 changed) and returns
// what changed as Actions: a new readiness is announced, a new family
// rebuilds the VXLAN device. When a verdict falls due it emits `family`.
// Logs each change once.

import type { Clock, TimerHandle } from '../../clock.js';
import type { Logger } from '../../log.js';
import { chooseFamily, readiness, type Choice, type OwnFacts, type PeerFacts } from '../../policy/family.js';
import { NOTHING, type Actions, type Emit } from '../actions.js';
import type { Counters } from '../records/counters.js';

export interface ChoiceDeps {
  clock: Clock;
  log: Logger;
  counters: Counters;
  emit: Emit;
}

const UNREAD: Choice = { family: 'ipv4', reason: 'the physical interface has not been read yet' };

export class UnderlayChoice {
  private chosen: Choice | undefined;
  private ready: Choice | undefined;
  private timer: TimerHandle | undefined;
  /** wall time of the last family change (status) */
  changedAt: number | undefined;

  constructor(private readonly d: ChoiceDeps) {}

  /** The family in use. */
  get current(): Choice {
    return this.chosen ?? UNREAD;
  }

  get evaluated(): boolean {
    return this.chosen !== undefined;
  }

  /** Do we announce that we and every host we know can use link-local? */
  get isReady(): boolean {
    return this.ready?.family === 'link-local';
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** The first evaluation reports no change. `nextVerdict`: when a pending peer's L2 verdict falls due (monotonic). */
  evaluate(own: OwnFacts, peers: readonly PeerFacts[], nextVerdict: number | undefined): Actions {
    const first = this.chosen === undefined;
    const next = chooseFamily(own, peers);
    const ready = readiness(own, peers);
    const family = !first && next.family !== this.chosen!.family;
    const readyChanged = !first && ready.family !== this.ready!.family;
    if (first) {
      this.d.log.info({ family: next.family, why: next.reason },
        `underlay: ${next.family === 'link-local' ? 'IPv6 link-local' : 'IPv4'}`);
    } else if (family) {
      this.changedAt = this.d.clock.now();
      this.d.counters.familySwitches++;
      this.d.log.warn({ old: this.chosen!.family, new: next.family, why: next.reason },
        'underlay family changes; rebuilding the VXLAN device');
    }
    this.chosen = next;
    this.ready = ready;
    this.armVerdict(nextVerdict);
    if (!family && !readyChanged) return NOTHING;
    return { burst: readyChanged, reprogram: family ? 'full' : undefined };
  }

  private armVerdict(due: number | undefined): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (due === undefined) return;
    const now = this.d.clock.monotonic();
    this.timer = this.d.clock.setTimeout(() => {
      this.timer = undefined;
      this.d.emit({ family: true });
    }, Math.max(1, due - now + 1));
  }
}
