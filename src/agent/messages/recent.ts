// Layer: agent (receiving). Contract: the packets accepted lately, by their
// 32-byte authentication tag. The second copy of a packet (the other
// channel), within a second, is the very packet we just authenticated (its
// tag, then the whole of it, compared): a duplicate, dropped without a
// second HMAC. A later copy is a replay: dropped as one, and while the packet
// is remembered (30 s), without an HMAC either — a busy host reads its two
// sockets far apart. A packet that only reuses a tag is not a copy (the
// caller checks it in full, and it fails: a forgery). Bounded.

import type { Clock } from '../../clock.js';
import type { Message } from '../../wire/codec.js';

/** a site's traffic of some seconds */
const MAX_PACKETS = 4096;
/** the second copy of a packet arrives within this; later it is a replay */
const DUPLICATE_WINDOW_MS = 1000;
/** a copy of a remembered packet this recent is dropped without an HMAC; an older one is checked in full */
const REMEMBER_MS = 30_000;

/** A copy of a packet accepted lately: who sent it, from which physical MAC (raw L2 adjacency), whether it is late. */
export interface Copy {
  nodeId: string;
  physMac: string | undefined;
  /** older than the duplicate window: a replay */
  replay: boolean;
}

export class RecentPackets {
  private readonly byTag =
    new Map<string, { packet: Buffer; nodeId: string; physMac: string | undefined; at: number }>();

  constructor(private readonly clock: Clock) {}

  /** The packet's tag (undefined: too short to carry one). */
  static tag(packet: Buffer): string | undefined {
    return packet.length < 32 ? undefined : packet.toString('latin1', packet.length - 32);
  }

  /** Is `packet` a copy of one accepted lately? */
  copyOf(tag: string | undefined, packet: Buffer): Copy | undefined {
    const hit = tag === undefined ? undefined : this.byTag.get(tag);
    if (!hit || !hit.packet.equals(packet)) return undefined;
    const age = this.clock.monotonic() - hit.at;
    if (age > REMEMBER_MS) return undefined;
    return { nodeId: hit.nodeId, physMac: hit.physMac, replay: age > DUPLICATE_WINDOW_MS };
  }

  /** `packet` (tag `tag`) authenticated as `msg`. */
  remember(tag: string, packet: Buffer, msg: Message): void {
    const physMac = msg.type === 'announce' || msg.type === 'probe' ? msg.physMac : undefined;
    this.byTag.set(tag, { packet, nodeId: msg.nodeId, physMac, at: this.clock.monotonic() });
    if (this.byTag.size > MAX_PACKETS) this.byTag.delete(this.byTag.keys().next().value!);
  }
}
