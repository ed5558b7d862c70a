// Layer: wire format (pure). Contract: encode() builds a signed packet;
// decode() never throws — it returns a message or the reason it was dropped.
//
//   0   4     5     6     7     8         10        10+len      +32
//   | "EOVL" | ver | type| flags| keyId | bodyLen | TLV body | HMAC-SHA256 |
//
// The HMAC covers header and body. Body fields are TLVs (id u8, len u8,
// value); unknown field ids are skipped so fields can be added; message
// types are append-only; a new incompatible layout takes a new version.
// Order of checks matters: cheap structural checks first, then the cluster
// name (so another cluster's packets are counted as such, not as forgeries),
// then the HMAC, and only then the meaning of the fields.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { EdgeError } from '../errors.js';
import { formatMac, ipv4FromBytes, ipv4ToBytes, macBytes, type Cidr } from '../net/ipv4.js';
import { ipv6FromBytes, ipv6ToBytes, isLinkLocal, type Ipv6 } from '../net/ipv6.js';
import { MessageType, type DropReason, type Message, type MessageKind } from './messages.js';

export * from './messages.js';

export const MAGIC = Buffer.from('EOVL', 'latin1');
export const VERSION = 1;
export const HEADER_LEN = 10;
export const MAC_LEN = 32;
export const MAX_PACKET = 512;
export const MAX_CLUSTER_NAME = 63;

const KIND_BY_CODE = new Map<number, MessageKind>(
  Object.entries(MessageType).map(([k, v]) => [v, k as MessageKind]),
);

/** TLV field ids; append-only as well. */
const F = {
  cluster: 1, nodeId: 2, overlayIp: 3, underlayIp: 4, mac: 5, seq: 6, sentAt: 7,
  claimedAt: 8, cidr: 9, vni: 10, holderId: 11, holderClaimedAt: 12, targetId: 13,
  nonce: 14, echo: 15, flags: 16, heldMs: 17, physMac: 18, linkLocal: 19, caps: 20,
} as const;
const FLAG_PINNED = 1;
/** the sender just started or just got a new address: it may have missed news, answer it */
const FLAG_FRESH = 2;
/** the sender and every host it knows can carry VXLAN over link-local (0.2; older decoders ignore the bit) */
const FLAG_LL_READY = 4;

export type Decoded<K extends SigningKey = SigningKey> =
  | { ok: true; msg: Message; key: K }
  | { ok: false; reason: DropReason; cluster?: string; cidr?: Cidr };

export interface SigningKey {
  id: number;
  key: Buffer;
}

function sign(key: Buffer, data: Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

const hexField = (h: string): Buffer => Buffer.from(h, 'hex');

function bodyFields(msg: Message): [number, Buffer][] {
  const fields: [number, Buffer][] = [
    [F.cluster, Buffer.from(msg.cluster, 'utf8')],
    [F.nodeId, hexField(msg.nodeId)],
    [F.seq, u64(msg.seq)],
    [F.sentAt, u64(msg.sentAt)],
    [F.overlayIp, ipv4ToBytes(msg.overlayIp)],
  ];
  switch (msg.type) {
    case 'defend':
      fields.push([F.holderId, hexField(msg.holderId)], [F.holderClaimedAt, u64(msg.holderClaimedAt)],
        [F.targetId, hexField(msg.targetId)], [F.heldMs, u64(msg.holderHeldMs)]);
      if (msg.echo) fields.push([F.echo, hexField(msg.echo)]);
      break;
    case 'forget':
      fields.push([F.targetId, hexField(msg.targetId)], [F.claimedAt, u64(msg.targetClaimedAt)]);
      break;
    case 'challenge':
      fields.push([F.targetId, hexField(msg.targetId)], [F.nonce, hexField(msg.nonce)]);
      break;
    case 'announce':
    case 'probe': {
      fields.push([F.underlayIp, ipv4ToBytes(msg.underlayIp)], [F.mac, macBytes(msg.mac)],
        [F.claimedAt, u64(msg.claimedAt)], [F.heldMs, u64(msg.heldMs)],
        [F.cidr, Buffer.concat([ipv4ToBytes(msg.cidr.network), Buffer.from([msg.cidr.prefix])])],
        [F.vni, u32(msg.vni)]);
      const flags = (msg.pinned ? FLAG_PINNED : 0) | (msg.type === 'announce' && msg.fresh ? FLAG_FRESH : 0)
        | (msg.type === 'announce' && msg.llReady ? FLAG_LL_READY : 0);
      if (flags) fields.push([F.flags, Buffer.from([flags])]);
      if (msg.physMac) fields.push([F.physMac, macBytes(msg.physMac)]);
      if (msg.linkLocal) fields.push([F.linkLocal, ipv6ToBytes(msg.linkLocal)]);
      // also 0: "a release that knows capabilities, none of them"
      if (msg.caps !== undefined) fields.push([F.caps, u32(msg.caps)]);
      if (msg.type === 'announce' && msg.echo) fields.push([F.echo, hexField(msg.echo)]);
    }
  }
  return fields;
}

export function encode(msg: Message, key: SigningKey): Buffer {
  const fields = bodyFields(msg);
  const parts: Buffer[] = [];
  for (const [id, value] of fields) parts.push(Buffer.from([id, value.length]), value);
  const body = Buffer.concat(parts);
  const header = Buffer.alloc(HEADER_LEN);
  MAGIC.copy(header, 0);
  header[4] = VERSION;
  header[5] = MessageType[msg.type];
  header[6] = 0;
  header[7] = key.id & 255;
  header.writeUInt16BE(body.length, 8);
  const signed = Buffer.concat([header, body]);
  const packet = Buffer.concat([signed, sign(key.key, signed)]);
  if (packet.length > MAX_PACKET) {
    throw new EdgeError('E_PACKET', `packet of ${packet.length} bytes exceeds ${MAX_PACKET}`);
  }
  return packet;
}

type Fields = Map<number, Buffer>;

function parseTlvs(body: Buffer): Fields | undefined {
  const out: Fields = new Map();
  let off = 0;
  while (off < body.length) {
    if (off + 2 > body.length) return undefined;
    const id = body[off]!;
    const len = body[off + 1]!;
    if (off + 2 + len > body.length) return undefined;
    if (out.has(id)) return undefined; // duplicate field: ambiguous, reject
    out.set(id, body.subarray(off + 2, off + 2 + len));
    off += 2 + len;
  }
  return out;
}

const SIZES: Record<number, number> = {
  [F.nodeId]: 16, [F.overlayIp]: 4, [F.underlayIp]: 4, [F.mac]: 6, [F.seq]: 8, [F.sentAt]: 8,
  [F.claimedAt]: 8, [F.cidr]: 5, [F.vni]: 4, [F.holderId]: 16, [F.holderClaimedAt]: 8, [F.targetId]: 16,
  [F.nonce]: 8, [F.echo]: 8, [F.flags]: 1, [F.heldMs]: 8, [F.physMac]: 6, [F.linkLocal]: 16, [F.caps]: 4,
};

/** A field decode() cannot use; caught inside decode(), never escapes. */
class Malformed extends EdgeError {
  constructor(message: string) {
    super('E_PACKET', message);
  }
}

function field(f: Fields, id: number): Buffer {
  const v = f.get(id);
  if (!v) throw new Malformed(`missing field ${id}`);
  const want = SIZES[id];
  if (want !== undefined && v.length !== want) throw new Malformed(`field ${id} has ${v.length} bytes`);
  return v;
}
function num64(f: Fields, id: number): number {
  const v = field(f, id).readBigUInt64BE(0);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Malformed(`field ${id} out of range`);
  return Number(v);
}
const hex = (f: Fields, id: number): string => field(f, id).toString('hex');

function optionalHex(f: Fields, id: number): string | undefined {
  return f.has(id) ? hex(f, id) : undefined;
}

function linkLocalOf(f: Fields): Ipv6 {
  const a = ipv6FromBytes(field(f, F.linkLocal));
  if (!isLinkLocal(a)) throw new Malformed('linkLocal is not a link-local address');
  return a;
}

function cidrOf(f: Fields): Cidr {
  const c = field(f, F.cidr);
  const prefix = c[4]!;
  if (prefix > 32) throw new Malformed('cidr prefix');
  return { network: ipv4FromBytes(c.subarray(0, 4)), prefix };
}

function interpret(kind: MessageKind, f: Fields, cluster: string): Message {
  const common = { cluster, nodeId: hex(f, F.nodeId), seq: num64(f, F.seq), sentAt: num64(f, F.sentAt) };
  const overlayIp = ipv4FromBytes(field(f, F.overlayIp));
  switch (kind) {
    case 'defend': {
      const echo = optionalHex(f, F.echo);
      return { ...common, type: kind, overlayIp, holderId: hex(f, F.holderId),
        holderClaimedAt: num64(f, F.holderClaimedAt), holderHeldMs: num64(f, F.heldMs), targetId: hex(f, F.targetId),
        ...(echo ? { echo } : {}) };
    }
    case 'forget':
      return { ...common, type: kind, overlayIp, targetId: hex(f, F.targetId), targetClaimedAt: num64(f, F.claimedAt) };
    case 'challenge':
      return { ...common, type: kind, overlayIp, targetId: hex(f, F.targetId), nonce: hex(f, F.nonce) };
    case 'announce':
    case 'probe': {
      const flags = f.has(F.flags) ? field(f, F.flags)[0]! : 0;
      const base = {
        ...common, overlayIp,
        underlayIp: ipv4FromBytes(field(f, F.underlayIp)),
        mac: formatMac(field(f, F.mac)),
        claimedAt: num64(f, F.claimedAt),
        heldMs: num64(f, F.heldMs),
        cidr: cidrOf(f),
        vni: field(f, F.vni).readUInt32BE(0),
        ...(flags & FLAG_PINNED ? { pinned: true } : {}),
        ...(f.has(F.physMac) ? { physMac: formatMac(field(f, F.physMac)) } : {}),
        ...(f.has(F.linkLocal) ? { linkLocal: linkLocalOf(f) } : {}),
        ...(f.has(F.caps) ? { caps: field(f, F.caps).readUInt32BE(0) } : {}),
      };
      if (kind === 'probe') return { ...base, type: kind };
      const echo = optionalHex(f, F.echo);
      return {
        ...base, type: kind, ...(flags & FLAG_FRESH ? { fresh: true } : {}),
        ...(flags & FLAG_LL_READY ? { llReady: true } : {}), ...(echo ? { echo } : {}),
      };
    }
  }
}

/**
 * Decodes and authenticates a packet for `cluster`. `keys` are tried in
 * order (the header's keyId first); any one verifying is enough.
 */
export function decode<K extends SigningKey>(packet: Buffer, cluster: string, keys: readonly K[]): Decoded<K> {
  try {
    if (packet.length > MAX_PACKET) return { ok: false, reason: 'too-long' };
    if (packet.length < HEADER_LEN + MAC_LEN) return { ok: false, reason: 'too-short' };
    if (!packet.subarray(0, 4).equals(MAGIC)) return { ok: false, reason: 'bad-magic' };
    if (packet[4] !== VERSION) return { ok: false, reason: 'bad-version' };
    const bodyLen = packet.readUInt16BE(8);
    if (HEADER_LEN + bodyLen + MAC_LEN !== packet.length) return { ok: false, reason: 'bad-length' };
    const kind = KIND_BY_CODE.get(packet[5]!);
    if (!kind) return { ok: false, reason: 'unknown-type' };
    const fields = parseTlvs(packet.subarray(HEADER_LEN, HEADER_LEN + bodyLen));
    const clusterField = fields?.get(F.cluster);
    if (!fields || !clusterField || clusterField.length === 0 || clusterField.length > MAX_CLUSTER_NAME) {
      return { ok: false, reason: 'malformed' };
    }
    const theirCluster = clusterField.toString('utf8');
    if (theirCluster !== cluster) {
      // Unauthenticated (we lack their key): good only for reporting an overlap.
      let cidr: Cidr | undefined;
      try { cidr = fields.has(F.cidr) ? cidrOf(fields) : undefined; } catch { cidr = undefined; }
      return { ok: false, reason: 'other-cluster', cluster: theirCluster, ...(cidr ? { cidr } : {}) };
    }
    const signed = packet.subarray(0, HEADER_LEN + bodyLen);
    const mac = packet.subarray(HEADER_LEN + bodyLen);
    const hint = packet[7]!;
    // the key the sender names first; then the others (a hint is only a hint)
    const good = keys.find((k) => k.id === hint && timingSafeEqual(sign(k.key, signed), mac))
      ?? keys.find((k) => k.id !== hint && timingSafeEqual(sign(k.key, signed), mac));
    if (!good) return { ok: false, reason: 'bad-auth' };
    return { ok: true, msg: interpret(kind, fields, theirCluster), key: good };
  } catch {
    // Only Malformed is expected here; anything else is a decoder bug, but a
    // packet from the network must never take the agent down either way.
    return { ok: false, reason: 'malformed' };
  }
}
