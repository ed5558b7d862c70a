// Test double, base of FakeKernel (test/fakes/kernel.ts): the tables every
// part of the fake kernel shares (devices, addresses, FDB, neighbours, host
// routes, default routes; IPv6 in kernel-ipv6.ts; the loopback device `lo`
// at index 1, as in every namespace), the request plumbing (KernelErrors with
// real errnos, failNext() injection, the op log, the call count), watch()
// events, and what goes with what: a device going down takes its routes and
// neighbour entries and default routes, an address going takes the routes
// using it as source, the last IPv4 address of a device its IPv4 default routes.
// Links, addresses and FDB build on this in kernel-links.ts, kernel-addrs.ts
// and kernel-fdb.ts.

import { KernelError } from '../../src/errors.js';
import type { Ipv4 } from '../../src/net/ipv4.js';
import type { Addr, DefaultRoute, FdbEntry, HostRoute, KernelEvent, Link, Neigh } from '../../src/kernel/types.js';
import { FakeIpv6, type Nic6 } from './kernel-ipv6.js';

const ERRNO: Record<string, number> = {
  EEXIST: 17, ENOENT: 2, ENODEV: 19, ENOTSUP: 95, EINVAL: 22, EIO: 5, EBUSY: 16, ESRCH: 3,
  EADDRNOTAVAIL: 99, ENETDOWN: 100,
  EAFNOSUPPORT: 97, EPERM: 1, ENETUNREACH: 101,
};

export interface FakeLink extends Link, Nic6 {
  /** a cable in, and a peer at its other end (physical devices; others have carrier while up) */
  cable: boolean;
  promote: boolean;
  /** a bridge whose MTU was set explicitly no longer follows its ports */
  mtuSet: boolean;
  /** a VXLAN device carrying IPv6 (created with local6: stays so even if local6 is cleared) */
  v6: boolean;
}

export abstract class FakeKernelState {
  protected linkMap = new Map<number, FakeLink>();
  protected addrList: Addr[] = [];
  protected fdbs = new Map<number, FdbEntry[]>();
  protected neighTable = new Map<number, Map<Ipv4, Neigh>>();
  protected routeTable = new Map<Ipv4, HostRoute>();
  /** default routes of the main table (another program's: DHCP, RA, the administrator) */
  protected defaultTable: DefaultRoute[] = [];
  /** IPv6 addresses and ND entries, with their test controls (setLinkLocal, completeDad, setDisabled...) */
  readonly ipv6 = new FakeIpv6((name) => this.link(name), (e) => this.emit(e));
  private watchers: ((e: KernelEvent) => void)[] = [];
  protected nextIndex = 2; // 1 is lo
  private failures: { match: string; errname: string; times: number }[] = [];
  /** every mutating call, as `ip`/`bridge` would print it */
  readonly ops: string[] = [];
  /** number of requests of any kind (reads included) */
  calls = 0;

  constructor() {
    this.linkMap.set(1, {
      index: 1, name: 'lo', kind: undefined, mtu: 65536, up: true, carrier: true, cable: true, mac: '00:00:00:00:00:00',
      master: undefined,
      vxlan: undefined, promote: false, mtuSet: false, v6: false, ipv6Off: false, dad: false, llPending: false,
    });
  }

  // ---- test controls -------------------------------------------------------

  /** The next `times` operations whose text contains `match` fail with `errname`. */
  failNext(match: string, errname: string, times = 1): void {
    this.failures.push({ match, errname, times });
  }

  link(name: string): FakeLink | undefined {
    return [...this.linkMap.values()].find((l) => l.name === name);
  }

  /** Emits an arbitrary event, as another program's change would. */
  emit(e: KernelEvent): void {
    for (const w of this.watchers) queueMicrotask(() => w(e));
  }

  // ---- helpers ---------------------------------------------------------------

  protected async op(text: string, mutate: boolean, fn: () => void): Promise<void> {
    this.calls++;
    await Promise.resolve();
    const f = this.failures.find((x) => text.includes(x.match) && x.times > 0);
    if (f) {
      f.times--;
      throw new KernelError(text, ERRNO[f.errname] ?? 5, f.errname);
    }
    fn();
    if (mutate) this.ops.push(text);
  }

  protected fail(text: string, errname: string): never {
    throw new KernelError(text, ERRNO[errname]!, errname);
  }

  protected get(index: number, text: string): FakeLink {
    const l = this.linkMap.get(index);
    if (!l) this.fail(text, 'ENODEV');
    return l;
  }

  protected name(index: number): string {
    return this.linkMap.get(index)?.name ?? `if${index}`;
  }

  // ---- what goes with what ---------------------------------------------------

  /**
   * A device going down loses its routes (default routes too) and its
   * neighbour entries (ARP and ND), permanent ones too.
   */
  protected flushDown(index: number): void {
    this.ipv6.flushNd(index);
    this.defaultTable = this.defaultTable.filter((r) => r.index !== index);
    for (const r of [...this.routeTable.values()]) if (r.index === index) this.routeTable.delete(r.dst);
    for (const n of [...(this.neighTable.get(index)?.values() ?? [])]) {
      this.neighTable.get(index)!.delete(n.dst);
      this.emit({ type: 'neigh', op: 'del', index, dst: n.dst, mac: n.mac, permanent: n.permanent });
    }
  }

  /** One address goes, with the routes that used it as their source. */
  protected dropAddr(a: Addr): void {
    this.addrList = this.addrList.filter((x) => x !== a);
    if (!this.addrList.some((x) => x.address === a.address)) {
      for (const r of [...this.routeTable.values()]) if (r.src === a.address) this.routeTable.delete(r.dst);
    }
    // the last IPv4 address of a device gone: IPv4 is off there, its IPv4 routes go (fib_disable_ip)
    if (!this.addrList.some((x) => x.index === a.index)) {
      this.defaultTable = this.defaultTable.filter((r) => r.index !== a.index || r.family !== 4);
    }
    this.emit({ type: 'addr', op: 'del', index: a.index, address: a.address, prefix: a.prefix });
  }

  // ---- events ----------------------------------------------------------------

  watch(onEvent: (e: KernelEvent) => void): () => void {
    this.watchers.push(onEvent);
    return () => { this.watchers = this.watchers.filter((w) => w !== onEvent); };
  }

  close(): void {
    this.watchers = [];
  }
}
