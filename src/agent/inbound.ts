// Layer: agent (receiving). Contract: every packet from the LAN goes through
// handle(), which never throws: decode + authenticate (codec), drop our own
// echoes, reject replays (per-sender sequence numbers), check that the sender
// runs the same overlay (CIDR, VNI), then update membership and addressing.
// Every drop is counted by reason.

import type { Clock } from '../clock.js';
import { errFields, type Logger } from '../log.js';
import { formatCidr, formatIpv4, isHostAddress, sameCidr, type Cidr } from '../net/ipv4.js';
import { decode, type AnnounceMsg, type ProbeMsg, type SigningKey } from '../wire/codec.js';
import type { Endpoint } from '../discovery/transport.js';
import type { PeerTable } from '../peers/table.js';
import type { Addressing } from './addressing.js';
import type { Announcer } from './announcer.js';
import type { Counters } from './counters.js';

export interface InboundDeps {
  cluster: string;
  cidr: Cidr;
  vni: number;
  nodeId: string;
  discoveryPort: number;
  keys: () => readonly SigningKey[];
  clock: Clock;
  log: Logger;
  peers: PeerTable;
  addressing: Addressing;
  announcer: Announcer;
  counters: Counters;
  /** the dataplane must follow a membership change */
  routesChanged(): void;
}

export class Inbound {
  private mismatchLogged = new Set<string>();

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

  private dispatch(packet: Buffer, from: Endpoint): void {
    const d = this.d;
    const res = decode(packet, d.cluster, d.keys());
    if (!res.ok) {
      d.counters.drop(res.reason);
      return;
    }
    const msg = res.msg;
    if (msg.nodeId === d.nodeId) return; // our own broadcast, looped back
    if (!d.peers.acceptSeq(msg.nodeId, msg.seq)) {
      d.counters.drop('replay');
      return;
    }
    d.counters.received(msg.type);
    if (msg.type === 'defend') {
      d.addressing.onDefend(msg);
      return;
    }
    if (!this.compatible(msg, from)) return;
    if (msg.type === 'announce') this.onAnnounce(msg);
    else this.onProbe(msg);
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
    if (!isHostAddress(d.cidr, msg.overlayIp) || msg.underlayIp === 0) {
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

  private onAnnounce(msg: AnnounceMsg): void {
    const d = this.d;
    const before = d.peers.get(msg.nodeId);
    const wasStale = before !== undefined && d.peers.state(before, d.clock.monotonic()) === 'stale';
    const obs = d.peers.observe(msg, d.clock.now(), d.clock.monotonic());
    const peer = msg.nodeId;
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
    if (d.addressing.onAnnounce(msg)) d.announcer.announce(); // defend our address
  }

  private onProbe(msg: ProbeMsg): void {
    const d = this.d;
    if (!d.peers.get(msg.nodeId)) d.announcer.trigger();
    const reply = d.addressing.onProbe(msg);
    if (!reply) return;
    if (reply.kind === 'announce') {
      d.announcer.announce({ address: formatIpv4(msg.underlayIp), port: d.discoveryPort });
    } else {
      d.announcer.defend({ nodeId: msg.nodeId, underlayIp: msg.underlayIp }, msg.overlayIp, reply.holder.id, reply.holder.claimedAt);
    }
  }
}
