// Layer: agent (introductions across segments). Contract: broadcasts stop at
// the router, so hosts on different L2 segments meet through unicast seeds
// (--peer). A seed only knows who sends to it; so when a host first hears of
// a new peer, it introduces it: a new peer beyond the LAN is rebroadcast on
// the LAN, and is sent the latest announcement of every LAN peer; a new LAN
// peer is sent on to every peer beyond the LAN. The packets are forwarded
// as received — still signed by their originator, so forwarding adds no
// trust, and sequence numbers turn every extra copy into a dropped
// duplicate. Only first contact is relayed; afterwards hosts talk directly.

import { formatIpv4, type Ipv4 } from '../net/ipv4.js';
import type { AnnounceMsg } from '../wire/codec.js';
import type { Transport } from '../discovery/transport.js';
import type { PeerTable } from '../peers/table.js';

const MAX_REMEMBERED = 4096;

export interface RelayDeps {
  transport: Transport;
  peers: PeerTable;
  /** our underlay: is an address on our LAN (reached by broadcast)? */
  underlay: { onLan(ip: Ipv4): boolean };
  discoveryPort: number;
  counters: { relayed: number };
}

export class Relay {
  private readonly last = new Map<string, Buffer>();

  constructor(private readonly d: RelayDeps) {}

  private send(packet: Buffer, to: Ipv4): void {
    this.d.transport.unicast(packet, { address: formatIpv4(to), port: this.d.discoveryPort });
    this.d.counters.relayed++;
  }

  /** Call for every accepted announcement; `isNew`: the first one we have from this node. */
  onAnnounce(msg: AnnounceMsg, packet: Buffer, isNew: boolean): void {
    this.last.delete(msg.nodeId);
    this.last.set(msg.nodeId, packet); // the transport never reuses it (Transport.onPacket)
    if (this.last.size > MAX_REMEMBERED) this.last.delete(this.last.keys().next().value!);
    if (!isNew || msg.underlayIp === 0) return;
    const newcomerOnLan = this.d.underlay.onLan(msg.underlayIp);
    if (!newcomerOnLan) {
      this.d.transport.broadcast(packet); // introduce the newcomer to our LAN
      this.d.counters.relayed++;
    }
    for (const p of this.d.peers.values()) {
      if (p.id === msg.nodeId || p.underlayIp === 0) continue;
      if (newcomerOnLan) {
        if (!this.d.underlay.onLan(p.underlayIp)) this.send(packet, p.underlayIp); // the newcomer to those beyond
      } else {
        const known = this.last.get(p.id);
        if (known && this.d.underlay.onLan(p.underlayIp)) this.send(known, msg.underlayIp); // and our LAN to it
      }
    }
  }

  forget(id: string): void {
    this.last.delete(id);
  }
}
