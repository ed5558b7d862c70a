// Layer: kernel (nf_tables over netlink). Contract: NftSetWriter atomically
// replaces the elements of one address set (IPv4 or IPv6) of an existing inet table (flush +
// add, one batch) without `nft`'s 15-20 ms start-up; failures go to the
// caller, which falls back to `nft` (firewall/nft.ts, which also creates the
// table). NftMonitor reports nf_tables changes to a table as they happen.

import type { IpAddr } from '../../net/ipv6.js';
import { ipToBytes } from './messages6.js';
import { EdgeError, errnoName, KernelError } from '../../errors.js';
import type { Clock } from '../../clock.js';
import { Channel, EventSocket, nl } from './socket.js';

type NetlinkMessage = import('netlink').NetlinkMessage;

const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_DATA_VALUE = 1;
const NLA_F_NESTED = 0x8000;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const NLM_F_CREATE = 0x400;
const AF_UNSPEC = 0;
const NFPROTO_INET = 1;
/** multicast group of nf_tables change notifications */
const NFNLGRP_NFTABLES = 7;
const TIMEOUT_MS = 1000;

const pad4 = (n: number): number => (n + 3) & ~3;

function attr(type: number, data: Buffer, nested = false): Buffer {
  const b = Buffer.alloc(pad4(4 + data.length));
  b.writeUInt16LE(4 + data.length, 0);
  b.writeUInt16LE(type | (nested ? NLA_F_NESTED : 0), 2);
  data.copy(b, 4);
  return b;
}

const cstr = (s: string): Buffer => Buffer.from(`${s}\0`, 'latin1');

function nfgen(family: number, resId: number): Buffer {
  const b = Buffer.alloc(4);
  b[0] = family;
  b[1] = 0; // NFNETLINK_V0
  b.writeUInt16BE(resId, 2);
  return b;
}

function message(type: number, flags: number, seq: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(16 + payload.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq, 8);
  b.writeUInt32LE(0, 12);
  payload.copy(b, 16);
  return b;
}

/** The batch that makes `set` hold exactly `elements` (pure; exported for tests). */
export function setBatch(table: string, set: string, elements: readonly IpAddr[], seq: number): Buffer {
  const target = Buffer.concat([attr(NFTA_SET_ELEM_LIST_TABLE, cstr(table)), attr(NFTA_SET_ELEM_LIST_SET, cstr(set))]);
  const nft = (t: number): number => (NFNL_SUBSYS_NFTABLES << 8) | t;
  const parts = [
    message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq, nfgen(AF_UNSPEC, NFNL_SUBSYS_NFTABLES)),
    // DELSETELEM without an element list flushes the set
    message(nft(NFT_MSG_DELSETELEM), NLM_F_REQUEST | (elements.length === 0 ? NLM_F_ACK : 0), seq + 1,
      Buffer.concat([nfgen(NFPROTO_INET, 0), target])),
  ];
  if (elements.length > 0) {
    const list = Buffer.concat(elements.map((ip) =>
      attr(NFTA_LIST_ELEM, attr(NFTA_SET_ELEM_KEY, attr(NFTA_DATA_VALUE, ipToBytes(ip)), true), true)));
    parts.push(message(nft(NFT_MSG_NEWSETELEM), NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK, seq + 2,
      Buffer.concat([nfgen(NFPROTO_INET, 0), target, attr(NFTA_SET_ELEM_LIST_ELEMENTS, list, true)])));
  }
  parts.push(message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq + 3, nfgen(AF_UNSPEC, NFNL_SUBSYS_NFTABLES)));
  return Buffer.concat(parts);
}

/**
 * Sends set updates on a netlink channel of its own (socket.ts: one update at
 * a time; a socket that errs or times out is dropped and reopened), and
 * waits for the kernel's answer to every message of the batch.
 */
export class NftSetWriter {
  private readonly channel = new Channel(1, nl.Protocol.NETFILTER, 1 << 16);
  private seq = 1;

  /** Atomically makes inet `table`'s set `set` hold exactly `elements`. */
  async replace(table: string, set: string, elements: readonly IpAddr[]): Promise<void> {
    const seq = this.seq;
    this.seq = (this.seq + 8) % 0x7fff0000;
    const batch = setBatch(table, set, elements, seq);
    const last = elements.length > 0 ? seq + 2 : seq + 1;
    const op = `nf_tables set update inet ${table} ${set}`;
    await this.channel.run((s) => new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer);
        s.off('message', onMessage);
        if (err) reject(err);
        else resolve();
      };
      const onMessage = (msgs: NetlinkMessage | NetlinkMessage[]): void => {
        for (const m of [msgs].flat()) {
          if (m.type !== nl.MessageType.ERROR || m.seq < seq || m.seq > last) continue;
          const { errno } = nl.parseError(m.data, m.flags);
          if (errno < 0) return done(new KernelError(op, -errno, errnoName(-errno)));
          if (m.seq === last) return done();
        }
      };
      const timer = setTimeout(() => done(new EdgeError('E_KERNEL', 'no answer from nf_tables')), TIMEOUT_MS);
      s.on('message', onMessage);
      s.socket.send([batch], { port: 0 }, (err) => {
        if (err) done(new EdgeError('E_KERNEL', err.message));
      });
    }));
  }

  close(): void {
    this.channel.close();
  }
}

/** An nf_tables object that changed: a table, chain, rule or set (elements are not reported). */
export interface NftChange {
  op: 'new' | 'del';
  what: 'table' | 'chain' | 'rule' | 'set';
  family: number;
  table: string;
}

const CHANGES: Record<number, [NftChange['op'], NftChange['what']]> = {
  0: ['new', 'table'], 2: ['del', 'table'], 3: ['new', 'chain'], 5: ['del', 'chain'],
  6: ['new', 'rule'], 8: ['del', 'rule'], 9: ['new', 'set'], 11: ['del', 'set'],
};

/** Reads one notification: its kind, family and table (attribute 1 of each of these messages). */
export function parseNftChange(type: number, data: Uint8Array): NftChange | undefined {
  if (type >> 8 !== NFNL_SUBSYS_NFTABLES) return undefined;
  const kind = CHANGES[type & 0xff];
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (!kind || b.length < 8) return undefined;
  for (let off = 4; off + 4 <= b.length;) {
    const len = b.readUInt16LE(off);
    if (len < 4 || off + len > b.length) return undefined;
    if ((b.readUInt16LE(off + 2) & 0x3fff) === 1) {
      const end = b.indexOf(0, off + 4);
      const table = b.toString('latin1', off + 4, end < 0 || end > off + len ? off + len : end);
      return { op: kind[0], what: kind[1], family: b[0]!, table };
    }
    off += pad4(len);
  }
  return undefined;
}

const NFT_MSG_NEWGEN = 15;
const NFTA_GEN_PROC_PID = 2;

/**
 * The process that committed a transaction, from its closing NEWGEN notification (undefined if the kernel does not
 * say).
 */
export function parseGenPid(data: Uint8Array): number | undefined {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (let off = 4; off + 4 <= b.length;) {
    const len = b.readUInt16LE(off);
    if (len < 4 || off + len > b.length) return undefined;
    if ((b.readUInt16LE(off + 2) & 0x3fff) === NFTA_GEN_PROC_PID && len >= 8) return b.readUInt32BE(off + 4);
    off += pad4(len);
  }
  return undefined;
}

/** One committed nf_tables transaction that touched our table. */
export interface NftTransaction {
  changes: NftChange[];
  /** who committed it (undefined: the kernel did not say) */
  pid: number | undefined;
}

/**
 * Follows nf_tables notifications (another program, `nft flush ruleset`,
 * `systemctl reload nftables`) and reports each committed transaction that
 * changed `table`, with the process that made it. Lost notifications are
 * reported as 'lost': the caller reads the table back.
 */
export class NftMonitor {
  private sock: EventSocket | undefined;

  constructor(private readonly clock: Clock) {}

  /** Reports transactions that changed inet `table`. */
  start(table: string, onChange: (t: NftTransaction | 'lost') => void): void {
    let pending: NftChange[] = [];
    this.sock = new EventSocket([NFNLGRP_NFTABLES], {
      messages: (msgs) => {
        for (const m of msgs) {
          if (m.type === ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN)) {
            if (pending.length) onChange({ changes: pending, pid: parseGenPid(m.data) });
            pending = [];
            continue;
          }
          const c = parseNftChange(m.type, m.data);
          if (c && c.table === table && c.family === NFPROTO_INET) pending.push(c);
        }
      },
      lost: () => {
        pending = [];
        onChange('lost');
      },
    }, this.clock, 1 << 20, nl.Protocol.NETFILTER);
    this.sock.start();
  }

  close(): void {
    this.sock?.close();
    this.sock = undefined;
  }
}
