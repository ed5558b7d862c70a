// Layer: pure helpers. Contract: IPv4 addresses are unsigned 32-bit numbers
// inside the agent; strings only at the edges (config, logs, CLI, JSON).
// An overlay CIDR reserves its network address, its first host address
// (the cluster VIP) and its broadcast address; the rest go to hosts.

import { EdgeError } from '../errors.js';

export type Ipv4 = number;

export interface Cidr {
  readonly network: Ipv4;
  readonly prefix: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function parseIpv4(text: string): Ipv4 | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!OCTET.test(p)) return undefined;
    n = n * 256 + Number(p);
  }
  return n >>> 0;
}

export function formatIpv4(ip: Ipv4): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

export function ipv4ToBytes(ip: Ipv4): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(ip >>> 0, 0);
  return b;
}

export function ipv4FromBytes(b: Uint8Array): Ipv4 {
  if (b.length !== 4) throw new EdgeError('E_INTERNAL', `IPv4 address needs 4 bytes, got ${b.length}`);
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Smallest prefix we accept: a /30 leaves exactly one host after the VIP. */
export const MAX_OVERLAY_PREFIX = 30;

/** Parses "a.b.c.d/n"; returns a reason string instead of throwing. */
export function parseCidr(text: string): Cidr | string {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text.trim());
  if (!m) return `${text} is not a valid IPv4 CIDR`;
  const ip = parseIpv4(m[1]!);
  const prefix = Number(m[2]);
  if (ip === undefined || prefix > 32) return `${text} is not a valid IPv4 CIDR`;
  const network = (ip & maskOf(prefix)) >>> 0;
  if (network !== ip) return `${text} has host bits set (did you mean ${formatIpv4(network)}/${prefix}?)`;
  return { network, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.network)}/${c.prefix}`;
}

export function broadcastOf(c: Cidr): Ipv4 {
  return (c.network | (~maskOf(c.prefix) >>> 0)) >>> 0;
}

export function contains(c: Cidr, ip: Ipv4): boolean {
  return ((ip & maskOf(c.prefix)) >>> 0) === c.network;
}

/** Are `a` and `b` in one /prefix subnet? */
export function sameSubnet(a: Ipv4, b: Ipv4, prefix: number): boolean {
  return ((a ^ b) & maskOf(prefix)) === 0;
}

/** The cluster VIP: the first address after the network address. */
export function vipOf(c: Cidr): Ipv4 {
  return (c.network + 1) >>> 0;
}

/** First and last address a host may hold (VIP, network and broadcast excluded). */
export function hostRange(c: Cidr): { first: Ipv4; last: Ipv4; count: number } {
  const first = (c.network + 2) >>> 0;
  const last = (broadcastOf(c) - 1) >>> 0;
  return { first, last, count: Math.max(0, last - first + 1) };
}

export function isHostAddress(c: Cidr, ip: Ipv4): boolean {
  const r = hostRange(c);
  return ip >= r.first && ip <= r.last;
}

export function sameCidr(a: Cidr, b: Cidr): boolean {
  return a.network === b.network && a.prefix === b.prefix;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.network & maskOf(p)) >>> 0) === ((b.network & maskOf(p)) >>> 0);
}

/** MAC helpers: "02:aa:bb:cc:dd:ee" <-> 6 bytes. */
export function parseMac(text: string): Buffer | undefined {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(text)) return undefined;
  return Buffer.from(text.split(':').map((h) => parseInt(h, 16)));
}

/** parseMac for a MAC we built ourselves: a bad one is a bug, so it throws. */
export function macBytes(mac: string): Buffer {
  const b = parseMac(mac);
  if (!b) throw new EdgeError('E_INTERNAL', `bad MAC ${mac}`);
  return b;
}

export function formatMac(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

export const ZERO_MAC = '00:00:00:00:00:00';
