// Test double, IPv6 part of FakeKernel (test/fakes/kernel.ts), reached as
// `kernel.ipv6`: a NIC's IPv6 addresses as rtnetlink reports them — the EUI-64
// link-local address it gets when it is up with carrier and IPv6 (kept when
// the MAC changes later, kept while the cable is out), DAD (tentative, then
// usable or dadfailed), all of them gone when the NIC goes down or IPv6 is
// disabled on it — and its ND entries, which report no events.

import { isLinkLocal, linkLocalFromMac, type Ipv6 } from '../../src/net/ipv6.js';
import type { Addr6, KernelEvent } from '../../src/kernel/types.js';

/** The parts of a fake device this needs. */
export interface Nic6 {
  index: number;
  name: string;
  kind: string | undefined;
  up: boolean;
  cable: boolean;
  mac: string;
  /** net.ipv6.conf.<if>.disable_ipv6 */
  ipv6Off: boolean;
  /** net.ipv6.conf.<if>.accept_dad: new addresses stay tentative until completeDad() */
  dad: boolean;
  /** up without carrier: the link-local address comes with the carrier */
  llPending: boolean;
}

export class FakeIpv6 {
  private addrs: Addr6[] = [];
  private nd = new Map<number, Map<Ipv6, string>>();

  constructor(private readonly find: (name: string) => Nic6 | undefined,
    private readonly emit: (e: KernelEvent) => void) {}

  // ---- for FakeKernel --------------------------------------------------------

  list(index: number): Addr6[] {
    return this.addrs.filter((a) => a.index === index).map((a) => ({ ...a }));
  }

  /** A NIC up with carrier and IPv6 gets its EUI-64 link-local address (bridges and VXLAN devices: not modelled). */
  linkLocalUp(l: Nic6): void {
    if (l.kind !== undefined || l.ipv6Off || !l.up) return;
    l.llPending = !l.cable;
    if (l.llPending) return;
    const address = linkLocalFromMac(l.mac);
    if (!this.addrs.some((a) => a.index === l.index && a.address === address)) this.put(l.index, address, 64, l.dad);
  }

  /** The NIC went down, was deleted or lost IPv6: its addresses and ND entries go. */
  down(l: Nic6): void {
    for (const a of this.addrs.filter((x) => x.index === l.index)) this.drop(a);
    this.nd.delete(l.index);
    l.llPending = false;
  }

  flushNd(index: number): void {
    this.nd.delete(index);
  }

  putNd(index: number, dst: Ipv6, mac: string): void {
    const t = this.nd.get(index) ?? new Map<Ipv6, string>();
    this.nd.set(index, t);
    t.set(dst, mac);
  }

  delNd(index: number, dst: Ipv6): boolean {
    return this.nd.get(index)?.delete(dst) ?? false;
  }

  private event(op: 'new' | 'del', a: Addr6): void {
    this.emit({ type: 'addr6', op, index: a.index, address: a.address, prefix: a.prefix, tentative: a.tentative,
      dadFailed: a.dadFailed });
  }

  private put(index: number, address: Ipv6, prefix: number, tentative: boolean): Addr6 {
    const a: Addr6 = { index, address, prefix, linkLocal: isLinkLocal(address), tentative, dadFailed: false };
    this.addrs.push(a);
    this.event('new', a);
    return a;
  }

  private drop(a: Addr6): void {
    this.addrs = this.addrs.filter((x) => x !== a);
    this.event('del', a);
  }

  // ---- test controls -----------------------------------------------------------

  addrsOf(name: string): Addr6[] {
    const l = this.find(name);
    return l ? this.list(l.index) : [];
  }

  ndOf(name: string): { dst: Ipv6; mac: string }[] {
    const l = this.find(name);
    return [...(l && this.nd.get(l.index)) ?? []].map(([dst, mac]) => ({ dst, mac }));
  }

  /**
   * `ip -6 addr add` by someone else: tentative with accept_dad unless
   * `nodad`; `taken`: a neighbour holds it, so DAD fails.
   */
  add(name: string, address: Ipv6, prefix = 64, opts: { nodad?: boolean; taken?: boolean } = {}): void {
    const l = this.find(name);
    if (!l || l.ipv6Off || this.addrs.some((a) => a.index === l.index && a.address === address)) return;
    const a = this.put(l.index, address, prefix, (l.dad || opts.taken === true) && !opts.nodad);
    if (opts.taken && a.tentative) this.completeDad(name, address, true);
  }

  /** `ip -6 addr del` by someone else. */
  remove(name: string, address: Ipv6): void {
    const l = this.find(name);
    const a = l && this.addrs.find((x) => x.index === l.index && x.address === address);
    if (a) this.drop(a);
  }

  /** DAD ends for the tentative addresses of `name` (or just `address`): usable, or dadfailed (and still tentative). */
  completeDad(name: string, address?: Ipv6, failed = false): void {
    const l = this.find(name);
    for (const a of this.addrs) {
      if (a.index !== l?.index || !a.tentative || a.dadFailed || (address !== undefined && a.address !== address)) {
        continue;
      }
      if (failed) a.dadFailed = true;
      else a.tentative = false;
      this.event('new', a);
    }
  }

  /** The NIC's link-local address becomes `address` (undefined: none), e.g. stable-privacy or an operator. */
  setLinkLocal(name: string, address: Ipv6 | undefined, state: { tentative?: boolean } = {}): void {
    const l = this.find(name);
    if (!l) return;
    for (const a of this.addrs.filter((x) => x.index === l.index && x.linkLocal)) this.drop(a);
    if (address !== undefined && !l.ipv6Off) this.put(l.index, address, 64, state.tentative ?? false);
  }

  /** net.ipv6.conf.<name>.accept_dad (the fake's default is off: addresses are never tentative). */
  setAcceptDad(name: string, on: boolean): void {
    const l = this.find(name);
    if (l) l.dad = on;
  }

  /** net.ipv6.conf.<name>.disable_ipv6: its IPv6 addresses and ND entries go; re-enabled, the link-local comes back. */
  setDisabled(name: string, on: boolean): void {
    const l = this.find(name);
    if (!l || l.ipv6Off === on) return;
    if (on) this.down(l);
    l.ipv6Off = on;
    if (!on) this.linkLocalUp(l);
  }
}
