// Test double, FDB-and-neighbours part of FakeKernel (test/fakes/kernel.ts):
// a VXLAN device's FDB as rtnetlink keeps it — destinations told apart by dst
// and `via`, all-zeros entries appended (duplicates accepted, no change) and
// never REPLACEd (ENOTSUP), REPLACE repointing a unicast MAC's destination,
// APPEND on a unicast MAC ignored, EAFNOSUPPORT for a dst of the other family,
// ENOENT for a missing MAC — and neighbour entries: ARP ones with events
// (FAILED, then gone, on delete), ND ones (IPv6, kernel-ipv6.ts) without, and
// EINVAL for ND on a device with IPv6 disabled.

import { ZERO_MAC, type Ipv4 } from '../../src/net/ipv4.js';
import { formatIp, isIpv6, type IpAddr } from '../../src/net/ipv6.js';
import type { FdbEntry, Neigh } from '../../src/kernel/types.js';
import { FakeAddrs } from './kernel-addrs.js';

/** neither multicast nor all-zeros: the entries REPLACE may repoint */
const isUnicast = (mac: string): boolean => mac !== ZERO_MAC && (parseInt(mac.slice(0, 2), 16) & 1) === 0;
/** one destination of an FDB MAC: the kernel tells them apart by dst and via */
const sameRdst = (a: FdbEntry, b: FdbEntry): boolean => a.dst === b.dst && (a.via ?? 0) === (b.via ?? 0);
const entry = (e: FdbEntry): FdbEntry =>
  (e.via === undefined ? { mac: e.mac, dst: e.dst } : { mac: e.mac, dst: e.dst, via: e.via });

export abstract class FakeFdb extends FakeAddrs {
  fdbOf(name: string): FdbEntry[] {
    const l = this.link(name);
    return l ? [...(this.fdbs.get(l.index) ?? [])] : [];
  }

  neighOf(name: string): Neigh[] {
    const l = this.link(name);
    return l ? [...(this.neighTable.get(l.index)?.values() ?? [])] : [];
  }

  // ---- fdb -------------------------------------------------------------------

  async fdb(index: number): Promise<FdbEntry[]> {
    let out: FdbEntry[] = [];
    await this.op('dump fdb', false, () => { out = (this.fdbs.get(index) ?? []).map((e) => ({ ...e })); });
    return out;
  }

  private fdbList(index: number, text: string): FdbEntry[] {
    const l = this.get(index, text);
    if (l.kind !== 'vxlan') this.fail(text, 'EINVAL');
    return this.fdbs.get(index)!;
  }

  private fdbText(verb: string, index: number, e: FdbEntry): string {
    return `bridge fdb ${verb} ${e.mac} dev ${this.name(index)} dst ${formatIp(e.dst)}`
      + `${e.via === undefined ? '' : ` via ${this.name(e.via)}`}`;
  }

  private fdbEvent(op: 'new' | 'del', index: number, e: FdbEntry): void {
    this.emit({ type: 'fdb', op, index, mac: e.mac, dst: e.dst,
      ...(e.via === undefined ? {} : { via: e.via }), self: true });
  }

  /** What NEWNEIGH checks first: a dst of the device's family, a `via` that exists. */
  private fdbCheck(index: number, e: FdbEntry, text: string): FdbEntry[] {
    const list = this.fdbList(index, text);
    if (e.via !== undefined && !this.linkMap.has(e.via)) this.fail(text, 'EADDRNOTAVAIL');
    if (isIpv6(e.dst) !== this.linkMap.get(index)!.v6) this.fail(text, 'EAFNOSUPPORT');
    return list;
  }

  async fdbAppend(index: number, e: FdbEntry): Promise<void> {
    const text = this.fdbText('append', index, e);
    await this.op(text, true, () => {
      const list = this.fdbCheck(index, e, text);
      // the kernel accepts a duplicate and ignores APPEND on an existing unicast MAC: no change, no event
      if (list.some((x) => x.mac === e.mac && (sameRdst(x, e) || isUnicast(e.mac)))) return;
      list.push(entry(e));
      this.fdbEvent('new', index, e);
    });
  }

  async fdbReplace(index: number, e: FdbEntry): Promise<void> {
    const text = this.fdbText('replace', index, e);
    await this.op(text, true, () => {
      const list = this.fdbCheck(index, e, text);
      // "Cannot replace non-unicast fdb entries", nor create one with REPLACE
      if (!isUnicast(e.mac)) this.fail(text, 'ENOTSUP');
      const i = list.findIndex((x) => x.mac === e.mac);
      if (i >= 0 && sameRdst(list[i]!, e)) return;
      if (i >= 0) list[i] = entry(e); // dst and via both repointed
      else list.push(entry(e));
      this.fdbEvent('new', index, e);
    });
  }

  async fdbDel(index: number, e: FdbEntry): Promise<void> {
    const text = this.fdbText('del', index, e);
    await this.op(text, true, () => this.removeFdb(index, e, text));
  }

  /** Test control and implementation: what `bridge fdb del` does. */
  removeFdb(index: number, e: FdbEntry, text = 'bridge fdb del'): void {
    const list = this.fdbList(index, text);
    if (e.via !== undefined && !this.linkMap.has(e.via)) this.fail(text, 'EADDRNOTAVAIL');
    if (!list.some((x) => x.mac === e.mac)) this.fail(text, 'ENOENT');
    const i = list.findIndex((x) => x.mac === e.mac && sameRdst(x, e));
    // the MAC is there with other destinations (or another via): the kernel answers OK and changes nothing
    if (i < 0) return;
    list.splice(i, 1);
    this.fdbEvent('del', index, e);
  }

  // ---- neighbours ----------------------------------------------------------

  async neighs(index: number): Promise<Neigh[]> {
    let out: Neigh[] = [];
    await this.op('dump neighbours', false,
      () => { out = [...(this.neighTable.get(index)?.values() ?? [])].map((n) => ({ ...n })); });
    return out;
  }

  async neighReplace(index: number, dst: IpAddr, mac: string): Promise<void> {
    const text = `ip neigh replace ${formatIp(dst)} lladdr ${mac} dev ${this.name(index)} nud permanent`;
    await this.op(text, true, () => {
      if (!isIpv6(dst)) return this.putNeigh(index, dst, mac, true, text);
      if (this.get(index, text).ipv6Off) this.fail(text, 'EINVAL'); // 'IPv6 is disabled on this device'
      this.ipv6.putNd(index, dst, mac); // ND entries report no events (learned ones: kernel.ipv6.putNd)
    });
  }

  /** Test control and implementation: a neighbour entry appears (dynamic ARP, or replace). */
  putNeigh(index: number, dst: Ipv4, mac: string | undefined, permanent: boolean, text = 'ip neigh'): void {
    this.get(index, text);
    const t = this.neighTable.get(index) ?? new Map<Ipv4, Neigh>();
    this.neighTable.set(index, t);
    t.set(dst, { index, dst, mac, permanent });
    this.emit({ type: 'neigh', op: 'new', index, dst, mac, permanent });
  }

  async neighDel(index: number, dst: IpAddr): Promise<void> {
    const text = `ip neigh del ${formatIp(dst)} dev ${this.name(index)}`;
    await this.op(text, true, () => {
      this.get(index, text);
      if (isIpv6(dst)) {
        if (!this.ipv6.delNd(index, dst)) this.fail(text, 'ENOENT');
        return;
      }
      const t = this.neighTable.get(index);
      const n = t?.get(dst);
      if (!t || !n) this.fail(text, 'ENOENT');
      t.delete(dst);
      // the kernel first reports the entry FAILED (no lladdr), then deleted
      this.emit({ type: 'neigh', op: 'new', index, dst, mac: undefined, permanent: false });
      this.emit({ type: 'neigh', op: 'del', index, dst, mac: undefined, permanent: false });
    });
  }
}
