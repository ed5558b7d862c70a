// Layer: pure helpers. Contract: IPv6 addresses are strings in their one
// canonical RFC 5952 form (lower case, no leading zeros, the longest run of
// two or more zero groups as "::", the first on a tie; IPv4-mapped as
// ::ffff:a.b.c.d), so equal addresses compare equal with ===. An IPv4
// address stays a number (net/ipv4.ts): `typeof` tells an IpAddr apart.

import { EdgeError } from '../errors.js';
import { formatIpv4, macBytes, parseIpv4, type Ipv4 } from './ipv4.js';

export type Ipv6 = string & { readonly __ipv6: true };
export type IpAddr = Ipv4 | Ipv6;

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** The eight 16-bit groups of `text`, or undefined if it is not an IPv6 address (zone ids are refused). */
function groupsOf(text: string): number[] | undefined {
  if (text.length < 2 || text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string, last: boolean): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (last && i === items.length - 1 && it.includes('.')) {
        const v4 = parseIpv4(it);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else if (HEX_GROUP.test(it)) {
        out.push(parseInt(it, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  if (halves.length === 1) {
    const g = parse(text, true);
    return g?.length === 8 ? g : undefined;
  }
  const head = parse(halves[0]!, false);
  const tail = parse(halves[1]!, true);
  if (!head || !tail || head.length + tail.length > 7) return undefined;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

function format(g: number[]): Ipv6 {
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${formatIpv4(((g[6]! << 16) | g[7]!) >>> 0)}` as Ipv6;
  }
  let best = -1;
  let bestLen = 1; // a single zero group is never compressed
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g) as Ipv6;
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}` as Ipv6;
}

/** Any valid IPv6 text (compressed, upper case, embedded IPv4) in canonical form; undefined otherwise. */
export function parseIpv6(text: string): Ipv6 | undefined {
  const g = groupsOf(text);
  return g ? format(g) : undefined;
}

export function ipv6FromBytes(b: Uint8Array): Ipv6 {
  if (b.length !== 16) throw new EdgeError('E_INTERNAL', `IPv6 address needs 16 bytes, got ${b.length}`);
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  return format(g);
}

export function ipv6ToBytes(a: Ipv6): Buffer {
  const g = groupsOf(a);
  if (!g) throw new EdgeError('E_INTERNAL', `bad IPv6 address ${a}`);
  const b = Buffer.alloc(16);
  g.forEach((x, i) => b.writeUInt16BE(x, i * 2));
  return b;
}

/** fe80::/10 */
export function isLinkLocal(a: Ipv6): boolean {
  const b = ipv6ToBytes(a);
  return b[0] === 0xfe && (b[1]! & 0xc0) === 0x80;
}

/** The EUI-64 link-local address the kernel gives a NIC with this MAC (addrgenmode eui64). */
export function linkLocalFromMac(mac: string): Ipv6 {
  const m = macBytes(mac);
  const b = Buffer.from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, m[0]! ^ 0x02, m[1]!, m[2]!, 0xff, 0xfe, m[3]!, m[4]!, m[5]!]);
  return ipv6FromBytes(b);
}

export function isIpv6(a: IpAddr): a is Ipv6 {
  return typeof a === 'string';
}

export function formatIp(a: IpAddr): string {
  return isIpv6(a) ? a : formatIpv4(a);
}
