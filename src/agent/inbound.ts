// Layer: agent (receiving). Contract: every packet from the LAN goes through
// handle(), which never throws: decode + authenticate against the keyring
// (codec), drop our own echoes, reject replays (per-sender sequence numbers;
// the same packet arriving by UDP and raw L2 is a harmless duplicate), check
// that the sender runs the same overlay (CIDR, VNI), then update membership
// and addressing. Every drop is counted by reason; another cluster on the LAN
// is remembered, and reported loudly if its CIDR overlaps ours.

import type { Clock } from '../clock.js';
import { errFields, type Logger } from '../log.js';
import { formatCidr, formatIpv4, isHostAddress, sameCidr, type Cidr } from '../net/ipv4.js';
import { decode, type AnnounceMsg, type ChallengeMsg, type ForgetMsg, type Message, type ProbeMsg } from '../wire/codec.js';
import type { ClusterKey } from '../wire/keyfile.js';
import { isL2, type Endpoint } from '../discovery/transport.js';
import type { Peer, PeerTable } from '../peers/table.js';
import type { Tombstones } from '../peers/tombstones.js';
import type { Addressing } from './addressing.js';
import type { Announcer } from './announcer.js';
import type { Counters } from './counters.js';
import type { ForeignClusters } from './foreign.js';
import type { Relay } from './relay.js';

export interface InboundDeps {
  cluster: string;
  cidr: Cidr;
  vni: number;
  nodeId: string;
  discoveryPort: number;
  keys: () => readonly ClusterKey[];
  clock: Clock;
  log: Logger;
  peers: PeerTable;
  tombstones: Tombstones;
  foreign: ForeignClusters;
  addressing: Addressing;
  announcer: Announcer;
  relay: Relay;
  counters: Counters;
  /** the dataplane must follow a membership change (persisted too) */
  routesChanged(): void;
  /** a peer turned out to share our segment: it may need an on-link route (not persisted) */
  adjacencyChanged(): void;
  /** tombstones changed: persist */
  forgottenChanged(): void;
  /** the range of sequence numbers this process has used: our own echoes fall inside it */
  ownSeqRange(): [number, number];
}

const FORGET_REPLY_INTERVAL_MS = 5000;
/** a peer's "fresh" announcements are answered once in this long: as long as they stay fresh (announcer.ts) */
const FRESH_ANSWER_INTERVAL_MS = 2000;
/** authentication tags of recently accepted packets (see `seen`) */
const RECENT_TAGS = 1024;
/** the second copy of a packet arrives within this; later it is a replay, checked in full */
const DUPLICATE_WINDOW_MS = 1000;

export class Inbound {
  private mismatchLogged = new Set<string>();
  private forgetReplied = new Map<string, number>();
  private freshAnswered = new Map<string, number>();
  private impostorLoggedAt = -Infinity;
  /** tag -> who sent it and from which physical MAC (to mark L2 adjacency on the raw copy) */
  private readonly recent = new Map<string, { nodeId: string; physMac: string | undefined; at: number }>();

  constructor(private readonly d: InboundDeps) {}

  handle(packet: Buffer, from: Endpoint): void {
    try {
      this.dispatch(packet, from);
    } catch (err) {
      // A bug must not turn one packet into a dead agent; count and log it.
      this.d.counters.drop('malformed');
      this.d.log.error({ ...errFields(err), from: from.address }, 'failed to handle a discovery packet');
    }
  }

  /**
   * Every packet arrives twice (UDP and raw L2). The second copy, within a
   * second, ends with the same 32-byte HMAC tag as one we just authenticated:
   * drop it without decoding and verifying it again. (A forged packet reusing
   * a tag is dropped too, which is what would happen to it anyway; a later
   * copy is a replay and goes through the full check.)
   */
  private seen(tag: string | undefined): { nodeId: string; physMac: string | undefined } | undefined {
    const hit = tag === undefined ? undefined : this.recent.get(tag);
    return hit && this.d.clock.monotonic() - hit.at <= DUPLICATE_WINDOW_MS ? hit : undefined;
  }

  private remember(tag: string, msg: Message): void {
    const physMac = msg.type === 'announce' || msg.type === 'probe' ? msg.physMac : undefined;
    this.recent.set(tag, { nodeId: msg.nodeId, physMac, at: this.d.clock.monotonic() });
    if (this.recent.size > RECENT_TAGS) this.recent.delete(this.recent.keys().next().value!);
  }

  /**
   * A raw frame whose Ethernet source is the sender's own (signed) physical
   * MAC proves it shares our segment; a relayed copy carries the relay's MAC.
   */
  private adjacency(nodeId: string, physMac: string | undefined, from: Endpoint): void {
    if (physMac !== undefined && from.address === `l2:${physMac}` && nodeId !== this.d.nodeId
      && this.d.peers.markL2(nodeId, this.d.clock.monotonic())) {
      this.d.adjacencyChanged();
    }
  }

  private dispatch(packet: Buffer, from: Endpoint): void {
    const d = this.d;
    const tag = packet.length < 32 ? undefined : packet.toString('latin1', packet.length - 32);
    const dup = this.seen(tag);
    if (dup) {
      d.counters.duplicates++;
      if (isL2(from)) this.adjacency(dup.nodeId, dup.physMac, from);
      return;
    }
    const res = decode(packet, d.cluster, d.keys());
    if (!res.ok) {
      d.counters.drop(res.reason);
      if (res.reason === 'other-cluster' && res.cluster !== undefined && d.foreign.observe(res.cluster, res.cidr, from.address, d.clock.now())) {
        d.counters.foreignOverlaps++;
        d.log.error({ code: 'E_CIDR_OVERLAP', cluster: res.cluster, theirs: res.cidr ? formatCidr(res.cidr) : null, ours: formatCidr(d.cidr), from: from.address },
          `ANOTHER CLUSTER ON THIS LAN USES AN OVERLAPPING OVERLAY CIDR: cluster "${res.cluster}" announces ${res.cidr ? formatCidr(res.cidr) : '?'} (ours: ${formatCidr(d.cidr)}); the two overlays will hand out the same addresses — give one of them another CIDR`);
      }
      return;
    }
    const msg = res.msg;
    this.remember(tag!, msg); // authenticated, so it carries a tag
    if (msg.nodeId === d.nodeId) {
      this.checkOwnEcho(msg.seq, from);
      return;
    }
    if (isL2(from) && (msg.type === 'announce' || msg.type === 'probe')) this.adjacency(msg.nodeId, msg.physMac, from);
    const seq = d.peers.acceptSeq(msg.nodeId, msg.seq);
    if (seq === 'duplicate') {
      d.counters.duplicates++;
      return;
    }
    if (seq === 'old') {
      d.counters.drop('replay');
      return;
    }
    d.counters.received(msg.type);
    d.counters.verified(res.key.label);
    switch (msg.type) {
      case 'defend':
        d.addressing.onDefend(msg);
        return;
      case 'challenge':
        this.onChallenge(msg);
        return;
      case 'forget':
        this.onForget(msg);
        return;
      case 'announce':
        if (this.compatible(msg, from)) this.onAnnounce(msg, packet);
        return;
      case 'probe':
        if (this.compatible(msg, from)) this.onProbe(msg);
    }
  }

  /**
   * Our own broadcasts come back to us; their sequence numbers are ones we
   * used. Anything else with our node id is another host using it — a cloned
   * disk or state directory — which breaks the overlay for both: say so loudly.
   */
  private checkOwnEcho(seq: number, from: Endpoint): void {
    const [first, last] = this.d.ownSeqRange();
    if (seq >= first && seq <= last) return;
    this.d.counters.duplicateNodeId++;
    const now = this.d.clock.monotonic();
    if (now - this.impostorLoggedAt < 60_000) return;
    this.impostorLoggedAt = now;
    this.d.log.error({ code: 'E_DUPLICATE_NODE_ID', node: this.d.nodeId, from: from.address },
      `ANOTHER HOST USES THIS NODE ID (${this.d.nodeId}), probably a cloned disk or state directory; give one of them a fresh state directory`);
  }

  private compatible(msg: AnnounceMsg | ProbeMsg, from: Endpoint): boolean {
    const d = this.d;
    if (!sameCidr(msg.cidr, d.cidr)) {
      d.counters.drop('cidr-mismatch');
      this.warnOnce(`cidr:${msg.nodeId}`, { peer: msg.nodeId, from: from.address, theirs: formatCidr(msg.cidr), ours: formatCidr(d.cidr) },
        'a host of this cluster uses a different overlay CIDR; ignoring it until the configurations agree');
      return false;
    }
    if (msg.vni !== d.vni) {
      d.counters.drop('vni-mismatch');
      this.warnOnce(`vni:${msg.nodeId}`, { peer: msg.nodeId, from: from.address, theirs: msg.vni, ours: d.vni },
        'a host of this cluster uses a different VNI; ignoring it until the configurations agree');
      return false;
    }
    if (!isHostAddress(d.cidr, msg.overlayIp)) {
      d.counters.drop('bad-address');
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

  private onAnnounce(msg: AnnounceMsg, packet: Buffer): void {
    const d = this.d;
    const peer = msg.nodeId;
    if (d.tombstones.covers(peer, msg.claimedAt)) {
      // A forgotten claim: tell its holder (at most every few seconds).
      d.counters.drop('forgotten');
      const last = this.forgetReplied.get(peer) ?? -Infinity;
      if (d.clock.monotonic() - last >= FORGET_REPLY_INTERVAL_MS) {
        this.forgetReplied.set(peer, d.clock.monotonic());
        d.announcer.forget(peer, d.tombstones.get(peer)!.claimedAt, msg.overlayIp, msg.underlayIp);
      }
      return;
    }
    if (d.tombstones.get(peer)) {
      d.tombstones.clear(peer); // a newer claim than the forgotten one
      d.forgottenChanged();
    }
    const before = d.peers.get(peer);
    const wasStale = before !== undefined && d.peers.state(before, d.clock.monotonic()) === 'stale';
    const obs = d.peers.observe(msg, d.clock.now(), d.clock.monotonic());
    d.relay.onAnnounce(msg, packet, obs.kind === 'new');
    if (obs.kind === 'new') {
      d.log.info({ peer, overlayIp: formatIpv4(msg.overlayIp), underlayIp: formatIpv4(msg.underlayIp) }, 'peer joined');
      d.announcer.trigger(); // let it learn about us without waiting for our next period
      d.routesChanged();
    } else if (obs.kind === 'updated') {
      if (obs.underlayChanged) {
        d.counters.underlayChangesPeer++;
        d.log.info({ peer, old: formatIpv4(obs.old.underlayIp), new: formatIpv4(msg.underlayIp) }, 'peer underlay address changed');
      }
      if (obs.overlayChanged) {
        d.log.info({ peer, old: formatIpv4(obs.old.overlayIp), new: formatIpv4(msg.overlayIp) }, 'peer overlay address changed');
      }
      if (obs.macChanged) d.log.info({ peer, old: obs.old.mac, new: msg.mac }, 'peer bridge MAC changed');
      d.routesChanged();
    } else if (wasStale) {
      d.log.info({ peer, underlayIp: formatIpv4(msg.underlayIp) }, 'peer is back');
    }
    // It just started or moved and may have missed our news (a move of ours
    // while it was down): answer — once per peer per episode, since our
    // answer may itself be fresh and must not start a ping-pong; but always
    // when it moved or we moved since our last answer (a quick restart
    // inside one episode must not cost it a period). Answers change nothing,
    // so they never satisfy that and cannot loop.
    if (msg.fresh && obs.kind !== 'new') {
      const now = d.clock.monotonic();
      const last = this.freshAnswered.get(peer) ?? -Infinity;
      if (obs.kind === 'updated' || d.announcer.ownChangeAt > last || now - last > FRESH_ANSWER_INTERVAL_MS) {
        this.freshAnswered.set(peer, now);
        d.announcer.answerFresh();
      }
    }
    if (d.addressing.onAnnounce(msg)) d.announcer.announce(); // defend our address
  }

  private onProbe(msg: ProbeMsg): void {
    const d = this.d;
    if (!d.peers.get(msg.nodeId)) d.announcer.trigger();
    const reply = d.addressing.onProbe(msg);
    if (!reply) return;
    if (reply.kind === 'announce') {
      d.announcer.announce(msg.underlayIp); // a prober without an IPv4 address (raw L2 only) hears a broadcast
    } else {
      d.announcer.defend({ nodeId: msg.nodeId, underlayIp: msg.underlayIp }, msg.overlayIp, this.claimOf(reply.holder));
    }
  }

  /** A holder's claim as a DEFEND states it: how long it has held the address so far. */
  private claimOf(h: Peer): { id: string; claimedAt: number; heldMs: number } {
    return { id: h.id, claimedAt: h.claimedAt, heldMs: this.d.peers.heldNow(h, this.d.clock.monotonic()) };
  }

  /** Someone will give up an address only on a fresh answer: give it, if we still stand by the claim. */
  private onChallenge(msg: ChallengeMsg): void {
    const d = this.d;
    if (msg.targetId !== d.nodeId) return;
    const asker = d.peers.get(msg.nodeId);
    if (d.addressing.ip === msg.overlayIp) {
      d.announcer.announce(asker?.underlayIp, msg.nonce);
      return;
    }
    const holder = d.peers.holders(msg.overlayIp).find((h) => h.id !== msg.nodeId);
    if (holder) {
      d.announcer.defend({ nodeId: msg.nodeId, underlayIp: asker?.underlayIp }, msg.overlayIp, this.claimOf(holder), msg.nonce);
    }
  }

  private onForget(msg: ForgetMsg): void {
    const d = this.d;
    if (msg.targetId === d.nodeId) {
      if (d.addressing.claimedAt !== undefined && d.addressing.claimedAt <= msg.targetClaimedAt) d.addressing.onForgotten(msg.nodeId, msg.targetClaimedAt);
      return;
    }
    this.forget(msg.targetId, msg.targetClaimedAt, msg.nodeId);
  }

  /**
   * Voids the claim (id, claimedAt) and every older one of that node: a
   * tombstone (persisted), the peer dropped with its address and entries.
   * `by`: the host whose operator asked (undefined: ours). False if an equal
   * or newer forget was already known.
   */
  forget(id: string, claimedAt: number, by?: string): boolean {
    const d = this.d;
    if (!d.tombstones.add({ id, claimedAt, at: d.clock.now() })) return false;
    d.forgottenChanged();
    const p = d.peers.get(id);
    if (p && d.tombstones.covers(p.id, p.claimedAt)) {
      d.peers.forget(p.id);
      d.relay.forget(p.id);
      d.log.warn({ peer: p.id, overlayIp: formatIpv4(p.overlayIp), by: by ?? 'this host' }, 'peer forgotten on operator request; its address is free again');
      d.routesChanged();
    }
    return true;
  }
}
