// Layer: kernel (netlink message shapes). Contract: converts between the
// netlink library's parsed messages and our plain Link/Addr/FdbEntry/Neigh/
// HostRoute/DefaultRoute records, and builds the nested IFLA_LINKINFO the
// library leaves raw.
// IPv6 addresses and the mixed-family FDB parts: messages6.ts.

import { formatMac, ipv4FromBytes, ipv4ToBytes, type Ipv4 } from '../../net/ipv4.js';
import { ipv6FromBytes, ipv6ToBytes, type IpAddr, type Ipv6 } from '../../net/ipv6.js';
import type { Addr, DefaultRoute, FdbEntry, HostRoute, KernelEvent, Link, Neigh, VxlanInfo } from '../types.js';
import { AF_INET6, addr6Event, ipFromBytes, viaFromBytes } from './messages6.js';
import { nl, type RtMessage } from './socket.js';

export const AF_INET = 2;
export const AF_BRIDGE = 7;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;

export const RTM = {
  NEWLINK: 16, DELLINK: 17, GETLINK: 18, SETLINK: 19, NEWADDR: 20, DELADDR: 21, GETADDR: 22,
  NEWROUTE: 24, DELROUTE: 25, GETROUTE: 26, NEWNEIGH: 28, DELNEIGH: 29, GETNEIGH: 30,
} as const;

/** Routing protocol number marking the routes we own (like "proto static", but ours). */
export const RTPROT_EDGE_OVERLAY = 155;

function concat(bufs: Uint8Array[]): Buffer {
  return Buffer.concat(bufs);
}

/** IFLA_LINKINFO payload: kind, plus IFLA_INFO_DATA when given. */
export function linkInfo(kind: string, data?: Uint8Array[]): Buffer {
  const s = new nl.AttrStream();
  s.push(IFLA_INFO_KIND, Buffer.from(`${kind}\0`, 'latin1'));
  if (data) s.push(IFLA_INFO_DATA, data);
  return concat(s.bufs);
}

export function vxlanData(
  fields: { vni?: number; port?: number; link?: number; local?: Ipv4; local6?: Ipv6; learning?: boolean },
): Uint8Array[] {
  const v: import('netlink').ifla.Vxlan = {};
  if (fields.vni !== undefined) v.id = fields.vni;
  if (fields.link !== undefined) v.link = fields.link;
  if (fields.learning !== undefined) v.learning = fields.learning ? 1 : 0;
  if (fields.port !== undefined) {
    const p = Buffer.alloc(2);
    p.writeUInt16BE(fields.port);
    v.port = p;
  }
  if ('local' in fields) v.local = ipv4ToBytes(fields.local ?? 0);
  if (fields.local6 !== undefined) v.local6 = ipv6ToBytes(fields.local6);
  const s = new nl.AttrStream();
  s.emit(nl.ifla.formatVxlan(v));
  return s.bufs;
}

function parseLinkInfo(buf: Buffer): { kind: string | undefined; vxlan: VxlanInfo | undefined } {
  let kind: string | undefined;
  let data: Buffer | undefined;
  nl.parseAttributes(buf, (a) => {
    if (a.type === IFLA_INFO_KIND) kind = a.data.toString('latin1').replace(/\0+$/, '');
    else if (a.type === IFLA_INFO_DATA) data = a.data;
  });
  let vxlan: VxlanInfo | undefined;
  if (kind === 'vxlan' && data) {
    const v = nl.ifla.parseVxlan(data);
    const local = v.local && v.local.length === 4 ? ipv4FromBytes(v.local) : 0;
    const local6 = v.local6?.length === 16 ? ipv6FromBytes(v.local6) : '::';
    vxlan = {
      vni: v.id ?? 0,
      port: v.port && v.port.length === 2 ? v.port.readUInt16BE(0) : 0,
      link: v.link || undefined,
      local: local === 0 ? undefined : local,
      local6: local6 === '::' ? undefined : local6,
      learning: Boolean(v.learning),
    };
  }
  return { kind, vxlan };
}

export function toLink(m: RtMessage): Link | undefined {
  if (m.kind !== 'link') return undefined;
  const { data, attrs } = m;
  if (data.index === undefined || attrs.ifname === undefined) return undefined;
  const info = attrs.linkinfo ? parseLinkInfo(attrs.linkinfo) : { kind: undefined, vxlan: undefined };
  return {
    index: data.index,
    name: attrs.ifname,
    kind: info.kind,
    mtu: attrs.mtu ?? 0,
    up: Boolean(data.flags?.up),
    carrier: Boolean(data.flags?.lowerUp),
    mac: attrs.address && attrs.address.length === 6 ? formatMac(attrs.address) : '',
    master: attrs.master || undefined,
    vxlan: info.vxlan,
  };
}

export function toAddr(m: RtMessage): Addr | undefined {
  if (m.kind !== 'address' || m.data.family !== AF_INET) return undefined;
  const raw = m.attrs.local ?? m.attrs.address;
  if (!raw || raw.length !== 4 || m.data.index === undefined) return undefined;
  const secondary = Boolean(m.attrs.flags?.secondary ?? m.data.flags?.secondary);
  return { index: m.data.index, address: ipv4FromBytes(raw), prefix: m.data.prefixlen ?? 32, secondary };
}

export function toFdb(m: RtMessage, index: number): FdbEntry | undefined {
  if (m.kind !== 'neighbor' || m.data.family !== AF_BRIDGE || m.data.ifindex !== index) return undefined;
  if (!m.data.flags?.self) return undefined; // bridge (master) entries are the bridge's own learning
  const { lladdr } = m.attrs;
  const dst = ipFromBytes(m.attrs.dst);
  if (!lladdr || lladdr.length !== 6 || dst === undefined) return undefined;
  const via = viaFromBytes(m.attrs.ifindex);
  return via === undefined ? { mac: formatMac(lladdr), dst } : { mac: formatMac(lladdr), dst, via };
}

export function toNeigh(m: RtMessage): Neigh | undefined {
  if (m.kind !== 'neighbor' || m.data.family !== AF_INET || m.data.ifindex === undefined) return undefined;
  const dst = m.attrs.dst;
  if (!dst || dst.length !== 4) return undefined;
  const ll = m.attrs.lladdr;
  return {
    index: m.data.ifindex,
    dst: ipv4FromBytes(dst),
    mac: ll && ll.length === 6 ? formatMac(ll) : undefined,
    permanent: Boolean(m.data.state?.permanent),
  };
}

export function toHostRoute(m: RtMessage): HostRoute | undefined {
  if (m.kind !== 'route' || m.data.family !== AF_INET || m.data.dstLen !== 32) return undefined;
  // the library types only the named protocols
  if ((m.data.protocol as unknown) !== RTPROT_EDGE_OVERLAY) return undefined;
  const { dst, oif, prefsrc } = m.attrs;
  if (!dst || dst.length !== 4 || oif === undefined) return undefined;
  return { dst: ipv4FromBytes(dst), index: oif, src: prefsrc && prefsrc.length === 4 ? ipv4FromBytes(prefsrc) : 0 };
}

const RT_TABLE_MAIN = 254;

/**
 * A default route of the main table (unicast) with its device: RTA_OIF, or a multipath route's first hop (struct
 * rtnexthop: len, flags, hops, ifindex).
 */
export function toDefaultRoute(m: RtMessage): DefaultRoute | undefined {
  if (m.kind !== 'route' || (m.data.family !== AF_INET && m.data.family !== AF_INET6) || m.data.dstLen !== 0) {
    return undefined;
  }
  if ((m.attrs.table ?? m.data.table) !== RT_TABLE_MAIN || (m.data.type as unknown) !== 'UNICAST') return undefined;
  const hop = m.attrs.multipath;
  const index = m.attrs.oif
    ?? (hop && hop.length >= 8 ? Buffer.from(hop.buffer, hop.byteOffset, 8).readInt32LE(4) : undefined);
  if (!index) return undefined; // a nexthop object (RTA_NH_ID) names no device here
  return { family: m.data.family === AF_INET ? 4 : 6, index, metric: m.attrs.priority ?? 0 };
}

/** Turns one multicast notification into a KernelEvent (or nothing we watch). */
export function toEvent(type: number, m: RtMessage): KernelEvent | undefined {
  const op = type === RTM.NEWLINK || type === RTM.NEWADDR || type === RTM.NEWNEIGH ? 'new' : 'del';
  if (m.kind === 'link') {
    if (m.data.index === undefined) return undefined;
    return { type: 'link', op, index: m.data.index, name: m.attrs.ifname };
  }
  if (m.kind === 'address') {
    if (m.data.family === AF_INET6) return addr6Event(op, m);
    const a = toAddr(m);
    return a ? { type: 'addr', op, index: a.index, address: a.address, prefix: a.prefix } : undefined;
  }
  if (m.kind === 'neighbor') {
    if (m.data.family === AF_BRIDGE && m.data.ifindex !== undefined) {
      const ll = m.attrs.lladdr;
      const via = viaFromBytes(m.attrs.ifindex);
      return {
        type: 'fdb', op, index: m.data.ifindex,
        mac: ll && ll.length === 6 ? formatMac(ll) : '',
        dst: ipFromBytes(m.attrs.dst),
        ...(via === undefined ? {} : { via }),
        self: Boolean(m.data.flags?.self),
      };
    }
    const n = toNeigh(m);
    return n ? { type: 'neigh', op, index: n.index, dst: n.dst, mac: n.mac, permanent: n.permanent } : undefined;
  }
  return undefined;
}

const NDA_DST = 1;
const NDA_LLADDR = 2;
const NDA_IFINDEX = 8;
const NUD_PERMANENT = 0x80;
const NTF_SELF = 0x02;
const NDMSG_LEN = 12;

/**
 * The same event as toEvent() for RTM_NEWNEIGH/DELNEIGH, read straight from
 * the fixed layout (struct ndmsg, then NDA_DST, NDA_LLADDR, NDA_IFINDEX). Every FDB and
 * neighbour change we make comes back as one of these: hundreds in a storm,
 * where the library's generic parser (an object and a Buffer view per
 * attribute) was a sixth of the agent's CPU. test/unit/netlink-messages
 * checks it against the library on the same bytes.
 */
export function neighEvent(type: number, b: Buffer): KernelEvent | undefined {
  if (b.length < NDMSG_LEN) return undefined;
  const family = b[0];
  if (family !== AF_INET && family !== AF_BRIDGE) return undefined;
  const index = b.readInt32LE(4);
  const state = b.readUInt16LE(8);
  const flags = b[10]!;
  let dst: IpAddr | undefined;
  let mac: string | undefined;
  let via: number | undefined;
  for (let off = NDMSG_LEN; off + 4 <= b.length;) {
    const len = b.readUInt16LE(off);
    if (len < 4 || off + len > b.length) break;
    const attr = b.readUInt16LE(off + 2) & 0x3fff; // without NLA_F_NESTED / NET_BYTEORDER
    if (attr === NDA_DST && len === 8) dst = b.readUInt32BE(off + 4) >>> 0;
    else if (attr === NDA_DST && len === 20 && family === AF_BRIDGE) dst = ipv6FromBytes(b.subarray(off + 4, off + 20));
    else if (attr === NDA_LLADDR && len === 10) mac = formatMac(b.subarray(off + 4, off + 10));
    else if (attr === NDA_IFINDEX && len === 8) via = b.readUInt32LE(off + 4) || undefined;
    off += (len + 3) & ~3;
  }
  const op = type === RTM.NEWNEIGH ? 'new' : 'del';
  if (family === AF_BRIDGE) {
    return {
      type: 'fdb', op, index, mac: mac ?? '', dst, ...(via === undefined ? {} : { via }),
      self: (flags & NTF_SELF) !== 0,
    };
  }
  return typeof dst !== 'number'
    ? undefined
    : { type: 'neigh', op, index, dst, mac, permanent: (state & NUD_PERMANENT) !== 0 };
}
