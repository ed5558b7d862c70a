// Layer: agent (challenges). Contract: before this host acts on a claim that
// would cost it its address, the claimant (or the peer defending it) must
// echo a fresh random nonce in a signed answer; only that answer counts, so a
// replayed packet never makes a host move. One challenge is out at a time
// (emitted as an Outgoing value); one that goes unanswered times out and is
// counted.

import { randomBytes } from 'node:crypto';
import type { Clock, TimerHandle } from '../../clock.js';
import type { Logger } from '../../log.js';
import type { Ipv4 } from '../../net/ipv4.js';
import type { PeerTable } from '../../peers/table.js';
import { sending, type Emit } from '../actions.js';

const CHALLENGE_TIMEOUT_MS = 1000;

export interface ChallengeDeps {
  clock: Clock;
  log: Logger;
  nodeId: string;
  peers: PeerTable;
  emit: Emit;
  nonce?: (() => string) | undefined;
}

export class Challenges {
  /** claims on our address that were not confirmed when challenged */
  unconfirmed = 0;
  private pending: { asked: string; nonce: string; timer: TimerHandle } | undefined;

  constructor(private readonly d: ChallengeDeps) {}

  /**
   * A claim on `ourIp` that beats ours came from `asked`. True when `echo`
   * answers our challenge to it (act on the claim now); otherwise a challenge
   * goes out, unless one is already out, and false.
   */
  confirm(asked: string, echo: string | undefined, ourIp: Ipv4): boolean {
    const p = this.pending;
    if (p && echo !== undefined && echo === p.nonce && asked === p.asked) {
      p.timer.cancel();
      this.pending = undefined;
      return true;
    }
    if (p) return false;
    const nonce = this.d.nonce ? this.d.nonce() : randomBytes(8).toString('hex');
    const timer = this.d.clock.setTimeout(() => {
      if (this.pending?.nonce !== nonce) return;
      this.pending = undefined;
      this.unconfirmed++;
      this.d.log.warn({ peer: asked, node: this.d.nodeId },
        'a claim on our overlay address was not confirmed when challenged (replayed or stale packet?); '
          + 'keeping the address');
    }, CHALLENGE_TIMEOUT_MS);
    this.pending = { asked, nonce, timer };
    this.d.emit(sending({
      kind: 'challenge', target: asked, overlayIp: ourIp, nonce, to: this.d.peers.get(asked)?.underlayIp,
    }));
    return false;
  }

  stop(): void {
    this.pending?.timer.cancel();
    this.pending = undefined;
  }
}
