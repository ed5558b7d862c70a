// Layer: agent (membership). Contract: who is in the cluster — the peer
// table, the claims an operator released (tombstones), who shares our
// Ethernet segment — and what a change means for the rest of the agent,
// returned as Actions (the sweep, on its timer, emits them). Silent peers are
// only reported stale: they keep their FDB entries and address; only a forget
// removes a peer.

import type { Clock, TimerHandle } from '../../clock.js';
import type { Logger } from '../../log.js';
import { formatIpv4 } from '../../net/ipv4.js';
import { isIpv6 } from '../../net/ipv6.js';
import { claimWins, type Claim } from '../../alloc/allocator.js';
import type { AnnounceMsg } from '../../wire/codec.js';
import type { FdbEntry } from '../../kernel/types.js';
import type { PeerRoute } from '../../dataplane/plan.js';
import type { Peer, PeerTable } from '../../peers/table.js';
import type { Tombstones } from '../../peers/tombstones.js';
import type { Counters } from '../records/counters.js';
import type { Relay } from './relay.js';
import { resolvePeer } from '../operator.js';
import { NOTHING, type Actions, type Emit } from '../actions.js';
import type { UnderlaySnapshot } from '../underlay/watcher.js';

export type AnnounceOutcome =
  /** a claim an operator released: its holder must hear so (`reply`: not told in the last few seconds) */
  | { kind: 'forgotten'; claimedAt: number; reply: boolean }
  /**
   * `actions`: the dataplane follows (fast path), the state file is written, the family choice is checked, the relay
   * forwards
   */
  | { kind: 'new' | 'updated' | 'refreshed'; actions: Actions };

/** What the dataplane is given about the peers. */
export interface MembershipView {
  routes: PeerRoute[];
  /** ids of the peers on our segment */
  adjacent: Set<string>;
  /** ids of the peers whose underlay may send VXLAN */
  trusted: Set<string>;
}

const FORGET_REPLY_INTERVAL_MS = 5000;
/**
 * a stale peer's underlay address may still send VXLAN for this long after it was last heard (wall clock: survives
 * restarts)
 */
const TRUST_STALE_MS = 600_000;
const SWEEP_EVERY_MS = 1000;

export interface MembershipDeps {
  clock: Clock;
  log: Logger;
  peers: PeerTable;
  tombstones: Tombstones;
  relay: Relay;
  counters: Counters;
  /** the sweep found that time changed who is adjacent or trusted */
  emit: Emit;
}

export class Membership {
  readonly peers: PeerTable;
  readonly tombstones: Tombstones;
  private readonly forgetReplied = new Map<string, number>();
  private readonly staleLogged = new Set<string>();
  private sweep: TimerHandle | undefined;
  /** who was adjacent and trusted at the last view (time alone changes both) */
  private lastSets: { adjacent: Set<string>; trusted: Set<string> } | undefined;

  constructor(private readonly d: MembershipDeps) {
    this.peers = d.peers;
    this.tombstones = d.tombstones;
  }

  /** Logs peers going stale (once each) from now on. */
  start(): void {
    this.sweep = this.d.clock.setInterval(() => this.sweepStale(), SWEEP_EVERY_MS);
  }

  stop(): void {
    this.sweep?.cancel();
    this.sweep = undefined;
  }

  /** An authenticated announcement of our overlay; `lan`: our underlay now (whom the relay introduces to whom). */
  onAnnounce(msg: AnnounceMsg, packet: Buffer, lan: UnderlaySnapshot): AnnounceOutcome {
    const { clock, log, peers, tombstones } = this.d;
    const peer = msg.nodeId;
    const now = clock.monotonic();
    const dead = tombstones.get(peer);
    if (dead && tombstones.covers(peer, msg.claimedAt)) {
      const last = this.forgetReplied.get(peer) ?? -Infinity;
      const reply = now - last >= FORGET_REPLY_INTERVAL_MS;
      if (reply) this.forgetReplied.set(peer, now);
      return { kind: 'forgotten', claimedAt: dead.claimedAt, reply };
    }
    if (dead) tombstones.clear(peer); // a newer claim than the forgotten one
    const before = peers.get(peer);
    const wasStale = before !== undefined && peers.state(before, now) === 'stale';
    const obs = peers.observe(msg, clock.now(), now);
    const relayed = this.d.relay.onAnnounce(msg, packet, obs.kind === 'new', lan);
    if (obs.kind === 'new') {
      log.info({
        peer, overlayIp: formatIpv4(msg.overlayIp), underlayIp: formatIpv4(msg.underlayIp),
        linkLocal: msg.linkLocal ?? null,
      }, 'peer joined');
    } else if (obs.kind === 'updated') {
      if (obs.underlayChanged) {
        this.d.counters.underlayChangesPeer++;
        log.info({ peer, old: formatIpv4(obs.old.underlayIp), new: formatIpv4(msg.underlayIp) },
          'peer underlay address changed');
      }
      if (obs.linkLocalChanged && obs.old.linkLocal !== undefined) {
        this.d.counters.underlayChangesPeer++;
        log.info({ peer, old: obs.old.linkLocal, new: obs.peer.linkLocal }, 'peer link-local address changed');
      }
      if (obs.capsChanged) {
        log.info({ peer, caps: obs.peer.caps ?? null, ready: obs.peer.ready }, 'peer underlay capabilities changed');
      }
      if (obs.overlayChanged) {
        log.info({ peer, old: formatIpv4(obs.old.overlayIp), new: formatIpv4(msg.overlayIp) },
          'peer overlay address changed');
      }
      if (obs.macChanged) log.info({ peer, old: obs.old.mac, new: msg.mac }, 'peer bridge MAC changed');
    } else if (wasStale) {
      log.info({ peer, underlayIp: formatIpv4(msg.underlayIp) }, 'peer is back');
    }
    const moved = obs.kind !== 'refreshed';
    const family = obs.kind === 'new' || (obs.kind === 'updated' && (obs.capsChanged || obs.linkLocalChanged));
    const actions: Actions = {
      ...(relayed.length ? { send: relayed } : {}), reprogram: moved ? 'routes' : undefined,
      persist: moved || dead !== undefined, family,
    };
    return { kind: obs.kind, actions };
  }

  /**
   * A raw L2 frame straight from `id`: it shares our segment (on-link routes may follow; the first one ever counts for
   * the family choice).
   */
  markAdjacent(id: string): Actions {
    const { adjacent, seen } = this.d.peers.markL2(id, this.d.clock.monotonic());
    return adjacent || seen ? { reprogram: adjacent ? 'routes' : undefined, persist: seen, family: seen } : NOTHING;
  }

  /**
   * Voids the claim (id, claimedAt) and every older one of that node: a
   * tombstone, the peer dropped with its address and entries. `by`: the host
   * whose operator asked (undefined: ours). Nothing if an equal or newer
   * forget was already known.
   */
  forget(id: string, claimedAt: number, by?: string): Actions {
    const { clock, log, peers, tombstones } = this.d;
    if (!tombstones.add({ id, claimedAt, at: clock.now() })) return NOTHING;
    const p = peers.get(id);
    if (!p || !tombstones.covers(p.id, p.claimedAt)) return { persist: true };
    peers.forget(p.id);
    this.d.relay.forget(p.id);
    log.warn({ peer: p.id, overlayIp: formatIpv4(p.overlayIp), by: by ?? 'this host' },
      'peer forgotten on operator request; its address is free again');
    return { reprogram: 'routes', persist: true, family: true };
  }

  /** `edge-overlay forget NODE` on this host: the peer it names (refused with one line if ambiguous or alive). */
  resolve(query: string, force: boolean): Peer {
    return resolvePeer(this.d.peers, query, force, this.d.clock.monotonic());
  }

  /**
   * What the dataplane should program: one winner per contested overlay
   * address, who is on our segment, and whose underlay may send VXLAN (not
   * a peer silent for long: its old address may be someone else's by now).
   */
  view(): MembershipView {
    const { peers, clock } = this.d;
    const now = clock.monotonic();
    const claim = (p: Peer): Claim => ({ nodeId: p.id, heldMs: peers.heldNow(p, now), pinned: p.pinned });
    const routes = peers.routes((a, b) => claimWins(claim(a), claim(b)));
    const { adjacent, trusted } = this.sets(now, clock.now());
    this.lastSets = { adjacent, trusted };
    return { routes, adjacent, trusted };
  }

  private sets(now: number, wall: number): { adjacent: Set<string>; trusted: Set<string> } {
    const { peers } = this.d;
    const adjacent = new Set<string>();
    const trusted = new Set<string>();
    for (const p of peers.values()) {
      if (peers.l2Adjacent(p.id, now)) adjacent.add(p.id);
      if (peers.state(p, now) === 'alive' || wall - p.lastSeenAt <= TRUST_STALE_MS) trusted.add(p.id);
    }
    return { adjacent, trusted };
  }

  /**
   * A restarted agent trusts the kernel's FDB over its state file: a peer may
   * have moved after our last write, and rolling it back would cut it off.
   */
  adopt(fdb: readonly FdbEntry[]): void {
    for (const p of this.d.peers.all()) {
      const e = fdb.find((f) => f.mac === p.mac);
      if (!e) continue;
      if (isIpv6(e.dst)) {
        if (e.dst !== p.linkLocal) {
          this.d.log.info({ peer: p.id, old: p.linkLocal ?? null, new: e.dst },
            'adopting newer peer link-local address from the kernel FDB');
          this.d.peers.setUnderlay(p.id, { linkLocal: e.dst });
        }
      } else if (e.dst !== p.underlayIp) {
        this.d.log.info({ peer: p.id, old: formatIpv4(p.underlayIp), new: formatIpv4(e.dst) },
          'adopting newer peer underlay address from the kernel FDB');
        this.d.peers.setUnderlay(p.id, { ip: e.dst });
      }
    }
  }

  /** Logs peers going stale; when time alone changed who is adjacent or trusted, the dataplane must follow. */
  private sweepStale(): void {
    const now = this.d.clock.monotonic();
    const { adjacent, trusted } = this.sets(now, this.d.clock.now());
    const last = this.lastSets;
    if (!last || !same(adjacent, last.adjacent) || !same(trusted, last.trusted)) this.d.emit({ reprogram: 'routes' });
    for (const p of this.d.peers.all()) {
      const stale = this.d.peers.state(p, now) === 'stale';
      if (stale && !this.staleLogged.has(p.id)) {
        this.staleLogged.add(p.id);
        this.d.log.warn({
          peer: p.id, overlayIp: formatIpv4(p.overlayIp), lastSeenAt: new Date(p.lastSeenAt).toISOString(),
        }, 'peer stale: not heard from; keeping its FDB entries and address reservation');
      } else if (!stale) {
        this.staleLogged.delete(p.id);
      }
    }
  }
}

const same = (a: Set<string>, b: Set<string>): boolean => a.size === b.size && [...a].every((x) => b.has(x));
