// Layer: kernel (netlink message shapes, IPv6 and mixed-family parts).
// Contract: reads IPv6 addresses (ifaddrmsg + IFA_FLAGS), the IPv4-or-IPv6
// NDA_DST and the NDA_IFINDEX of FDB entries; builds their attributes.

import { ipv4FromBytes, ipv4ToBytes } from '../../net/ipv4.js';
import { ipv6FromBytes, ipv6ToBytes, isIpv6, isLinkLocal, type IpAddr } from '../../net/ipv6.js';
import type { Addr6, KernelEvent } from '../types.js';
import type { RtMessage } from './socket.js';

export const AF_INET6 = 10;

/** An NDA_DST/IFA_ADDRESS of 4 or 16 bytes; anything else is no address. */
export function ipFromBytes(b: Uint8Array | undefined): IpAddr | undefined {
  if (b?.length === 4) return ipv4FromBytes(b);
  if (b?.length === 16) return ipv6FromBytes(b);
  return undefined;
}

export function ipToBytes(a: IpAddr): Buffer {
  return isIpv6(a) ? ipv6ToBytes(a) : ipv4ToBytes(a);
}

/** NDA_IFINDEX (a host-order u32, raw in the library) as an ifindex; 0 or malformed: none. */
export function viaFromBytes(b: Uint8Array | undefined): number | undefined {
  if (b?.length !== 4) return undefined;
  const v = Buffer.from(b.buffer, b.byteOffset, 4).readUInt32LE(0);
  return v === 0 ? undefined : v;
}

export function viaToBytes(via: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(via);
  return b;
}

export function toAddr6(m: RtMessage): Addr6 | undefined {
  if (m.kind !== 'address' || m.data.family !== AF_INET6 || m.data.index === undefined) return undefined;
  const raw = m.attrs.local ?? m.attrs.address;
  if (raw?.length !== 16) return undefined;
  const address = ipv6FromBytes(raw);
  const flags = m.attrs.flags ?? m.data.flags ?? {}; // IFA_FLAGS, when present, supersedes ifa_flags
  return {
    index: m.data.index, address, prefix: m.data.prefixlen ?? 128, linkLocal: isLinkLocal(address),
    tentative: Boolean(flags.tentative), dadFailed: Boolean(flags.dadfailed),
  };
}

export function addr6Event(op: 'new' | 'del', m: RtMessage): KernelEvent | undefined {
  const a = toAddr6(m);
  return a
    ? {
      type: 'addr6', op, index: a.index, address: a.address, prefix: a.prefix, tentative: a.tentative,
      dadFailed: a.dadFailed,
    }
    : undefined;
}
