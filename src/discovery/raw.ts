// Layer: discovery transport (raw L2). Contract: our packets as Ethernet
// broadcast frames (own EtherType, native AF_PACKET) on the physical interface,
// so hosts meet before they have IPv4 or when DHCP split one segment into
// subnets. Reopened whenever the interface index changes.

import { openPacketSocket, type PacketSocket } from '../native/addon.js';

/** IEEE 802 "Local Experimental Ethertype 1". */
export const DISCOVERY_ETHERTYPE = 0x88b5;

export type FrameHandler = (packet: Buffer, srcMac: string) => void;

export interface RawOpener {
  (ifindex: number, onFrame: (frame: Buffer, srcMac: string) => void, onError: (errno: number) => void): PacketSocket;
}

export const openRaw: RawOpener = (ifindex, onFrame, onError) => openPacketSocket(ifindex, DISCOVERY_ETHERTYPE, onFrame, onError);

/** Length (u16 BE) first: short frames get padded on the wire. */
export function frame(packet: Buffer): Buffer {
  const out = Buffer.alloc(2 + packet.length);
  out.writeUInt16BE(packet.length, 0);
  packet.copy(out, 2);
  return out;
}

/** The packet inside a frame, or the whole frame if its length is wrong (the decoder then counts it). */
export function unframe(f: Buffer): Buffer {
  if (f.length < 2) return f;
  const len = f.readUInt16BE(0);
  return len <= f.length - 2 ? f.subarray(2, 2 + len) : f;
}

export class RawChannel {
  private sock: PacketSocket | undefined;
  private index: number | undefined;
  sendErrors = 0;
  openError: string | undefined;

  constructor(private readonly onPacket: FrameHandler, private readonly open: RawOpener = openRaw) {}

  setLink(index: number | undefined): void {
    if (index === this.index && (this.sock || index === undefined)) return;
    this.sock?.close();
    this.sock = undefined;
    this.index = index;
    if (index === undefined) return;
    try {
      this.sock = this.open(index, (f, mac) => this.onPacket(unframe(f), mac), () => { this.sendErrors++; });
      this.openError = undefined;
    } catch (err) {
      this.openError = (err as Error).message; // e.g. no CAP_NET_RAW: UDP discovery still works
    }
  }

  get ready(): boolean {
    return this.sock !== undefined;
  }

  broadcast(packet: Buffer): void {
    if (!this.sock) return;
    if (this.sock.send(frame(packet)) !== 0) this.sendErrors++;
  }

  close(): void {
    this.sock?.close();
    this.sock = undefined;
    this.index = undefined;
  }
}
