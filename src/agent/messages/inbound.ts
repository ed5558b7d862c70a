// Layer: agent (receiving). Contract: every packet from the LAN goes through
// handle(), which never throws and returns what the packet asks of the agent
// (Actions: answers to send, announcements, the dataplane, the state file).
// Order: drop a second copy of a packet just accepted (UDP and raw L2), hold
// back sources that keep failing authentication (before any HMAC), decode and
// authenticate, drop our own echoes, reject replays (per-sender sequence
// numbers), admit strangers only once they answer a challenge, check the
// sender runs our overlay (CIDR, VNI), then act. Every drop is counted.

import type { Clock } from '../../clock.js';
import { errFields, type Logger } from '../../log.js';
import { formatCidr, isHostAddress, parseIpv4, sameCidr, type Cidr, type Ipv4 } from '../../net/ipv4.js';
import {
  decode, type AnnounceMsg, type ChallengeMsg, type ForgetMsg, type Message, type ProbeMsg,
} from '../../wire/codec.js';
import type { ClusterKey } from '../../wire/keyfile.js';
import { isL2, type Endpoint } from '../../discovery/transport.js';
import type { Peer } from '../../peers/table.js';
import type { Addressing } from '../addressing/claim.js';
import type { Counters } from '../records/counters.js';
import type { Admission } from '../trust/admission.js';
import type { ForeignClusters } from '../trust/foreign.js';
import type { AuthGate } from '../trust/gate.js';
import type { Membership } from '../membership/membership.js';
import { onLan, type UnderlaySnapshot } from '../underlay/watcher.js';
import { merge, NOTHING, sending, type Actions, type HolderClaim } from '../actions.js';
import { RecentPackets } from './recent.js';

export interface InboundDeps {
  /** what a packet must match to be ours */
  self: { cluster: string; cidr: Cidr; vni: number; nodeId: string };
  /** the keyring now (a reload replaces it) */
  keyring: { readonly keys: readonly ClusterKey[] };
  clock: Clock;
  log: Logger;
  counters: Counters;
  foreign: ForeignClusters;
  /** budget for packets that fail authentication, per source */
  gate: AuthGate;
  /** first contact: strangers count once they answer a challenge */
  admission: Admission;
  membership: Membership;
  addressing: Addressing;
  /** the range of sequence numbers this process has used: our own echoes fall inside it */
  seqs: { readonly firstSeq: number; readonly lastSeq: number };
}

const IMPOSTOR_LOG_EVERY_MS = 60_000;

export class Inbound {
  /** wall-clock ms of the last authenticated packet from another host, per channel (null: none yet) */
  readonly lastPeerAt: { udp: number | null; raw: number | null } = { udp: null, raw: null };
  private readonly mismatchLogged = new Set<string>();
  private impostorLoggedAt = -Infinity;
  /** packets accepted lately: a second copy costs no HMAC */
  private readonly recent: RecentPackets;

  /** wall clock at start: our own packets sent before it are from an earlier run */
  private readonly startedAt: number;

  constructor(private readonly d: InboundDeps) {
    this.startedAt = d.clock.now();
    this.recent = new RecentPackets(d.clock);
  }

  /** `lan`: our underlay as last read (the relay introduces newcomers by it). */
  handle(packet: Buffer, from: Endpoint, lan: UnderlaySnapshot): Actions {
    try {
      return this.dispatch(packet, from, lan);
    } catch (err) {
      // A bug must not turn one packet into a dead agent; count and log it.
      this.d.counters.drop('malformed');
      this.d.log.error({ ...errFields(err), from: from.address }, 'failed to handle a discovery packet');
      return NOTHING;
    }
  }

  /**
   * A raw frame whose Ethernet source is the sender's own (signed) physical MAC proves it shares our segment; a relayed
   * copy carries the relay's.
   */
  private adjacency(nodeId: string, physMac: string | undefined, from: Endpoint): Actions {
    if (physMac === undefined || from.address !== `l2:${physMac}` || nodeId === this.d.self.nodeId) return NOTHING;
    return this.d.membership.markAdjacent(nodeId);
  }

  private dispatch(packet: Buffer, from: Endpoint, lan: UnderlaySnapshot): Actions {
    const d = this.d;
    const tag = RecentPackets.tag(packet);
    const dup = this.recent.copyOf(tag, packet);
    if (dup?.replay) {
      d.counters.drop('replay');
      return NOTHING;
    }
    if (dup) {
      d.counters.duplicates++;
      if (dup.nodeId !== d.self.nodeId) this.heard(from);
      return isL2(from) ? this.adjacency(dup.nodeId, dup.physMac, from) : NOTHING;
    }
    // an HMAC costs tens of µs: a source whose packets keep failing it waits for budget
    if (!d.gate.allow(from.address)) {
      d.counters.drop('rate-limited');
      return NOTHING;
    }
    const res = decode(packet, d.self.cluster, d.keyring.keys);
    if (!res.ok) {
      d.counters.drop(res.reason);
      if (res.reason === 'bad-auth') d.gate.failed(from.address);
      if (res.reason === 'other-cluster' && res.cluster !== undefined) {
        d.foreign.observe(res.cluster, res.cidr, from.address);
      }
      return NOTHING;
    }
    const msg = res.msg;
    this.recent.remember(tag!, packet, msg); // authenticated, so it carries a tag
    if (msg.nodeId === d.self.nodeId) {
      this.checkOwnEcho(msg, from);
      return NOTHING;
    }
    this.heard(from);
    // 'late': a message sent before one we already have (a unicast answer overtaken by a broadcast)
    const seq = d.membership.peers.acceptSeq(msg.nodeId, msg.seq, msg.sentAt);
    if (seq === 'duplicate' || seq === 'old') {
      if (seq === 'duplicate') d.counters.duplicates++;
      else d.counters.drop('replay');
      return NOTHING; // a replayed frame proves nothing, adjacency included
    }
    if ((msg.type === 'announce' || msg.type === 'forget')
      && d.admission.check(msg, this.challengeTo(msg, from, lan)) === 'unconfirmed') {
      d.counters.drop('unconfirmed');
      return NOTHING;
    }
    // only the newest message of an admitted node earns its source standing: never a replay, nor a late copy
    if (seq === 'new') d.gate.passed(from.address);
    d.counters.received(msg.type);
    d.counters.verified(res.key.label);
    // only the newest message proves adjacency: a late one may be a copy re-sent from elsewhere
    const adjacent = seq === 'new' && isL2(from) && (msg.type === 'announce' || msg.type === 'probe')
      ? this.adjacency(msg.nodeId, msg.physMac, from) : NOTHING;
    return merge(adjacent, this.act(msg, packet, from, lan));
  }

  /**
   * Where a first-contact challenge goes: to the address it signed when that
   * is in our subnet (only its target reads it: a site's first contact costs
   * each host its own challenges, not everyone's), by broadcast to a frame
   * straight from a sender without one there (raw L2 reaches it; its unicast
   * address may not be on-link yet), else to the address it signed (a relayed
   * copy comes from the relay).
   */
  private challengeTo(msg: AnnounceMsg | ForgetMsg, from: Endpoint, lan: UnderlaySnapshot): Ipv4 | undefined {
    if (msg.type === 'announce') {
      // a frame straight from it: unicast only where no on-link route is needed (our subnet), else broadcast
      if (msg.physMac !== undefined && from.address === `l2:${msg.physMac}`) {
        return msg.underlayIp !== 0 && onLan(lan, msg.underlayIp) ? msg.underlayIp : undefined;
      }
      if (msg.underlayIp !== 0) return msg.underlayIp;
    }
    return isL2(from) ? undefined : this.replyTo(msg.nodeId, from);
  }

  /** Where a reply to `nodeId` goes: its known underlay address, else the packet's UDP source; undefined: broadcast. */
  private replyTo(nodeId: string, from: Endpoint): Ipv4 | undefined {
    const known = this.d.membership.peers.get(nodeId)?.underlayIp;
    if (known) return known;
    return isL2(from) ? undefined : parseIpv4(from.address);
  }

  private heard(from: Endpoint): void {
    this.lastPeerAt[isL2(from) ? 'raw' : 'udp'] = this.d.clock.now();
  }

  private act(msg: Message, packet: Buffer, from: Endpoint, lan: UnderlaySnapshot): Actions {
    switch (msg.type) {
      case 'defend':
        this.d.addressing.onDefend(msg);
        return NOTHING;
      case 'challenge':
        return this.onChallenge(msg, from);
      case 'forget':
        return this.onForget(msg);
      case 'announce':
        return this.compatible(msg, from) ? this.onAnnounce(msg, packet, lan) : NOTHING;
      case 'probe':
        return this.compatible(msg, from) ? this.onProbe(msg) : NOTHING;
    }
  }

  /**
   * Our own broadcasts come back to us with sequence numbers this process
   * used; an older one sent before we started is our own past, replayed.
   * Anything else with our node id is another host using it — a cloned disk
   * or state directory — which breaks the overlay for both: say so loudly.
   */
  private checkOwnEcho(msg: Message, from: Endpoint): void {
    const { firstSeq: first, lastSeq: last } = this.d.seqs;
    if (msg.seq >= first && msg.seq <= last) return;
    if (msg.seq < first && msg.sentAt < this.startedAt) {
      this.d.counters.drop('replay');
      return;
    }
    this.d.counters.duplicateNodeId++;
    const now = this.d.clock.monotonic();
    if (now - this.impostorLoggedAt < IMPOSTOR_LOG_EVERY_MS) return;
    this.impostorLoggedAt = now;
    const node = this.d.self.nodeId;
    this.d.log.error({ code: 'E_DUPLICATE_NODE_ID', node, from: from.address },
      `ANOTHER HOST USES THIS NODE ID (${node}), probably a cloned disk or state directory; `
        + 'give one of them a fresh state directory');
  }

  private compatible(msg: AnnounceMsg | ProbeMsg, from: Endpoint): boolean {
    const { counters, self } = this.d;
    if (!sameCidr(msg.cidr, self.cidr)) {
      counters.drop('cidr-mismatch');
      this.warnOnce(`cidr:${msg.nodeId}`, {
        peer: msg.nodeId, from: from.address, theirs: formatCidr(msg.cidr), ours: formatCidr(self.cidr),
      }, 'a host of this cluster uses a different overlay CIDR; ignoring it until the configurations agree');
      return false;
    }
    if (msg.vni !== self.vni) {
      counters.drop('vni-mismatch');
      this.warnOnce(`vni:${msg.nodeId}`, { peer: msg.nodeId, from: from.address, theirs: msg.vni, ours: self.vni },
        'a host of this cluster uses a different VNI; ignoring it until the configurations agree');
      return false;
    }
    if (!isHostAddress(self.cidr, msg.overlayIp)) {
      counters.drop('bad-address');
      return false;
    }
    return true;
  }

  private warnOnce(key: string, fields: Record<string, unknown>, text: string): void {
    if (this.mismatchLogged.has(key)) return;
    if (this.mismatchLogged.size > 1000) this.mismatchLogged.clear();
    this.mismatchLogged.add(key);
    this.d.log.warn(fields, text);
  }

  private onAnnounce(msg: AnnounceMsg, packet: Buffer, lan: UnderlaySnapshot): Actions {
    const { membership, addressing } = this.d;
    const out = membership.onAnnounce(msg, packet, lan);
    if (out.kind === 'forgotten') {
      this.d.counters.drop('forgotten');
      // tell its holder
      return out.reply ? sending({
        kind: 'forget', target: msg.nodeId, claimedAt: out.claimedAt, overlayIp: msg.overlayIp, to: msg.underlayIp,
      }) : NOTHING;
    }
    // a new host learns about us without waiting for our next period; one that asked for news gets ours
    const answer: Actions = out.kind === 'new' ? { trigger: [msg.underlayIp] }
      : msg.fresh ? { answer: [{ peer: msg.nodeId, moved: out.kind === 'updated', to: msg.underlayIp }] } : NOTHING;
    const defend = addressing.onAnnounce(msg) ? sending({ kind: 'announce' }) : NOTHING; // defend our address
    return merge(merge(out.actions, answer), defend);
  }

  private onProbe(msg: ProbeMsg): Actions {
    const { membership, addressing } = this.d;
    const trigger: Actions = membership.peers.get(msg.nodeId) ? NOTHING : { trigger: [msg.underlayIp] };
    const reply = addressing.onProbe(msg);
    if (!reply) return trigger;
    // a prober without an IPv4 address (raw L2 only) hears a broadcast
    return merge(trigger, sending(reply.kind === 'announce' ? { kind: 'announce', to: msg.underlayIp }
      : {
        kind: 'defend', target: msg.nodeId, to: msg.underlayIp, overlayIp: msg.overlayIp,
        holder: this.claimOf(reply.holder),
      }));
  }

  /** A holder's claim as a DEFEND states it: how long it has held the address so far. */
  private claimOf(h: Peer): HolderClaim {
    return { id: h.id, claimedAt: h.claimedAt, heldMs: this.d.membership.peers.heldNow(h, this.d.clock.monotonic()) };
  }

  /** Someone will give up an address only on a fresh answer: give it, if we still stand by the claim. */
  private onChallenge(msg: ChallengeMsg, from: Endpoint): Actions {
    const { membership, addressing, self } = this.d;
    if (msg.targetId !== self.nodeId) return NOTHING;
    // answered the way it asked: by broadcast to a frame (its unicast address may not be on-link yet), else by unicast
    const to = isL2(from) ? undefined : this.replyTo(msg.nodeId, from);
    if (addressing.ip === msg.overlayIp) return sending({ kind: 'announce', to, echo: msg.nonce });
    const holder = membership.peers.holders(msg.overlayIp).find((h) => h.id !== msg.nodeId);
    if (!holder) return NOTHING;
    return sending({
      kind: 'defend', target: msg.nodeId, to, overlayIp: msg.overlayIp, holder: this.claimOf(holder), echo: msg.nonce,
    });
  }

  private onForget(msg: ForgetMsg): Actions {
    const { addressing, membership, self } = this.d;
    if (msg.targetId !== self.nodeId) return membership.forget(msg.targetId, msg.targetClaimedAt, msg.nodeId);
    if (addressing.claimedAt !== undefined && addressing.claimedAt <= msg.targetClaimedAt) {
      addressing.onForgotten(msg.nodeId, msg.targetClaimedAt);
    }
    return NOTHING;
  }
}
