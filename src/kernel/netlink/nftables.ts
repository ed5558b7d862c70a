// Layer: kernel (nf_tables over netlink). Contract: atomically replaces the
// elements of one IPv4 set of an existing table (flush + add, one batch),
// without `nft`'s 15-20 ms start-up. Failures go to the caller, which falls
// back to `nft` (firewall/nft.ts, which also creates the table and set).

import type { Ipv4 } from '../../net/ipv4.js';
import { ipv4ToBytes } from '../../net/ipv4.js';
import { EdgeError, errnoName, KernelError } from '../../errors.js';
import { Channel, nl } from './socket.js';

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
const AF_INET = 2;
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
export function setBatch(table: string, set: string, elements: readonly Ipv4[], seq: number): Buffer {
  const target = Buffer.concat([attr(NFTA_SET_ELEM_LIST_TABLE, cstr(table)), attr(NFTA_SET_ELEM_LIST_SET, cstr(set))]);
  const nft = (t: number): number => (NFNL_SUBSYS_NFTABLES << 8) | t;
  const parts = [
    message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq, nfgen(AF_UNSPEC, NFNL_SUBSYS_NFTABLES)),
    // DELSETELEM without an element list flushes the set
    message(nft(NFT_MSG_DELSETELEM), NLM_F_REQUEST | (elements.length === 0 ? NLM_F_ACK : 0), seq + 1, Buffer.concat([nfgen(AF_INET, 0), target])),
  ];
  if (elements.length > 0) {
    const list = Buffer.concat(elements.map((ip) =>
      attr(NFTA_LIST_ELEM, attr(NFTA_SET_ELEM_KEY, attr(NFTA_DATA_VALUE, ipv4ToBytes(ip)), true), true)));
    parts.push(message(nft(NFT_MSG_NEWSETELEM), NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK, seq + 2,
      Buffer.concat([nfgen(AF_INET, 0), target, attr(NFTA_SET_ELEM_LIST_ELEMENTS, list, true)])));
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

  /** Atomically makes ip `table`'s set `set` hold exactly `elements`. */
  async replace(table: string, set: string, elements: readonly Ipv4[]): Promise<void> {
    const seq = this.seq;
    this.seq = (this.seq + 8) % 0x7fff0000;
    const batch = setBatch(table, set, elements, seq);
    const last = elements.length > 0 ? seq + 2 : seq + 1;
    const op = `nf_tables set update ip ${table} ${set}`;
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
