// Layer: membership (pure, time passed in). Contract: the cluster's other hosts
// by node id, with overlay claim and underlay address. A silent peer is only
// reported stale (FDB entries and address reservation stay); only `forget`
// removes one. Per sender, sequence numbers strictly increase (persisted).

import { formatIpv4, parseIpv4, type Ipv4 } from '../net/ipv4.js';
import { parseIpv6, type Ipv6 } from '../net/ipv6.js';
import type { AnnounceMsg } from '../wire/codec.js';
import type { PersistedPeer } from '../state/schema.js';
import type { PeerRoute } from '../dataplane/plan.js';
import type { PeerFacts } from '../policy/family.js';
import { Floors, type SeqVerdict } from './floors.js';

/**
 * A peer first heard this long ago without a raw L2 frame straight from it is
 * not on our segment. Two announcement periods (5 s ± 10 %): a peer admitted
 * through a unicast packet (a challenge answered over UDP) sends its next raw
 * broadcast only a period later, and one lost frame is no verdict.
 */
export const L2_GRACE_MS = 12_000;

export interface Peer {
  id: string;
  overlayIp: Ipv4;
  underlayIp: Ipv4;
  mac: string;
  claimedAt: number;
  /** how long it had held its claim when last heard (its own clock) */
  heldMs: number;
  pinned: boolean;
  lastSeq: number;
  /** wall clock of the last announcement (persisted, shown to operators) */
  lastSeenAt: number;
  /** monotonic time of the last announcement in this process; undefined if not heard since start */
  lastSeenMono: number | undefined;
  /** its wall clock minus ours when it last announced (informational: nothing depends on it) */
  clockSkewMs: number | undefined;
  /** the IPv6 link-local address of its physical interface (0.2 and later) */
  linkLocal: Ipv6 | undefined;
  /** its capability bits (Caps); undefined: a release before 0.2 */
  caps: number | undefined;
  /** it and every host it knows can use link-local (its last announcement) */
  ready: boolean;
  /** ever heard straight over raw L2 (sticky, persisted): it shares our segment */
  l2Seen: boolean;
  /** monotonic time it was first heard in this process (or loaded without L2 knowledge); undefined: known before */
  firstHeardMono: number | undefined;
}

export type PeerState = 'alive' | 'stale';

export type Observation =
  | { kind: 'new'; peer: Peer }
  | {
    kind: 'updated'; peer: Peer; old: Peer; underlayChanged: boolean; linkLocalChanged: boolean;
    overlayChanged: boolean; macChanged: boolean;
    /** capabilities or readiness changed: the underlay family may have to follow */
    capsChanged: boolean;
  }
  | { kind: 'refreshed'; peer: Peer };

export class PeerTable {
  private readonly peers = new Map<string, Peer>();
  /** replay protection for every sender (probers included) */
  readonly floors = new Floors();
  /** when an authenticated packet of each node last arrived as a raw L2 frame (monotonic) */
  private readonly l2 = new Map<string, number>();

  constructor(private readonly staleAfterMs: number) {}

  /** Replay check (see Floors.check); records `seq` when it is new. */
  acceptSeq(nodeId: string, seq: number, sentAt = 0): SeqVerdict {
    return this.floors.check(nodeId, seq, sentAt);
  }

  /** A late announcement (sent before the one we hold) changes nothing: it would roll the peer back. */
  observe(msg: AnnounceMsg, nowWall: number, nowMono: number): Observation {
    const old = this.peers.get(msg.nodeId);
    if (old && msg.seq < old.lastSeq) return { kind: 'refreshed', peer: old };
    const peer: Peer = {
      id: msg.nodeId, overlayIp: msg.overlayIp, underlayIp: msg.underlayIp, mac: msg.mac,
      claimedAt: msg.claimedAt, heldMs: msg.heldMs, pinned: Boolean(msg.pinned), lastSeq: msg.seq, lastSeenAt: nowWall,
      lastSeenMono: nowMono, clockSkewMs: msg.sentAt - nowWall,
      // a host without IPv6 for now keeps the address we knew: it comes back with the same one
      linkLocal: msg.linkLocal ?? old?.linkLocal, caps: msg.caps, ready: Boolean(msg.llReady),
      // a new peer whose introducing packet came as a raw L2 frame is adjacent already (Inbound marks that before it
      // exists)
      l2Seen: old?.l2Seen ?? this.l2Adjacent(msg.nodeId, nowMono), firstHeardMono: old ? old.firstHeardMono : nowMono,
    };
    this.peers.set(peer.id, peer);
    if (!old) return { kind: 'new', peer };
    const underlayChanged = old.underlayIp !== peer.underlayIp;
    const linkLocalChanged = old.linkLocal !== peer.linkLocal;
    const overlayChanged = old.overlayIp !== peer.overlayIp || old.claimedAt !== peer.claimedAt
      || old.pinned !== peer.pinned;
    const macChanged = old.mac !== peer.mac;
    const capsChanged = old.caps !== peer.caps || old.ready !== peer.ready;
    if (!underlayChanged && !linkLocalChanged && !overlayChanged && !macChanged && !capsChanged) {
      return { kind: 'refreshed', peer };
    }
    return { kind: 'updated', peer, old, underlayChanged, linkLocalChanged, overlayChanged, macChanged, capsChanged };
  }

  /**
   * Records a raw L2 frame straight from `id`; `adjacent`: newly adjacent; `seen`: heard over L2 for the first time
   * ever.
   */
  markL2(id: string, nowMono: number): { adjacent: boolean; seen: boolean } {
    const was = this.l2Adjacent(id, nowMono);
    this.l2.set(id, nowMono);
    const p = this.peers.get(id);
    const seen = p !== undefined && !p.l2Seen;
    if (p) p.l2Seen = true;
    return { adjacent: !was, seen };
  }

  /** What the underlay family choice needs to know about every peer (policy/family.ts). */
  facts(nowMono: number): PeerFacts[] {
    return [...this.peers.values()].map((p) => ({
      id: p.id, caps: p.caps, linkLocal: p.linkLocal, ready: p.ready,
      l2: p.l2Seen ? 'yes'
        : p.firstHeardMono !== undefined && nowMono - p.firstHeardMono < L2_GRACE_MS ? 'pending' : 'no',
    }));
  }

  /** The next time a pending peer's L2 verdict falls due (undefined: none pending). */
  nextL2Verdict(nowMono: number): number | undefined {
    let next: number | undefined;
    for (const p of this.peers.values()) {
      if (p.l2Seen || p.firstHeardMono === undefined) continue;
      const due = p.firstHeardMono + L2_GRACE_MS;
      if (due > nowMono && (next === undefined || due < next)) next = due;
    }
    return next;
  }

  /** Heard over raw L2 recently: the node shares our Ethernet segment. */
  l2Adjacent(id: string, nowMono: number): boolean {
    const t = this.l2.get(id);
    return t !== undefined && nowMono - t <= this.staleAfterMs;
  }

  get(id: string): Peer | undefined {
    return this.peers.get(id);
  }

  /** Every peer, in no particular order (per-packet paths: no sorting). */
  values(): IterableIterator<Peer> {
    return this.peers.values();
  }

  /** Every peer, sorted by overlay address then id (reports, desired state). */
  all(): Peer[] {
    return [...this.peers.values()].sort((a, b) => a.overlayIp - b.overlayIp || (a.id < b.id ? -1 : 1));
  }

  get size(): number {
    return this.peers.size;
  }

  forget(id: string): Peer | undefined {
    const p = this.peers.get(id);
    this.peers.delete(id);
    this.l2.delete(id);
    return p;
  }

  /** How long `p` has held its claim now: it keeps growing while the peer is alive, frozen while it is silent. */
  heldNow(p: Peer, nowMono: number): number {
    return p.heldMs + (this.state(p, nowMono) === 'alive' ? nowMono - p.lastSeenMono! : 0);
  }

  state(p: Peer, nowMono: number): PeerState {
    return p.lastSeenMono !== undefined && nowMono - p.lastSeenMono <= this.staleAfterMs ? 'alive' : 'stale';
  }

  /** Peers holding `ip` (more than one only while a conflict is being resolved). */
  holders(ip: Ipv4): Peer[] {
    const out: Peer[] = [];
    for (const p of this.peers.values()) if (p.overlayIp === ip) out.push(p);
    return out.sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  takenAddresses(): Set<Ipv4> {
    return new Set([...this.peers.values()].map((p) => p.overlayIp));
  }

  /**
   * What the dataplane should program. When two peers claim one overlay IP,
   * the neighbour entry must name one MAC: `winner` picks it.
   */
  routes(winner: (a: Peer, b: Peer) => boolean): PeerRoute[] {
    const byIp = new Map<Ipv4, Peer>();
    for (const p of this.peers.values()) {
      const cur = byIp.get(p.overlayIp);
      if (!cur || winner(p, cur)) byIp.set(p.overlayIp, p);
    }
    return this.all().map((p) => ({
      id: p.id, underlayIp: p.underlayIp, mac: p.mac, linkLocal: p.linkLocal,
      // a losing duplicate keeps its FDB entries (it is still a host) but
      // gets no neighbour entry for the contested address
      overlayIp: byIp.get(p.overlayIp) === p ? p.overlayIp : undefined,
    }));
  }

  /** Corrects a peer's underlay from what the kernel already holds (see Membership.adopt). */
  setUnderlay(id: string, underlay: { ip: Ipv4 } | { linkLocal: Ipv6 }): void {
    const p = this.peers.get(id);
    if (!p) return;
    if ('ip' in underlay) p.underlayIp = underlay.ip;
    else p.linkLocal = underlay.linkLocal;
  }

  toPersisted(): PersistedPeer[] {
    return this.all().map((p) => ({
      id: p.id, overlayIp: formatIpv4(p.overlayIp), underlayIp: formatIpv4(p.underlayIp), mac: p.mac,
      claimedAt: p.claimedAt, heldMs: p.heldMs, lastSeq: Math.max(p.lastSeq, this.floors.get(p.id)?.seq ?? 0),
      lastSeenAt: p.lastSeenAt,
      ...(p.pinned ? { pinned: true } : {}),
      ...(p.linkLocal !== undefined ? { linkLocal: p.linkLocal } : {}),
      ...(p.caps !== undefined ? { caps: p.caps } : {}),
      ready: p.ready, l2: p.l2Seen,
    }));
  }

  /**
   * Peers from the state file; `nowMono`: those written by a release that did not track L2 adjacency get the grace
   * period from now.
   */
  load(list: readonly PersistedPeer[], nowMono = 0): void {
    for (const p of list) {
      this.peers.set(p.id, {
        id: p.id, overlayIp: parseIpv4(p.overlayIp)!, underlayIp: parseIpv4(p.underlayIp)!, mac: p.mac,
        claimedAt: p.claimedAt, heldMs: p.heldMs ?? 0, pinned: p.pinned ?? false, lastSeq: p.lastSeq,
        lastSeenAt: p.lastSeenAt, lastSeenMono: undefined, clockSkewMs: undefined,
        linkLocal: p.linkLocal === undefined ? undefined : parseIpv6(p.linkLocal), caps: p.caps,
        ready: p.ready ?? false, l2Seen: p.l2 ?? false, firstHeardMono: p.l2 === undefined ? nowMono : undefined,
      });
      // a peer of ours has proved it is alive
      this.floors.load([{ id: p.id, seq: p.lastSeq, sentAt: 0, admitted: true }]);
    }
  }
}
