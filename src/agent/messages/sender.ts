// Layer: agent (sending). Contract: builds, signs and sends every message
// this host sends, and forwards relayed ones. A broadcast also goes by
// unicast to the seeds (--peer) and to known peers beyond our LAN, so the
// overlay spans routed underlays. A reply goes to one host: unicast to its
// underlay address, or broadcast when it has none (raw L2 only). Nothing is
// sent while the host cannot broadcast. What it says about our underlay and
// family is the value last given (setUnderlay, setFamily).

import type { Clock } from '../../clock.js';
import { formatIpv4, type Cidr, type Ipv4 } from '../../net/ipv4.js';
import type { Ipv6 } from '../../net/ipv6.js';
import { encode, type AnnounceMsg, type Message } from '../../wire/codec.js';
import type { Keyring } from '../../wire/keyfile.js';
import type { Endpoint, Transport } from '../../discovery/transport.js';
import type { PeerTable } from '../../peers/table.js';
import type { Outgoing } from '../actions.js';
import type { Counters } from '../records/counters.js';
import type { Seeds } from '../membership/seeds.js';
import { onLan, unreadUnderlay, type UnderlaySnapshot } from '../underlay/watcher.js';

/** What this host is in the cluster (fixed while the agent runs). */
export interface Identity {
  cluster: string;
  nodeId: string;
  cidr: Cidr;
  vni: number;
  /** the bridge's MAC */
  mac: string;
}

/** What our announcements say about the underlay family (policy/family.ts). */
export interface FamilyView {
  /** our link-local address (current or last known) */
  readonly linkLocal: Ipv6 | undefined;
  /** Caps bits */
  readonly caps: number;
  /** we and every host we know can use link-local */
  readonly ready: boolean;
}

/** Our established claim, as an announcement states it. */
export interface OwnClaim {
  ip: Ipv4;
  claimedAt: number;
  heldMs: number;
  pinned: boolean;
}

export interface SenderDeps {
  identity: Identity;
  transport: Transport;
  clock: Clock;
  counters: Counters;
  peers: PeerTable;
  nextSeq: () => number;
  discoveryPort: number;
  keys: Keyring;
  seeds: Seeds;
}

export class Sender {
  private keyring: Keyring;
  private underlay: UnderlaySnapshot = unreadUnderlay(undefined);
  private family: FamilyView = { linkLocal: undefined, caps: 0, ready: false };
  private stopped = false;

  constructor(private readonly d: SenderDeps) {
    this.keyring = d.keys;
  }

  /** The keyring: the first key signs, every key verifies. */
  get keys(): Keyring {
    return this.keyring;
  }

  setKeys(keys: Keyring): void {
    this.keyring = keys;
  }

  setUnderlay(s: UnderlaySnapshot): void {
    this.underlay = s;
  }

  setFamily(f: FamilyView): void {
    this.family = f;
  }

  stop(): void {
    this.stopped = true;
  }

  /** Unicast copies of every broadcast: the seeds, and known peers beyond our LAN. */
  private remotes(): Endpoint[] {
    const out = new Map<string, Endpoint>();
    for (const s of this.d.seeds.list) out.set(`${s.address}:${s.port}`, s);
    for (const p of this.d.peers.values()) {
      if (onLan(this.underlay, p.underlayIp)) continue;
      const e = this.endpoint(p.underlayIp);
      out.set(`${e.address}:${e.port}`, e);
    }
    return [...out.values()];
  }

  private endpoint(ip: Ipv4): Endpoint {
    return { address: formatIpv4(ip), port: this.d.discoveryPort };
  }

  /** A reply to a host: unicast to its underlay address, broadcast when it has none (raw L2 only) or it is unknown. */
  private replyTo(ip: Ipv4 | undefined): Endpoint | undefined {
    return ip === undefined || ip === 0 ? undefined : this.endpoint(ip);
  }

  /** Can anything leave right now (an IPv4 source, or raw L2 on a link)? */
  canSend(): boolean {
    return !this.stopped && this.d.transport.canBroadcast();
  }

  private common(): { cluster: string; nodeId: string; seq: number; sentAt: number } | undefined {
    if (!this.canSend()) return undefined;
    const { cluster, nodeId } = this.d.identity;
    return { cluster, nodeId, seq: this.d.nextSeq(), sentAt: this.d.clock.now() };
  }

  /** Signs and sends: to one endpoint, or broadcast plus the unicast remotes. */
  private send(msg: Message, to?: Endpoint): void {
    const packet = encode(msg, this.keyring[0]!);
    if (to) {
      this.d.transport.unicast(packet, to);
    } else {
      this.d.transport.broadcast(packet);
      for (const r of this.remotes()) this.d.transport.unicast(packet, r);
    }
    this.d.counters.sent(msg.type);
  }

  /** Sends one Outgoing value; our announcements are built by the announcer (`announce`). */
  dispatch(o: Exclude<Outgoing, { kind: 'announce' }>): void {
    switch (o.kind) {
      case 'defend':
        return this.defend(o);
      case 'challenge':
        return this.challenge(o.target, o.overlayIp, o.nonce, o.to);
      case 'forget':
        return this.forget(o.target, o.claimedAt, o.overlayIp, o.to);
      case 'relay':
        return this.relay(o.packet, o.to);
    }
  }

  /** Our announcement: broadcast (and to remotes), or a reply to one host; `echo` answers a challenge. */
  announce(claim: OwnClaim, opts: { to?: Ipv4 | undefined; echo?: string | undefined; fresh: boolean }): void {
    const c = this.common();
    if (!c) return;
    const { identity: id, underlay, family } = this;
    const ll = family.linkLocal;
    const msg: AnnounceMsg = {
      ...c, type: 'announce', overlayIp: claim.ip, underlayIp: underlay.ip ?? 0, mac: id.mac,
      claimedAt: claim.claimedAt, heldMs: Math.round(claim.heldMs), cidr: id.cidr, vni: id.vni,
      ...(claim.pinned ? { pinned: true } : {}), ...(underlay.mac ? { physMac: underlay.mac } : {}),
      ...(opts.echo ? { echo: opts.echo } : {}), ...(opts.fresh ? { fresh: true } : {}),
      ...(ll !== undefined ? { linkLocal: ll } : {}), caps: family.caps, ...(family.ready ? { llReady: true } : {}),
    };
    this.send(msg, this.replyTo(opts.to));
  }

  private get identity(): Identity {
    return this.d.identity;
  }

  /** false when nothing could be sent (no IPv4 source and no raw L2). */
  probe(candidate: Ipv4, startedAt: number): boolean {
    const c = this.common();
    if (!c) return false;
    const { identity: id, underlay } = this;
    this.send({
      ...c, type: 'probe', overlayIp: candidate, underlayIp: underlay.ip ?? 0, mac: id.mac, claimedAt: startedAt,
      heldMs: 0, cidr: id.cidr, vni: id.vni, ...(underlay.mac ? { physMac: underlay.mac } : {}),
    });
    return true;
  }

  /** Tells `target` that `holder` holds overlayIp; unicast when its address is known, else broadcast. */
  private defend(o: Extract<Outgoing, { kind: 'defend' }>): void {
    const c = this.common();
    if (!c) return;
    const { holder } = o;
    this.send({
      ...c, type: 'defend', overlayIp: o.overlayIp, holderId: holder.id, holderClaimedAt: holder.claimedAt,
      holderHeldMs: Math.round(holder.heldMs), targetId: o.target, ...(o.echo ? { echo: o.echo } : {}),
    }, this.replyTo(o.to));
  }

  private challenge(targetId: string, overlayIp: Ipv4, nonce: string, targetUnderlay: Ipv4 | undefined): void {
    const c = this.common();
    if (!c) return;
    this.send({ ...c, type: 'challenge', overlayIp, targetId, nonce }, this.replyTo(targetUnderlay));
  }

  forget(targetId: string, targetClaimedAt: number, overlayIp: Ipv4, toUnderlay?: Ipv4): void {
    const c = this.common();
    if (!c) return;
    this.send({ ...c, type: 'forget', overlayIp, targetId, targetClaimedAt }, this.replyTo(toUnderlay));
  }

  /** Another host's packet, as received: to one host, or broadcast on our LAN. */
  private relay(packet: Buffer, to: Ipv4 | undefined): void {
    if (to === undefined) this.d.transport.broadcast(packet);
    else this.d.transport.unicast(packet, this.endpoint(to));
    this.d.counters.relayed++;
  }
}
