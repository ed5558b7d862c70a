// Layer: membership (pure, time passed in). Contract: the cluster's other hosts
// by node id, with overlay claim and underlay address. A silent peer is only
// reported stale (FDB entries and address reservation stay); only `forget`
// removes one. Per sender, sequence numbers strictly increase (persisted).

import { formatIpv4, parseIpv4, type Ipv4 } from '../net/ipv4.js';
import type { AnnounceMsg } from '../wire/codec.js';
import type { PersistedPeer } from '../state/schema.js';
import type { PeerRoute } from '../dataplane/plan.js';
import { Floors, type SeqVerdict } from './floors.js';

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
}

export type PeerState = 'alive' | 'stale';

export type Observation =
  | { kind: 'new'; peer: Peer }
  | { kind: 'updated'; peer: Peer; old: Peer; underlayChanged: boolean; overlayChanged: boolean; macChanged: boolean }
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

  observe(msg: AnnounceMsg, nowWall: number, nowMono: number): Observation {
    const old = this.peers.get(msg.nodeId);
    const peer: Peer = {
      id: msg.nodeId, overlayIp: msg.overlayIp, underlayIp: msg.underlayIp, mac: msg.mac,
      claimedAt: msg.claimedAt, heldMs: msg.heldMs, pinned: Boolean(msg.pinned), lastSeq: msg.seq, lastSeenAt: nowWall, lastSeenMono: nowMono,
      clockSkewMs: msg.sentAt - nowWall,
    };
    this.peers.set(peer.id, peer);
    if (!old) return { kind: 'new', peer };
    const underlayChanged = old.underlayIp !== peer.underlayIp;
    const overlayChanged = old.overlayIp !== peer.overlayIp || old.claimedAt !== peer.claimedAt || old.pinned !== peer.pinned;
    const macChanged = old.mac !== peer.mac;
    if (!underlayChanged && !overlayChanged && !macChanged) return { kind: 'refreshed', peer };
    return { kind: 'updated', peer, old, underlayChanged, overlayChanged, macChanged };
  }

  /** Records a raw L2 frame straight from `id`; true if that makes it newly adjacent. */
  markL2(id: string, nowMono: number): boolean {
    const was = this.l2Adjacent(id, nowMono);
    this.l2.set(id, nowMono);
    return !was;
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
      id: p.id, underlayIp: p.underlayIp, mac: p.mac,
      // a losing duplicate keeps its FDB entries (it is still a host) but
      // gets no neighbour entry for the contested address
      overlayIp: byIp.get(p.overlayIp) === p ? p.overlayIp : undefined,
    }));
  }

  /** Corrects a peer's underlay from what the kernel already holds (see Agent.adopt). */
  setUnderlay(id: string, underlayIp: Ipv4): void {
    const p = this.peers.get(id);
    if (p) p.underlayIp = underlayIp;
  }

  toPersisted(): PersistedPeer[] {
    return this.all().map((p) => ({
      id: p.id, overlayIp: formatIpv4(p.overlayIp), underlayIp: formatIpv4(p.underlayIp), mac: p.mac,
      claimedAt: p.claimedAt, heldMs: p.heldMs, lastSeq: Math.max(p.lastSeq, this.floors.get(p.id)?.seq ?? 0), lastSeenAt: p.lastSeenAt,
      ...(p.pinned ? { pinned: true } : {}),
    }));
  }

  load(list: readonly PersistedPeer[]): void {
    for (const p of list) {
      this.peers.set(p.id, {
        id: p.id, overlayIp: parseIpv4(p.overlayIp)!, underlayIp: parseIpv4(p.underlayIp)!, mac: p.mac,
        claimedAt: p.claimedAt, heldMs: p.heldMs ?? 0, pinned: p.pinned ?? false, lastSeq: p.lastSeq, lastSeenAt: p.lastSeenAt, lastSeenMono: undefined,
        clockSkewMs: undefined,
      });
      this.floors.load([{ id: p.id, seq: p.lastSeq, sentAt: 0, admitted: true }]); // a peer of ours has proved it is alive
    }
  }
}
