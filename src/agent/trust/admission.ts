// Layer: agent (first contact). Contract: a node that has not proved it is
// alive — never a peer of ours, never answered us — counts only once it
// answers a challenge: a fresh nonce it must echo in a signed announcement.
// Until then its announcements and forgets are dropped, so a replay of a
// decommissioned node's packets never makes it a peer. The same holds for a
// node whose announcements are suddenly far older than its newest one. One
// challenge per node at a time (emitted as an Outgoing value), repeated at
// most once a second for new announcements and by itself, backing off, while
// unanswered; bounded.

import { randomBytes } from 'node:crypto';
import type { Clock } from '../../clock.js';
import type { Logger } from '../../log.js';
import type { Ipv4 } from '../../net/ipv4.js';
import type { Floors } from '../../peers/floors.js';
import type { AnnounceMsg, ForgetMsg } from '../../wire/codec.js';
import { sending, type Emit } from '../actions.js';

/** an announcement this much older than the newest seen from its sender must be vouched for again */
export const SENT_AT_SLACK_MS = 3600_000;
const RECHALLENGE_MS = 1000;
/** an unanswered challenge is sent again after these (backing off): one lost datagram costs the first of them */
export const CHALLENGE_RETRIES_MS = [250, 500, 1000];
/** after the last retry, a challenge unanswered this long counts as an unconfirmed claim */
const ANSWER_WITHIN_MS = 1000;
const MAX_PENDING = 1024;

export interface AdmissionDeps {
  clock: Clock;
  log: Logger;
  floors: Floors;
  emit: Emit;
  nonce?: (() => string) | undefined;
}

export type Verdict =
  /** it counts: act on it */
  | 'admitted'
  /** not vouched for (yet): drop it; a challenge is out */
  | 'unconfirmed';

export class Admission {
  /** strangers' claims that went unanswered when challenged (replays of a gone node, or a node that cannot answer) */
  unconfirmed = 0;
  /** node -> the nonce it must echo, when it was last asked, whether retries still run */
  private readonly pending = new Map<string, { nonce: string; at: number; retrying: boolean }>();

  constructor(private readonly d: AdmissionDeps) {}

  /** An authenticated, new (replay-checked) announcement or forget. */
  check(msg: AnnounceMsg | ForgetMsg, replyTo: Ipv4 | undefined): Verdict {
    const { floors, clock } = this.d;
    const id = msg.nodeId;
    const p = this.pending.get(id);
    if (msg.type === 'announce' && p && msg.echo === p.nonce) {
      this.pending.delete(id);
      floors.admit(id, msg.sentAt);
      return 'admitted';
    }
    const f = floors.get(id);
    if (f?.admitted && msg.sentAt >= f.sentAt - SENT_AT_SLACK_MS) return 'admitted';
    if (f?.admitted) floors.suspend(id); // far older than its newest: a replay, or its clock was stepped back
    // Only an announcement names an address its sender must stand by; a
    // forget from a stranger waits until that node has announced itself.
    if (msg.type === 'announce') this.challenge(id, msg.overlayIp, replyTo, clock.monotonic());
    return 'unconfirmed';
  }

  private challenge(id: string, overlayIp: Ipv4, to: Ipv4 | undefined, now: number): void {
    const p = this.pending.get(id);
    if (p && now - p.at < RECHALLENGE_MS) return;
    // the same nonce until it is answered: an answer that comes late still counts
    const nonce = p?.nonce ?? (this.d.nonce ? this.d.nonce() : randomBytes(8).toString('hex'));
    this.pending.delete(id);
    this.pending.set(id, { nonce, at: now, retrying: true });
    if (this.pending.size > MAX_PENDING) this.pending.delete(this.pending.keys().next().value!);
    const send = (): void => this.d.emit(sending({ kind: 'challenge', target: id, overlayIp, nonce, to }));
    send();
    if (p?.retrying) return; // its retries still run
    // unanswered: ask again, backing off (one lost datagram — the challenge, or its answer while ARP
    // resolves a crowd of new addresses — must not cost a whole announce period), then give up
    const retry = (i: number): void => {
      this.d.clock.setTimeout(() => {
        const q = this.pending.get(id);
        if (q?.nonce !== nonce) return;
        if (i < CHALLENGE_RETRIES_MS.length) {
          send();
          return retry(i + 1);
        }
        q.retrying = false;
        this.unconfirmed++;
        this.d.log.warn({ peer: id },
          'a node we never heard from did not answer our challenge (a replayed packet of a gone node?); ignoring it');
      }, CHALLENGE_RETRIES_MS[i] ?? ANSWER_WITHIN_MS);
    };
    retry(0);
  }

  /** Challenges still unanswered (status). */
  get waiting(): number {
    return this.pending.size;
  }
}
