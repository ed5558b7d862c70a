// Layer: agent (introductions across segments). Contract: broadcasts stop at
// the router, so hosts on different L2 segments meet through unicast seeds
// (--peer). A seed only knows who sends to it; so when a host first hears of
// a new peer, it introduces it: a new peer beyond the LAN is rebroadcast on
// the LAN, and is sent the latest announcement of every LAN peer; a new LAN
// peer is sent on to every peer beyond the LAN. The packets are forwarded
// as received — still signed by their originator, so forwarding adds no
// trust, and sequence numbers turn every extra copy into a dropped
// duplicate. Only first contact is relayed; afterwards hosts talk directly.
// What to forward is returned as Outgoing values; the sender forwards them.

import type { AnnounceMsg } from '../../wire/codec.js';
import type { PeerTable } from '../../peers/table.js';
import type { Outgoing } from '../actions.js';
import { onLan, type UnderlaySnapshot } from '../underlay/watcher.js';

const MAX_REMEMBERED = 4096;

export class Relay {
  private readonly last = new Map<string, Buffer>();

  constructor(private readonly peers: PeerTable) {}

  /** Call for every accepted announcement; `isNew`: the first one we have from this node; `lan`: our underlay now. */
  onAnnounce(msg: AnnounceMsg, packet: Buffer, isNew: boolean, lan: UnderlaySnapshot): Outgoing[] {
    this.last.delete(msg.nodeId);
    this.last.set(msg.nodeId, packet); // the transport never reuses it (Transport.onPacket)
    if (this.last.size > MAX_REMEMBERED) this.last.delete(this.last.keys().next().value!);
    if (!isNew || msg.underlayIp === 0) return [];
    const out: Outgoing[] = [];
    const newcomerOnLan = onLan(lan, msg.underlayIp);
    if (!newcomerOnLan) out.push({ kind: 'relay', packet }); // introduce the newcomer to our LAN
    for (const p of this.peers.values()) {
      if (p.id === msg.nodeId || p.underlayIp === 0) continue;
      if (newcomerOnLan) {
        // the newcomer to those beyond
        if (!onLan(lan, p.underlayIp)) out.push({ kind: 'relay', packet, to: p.underlayIp });
      } else {
        const known = this.last.get(p.id);
        // and our LAN to it
        if (known && onLan(lan, p.underlayIp)) out.push({ kind: 'relay', packet: known, to: msg.underlayIp });
      }
    }
    return out;
  }

  forget(id: string): void {
    this.last.delete(id);
  }
}
