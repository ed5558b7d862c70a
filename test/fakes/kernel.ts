// Test double: an in-memory kernel with the rtnetlink behaviour the agent
// relies on — EEXIST/ENOENT/ENODEV, ENOTSUP when REPLACE targets the
// all-zeros FDB entry, REPLACE repointing a unicast entry's first
// destination, primary/secondary addresses with promote_secondaries, MTU
// limits of a VXLAN device, a bridge's MTU following its ports, routes and
// neighbours dropped with their device or source address — and an op log in
// `bridge`/`ip` words. test/integration/kernel-contract.test.ts holds it to
// the real kernel's answers.

import { KernelError } from '../../src/errors.js';
import { formatIpv4, maskOf, ZERO_MAC, type Ipv4 } from '../../src/net/ipv4.js';
import type { Addr, FdbEntry, HostRoute, Kernel, KernelEvent, Link, LinkChange, Neigh, VxlanSpec } from '../../src/kernel/types.js';

/** neither multicast nor all-zeros: the entries REPLACE may repoint */
const isUnicast = (mac: string): boolean => mac !== ZERO_MAC && (parseInt(mac.slice(0, 2), 16) & 1) === 0;

const ERRNO: Record<string, number> = {
  EEXIST: 17, ENOENT: 2, ENODEV: 19, ENOTSUP: 95, EINVAL: 22, EIO: 5, EBUSY: 16, ESRCH: 3, EADDRNOTAVAIL: 99, ENETDOWN: 100,
};

interface FakeLink extends Link {
  /** a cable in, and a peer at its other end (physical devices; others have carrier while up) */
  cable: boolean;
  promote: boolean;
  /** a bridge whose MTU was set explicitly no longer follows its ports */
  mtuSet: boolean;
}

export class FakeKernel implements Kernel {
  private linkMap = new Map<number, FakeLink>();
  private addrList: Addr[] = [];
  private fdbs = new Map<number, FdbEntry[]>();
  private neighTable = new Map<number, Map<Ipv4, Neigh>>();
  private watchers: ((e: KernelEvent) => void)[] = [];
  private nextIndex = 2;
  private failures: { match: string; errname: string; times: number }[] = [];
  /** every mutating call, as `ip`/`bridge` would print it */
  readonly ops: string[] = [];
  /** number of requests of any kind (reads included) */
  calls = 0;

  // ---- test controls -------------------------------------------------------

  addPhysical(name: string, mtu = 1500, mac = '52:54:00:00:00:01'): number {
    const index = this.nextIndex++;
    this.linkMap.set(index, {
      index, name, kind: undefined, mtu, up: true, carrier: true, cable: true, mac, master: undefined, vxlan: undefined, promote: false, mtuSet: false,
    });
    this.emit({ type: 'link', op: 'new', index, name }); // a NIC plugged in is news
    return index;
  }

  /** Test control: the cable of a physical device pulled (false) or plugged back in (true). */
  setCable(name: string, on: boolean): void {
    const l = this.link(name);
    if (!l || l.cable === on) return;
    l.cable = on;
    this.emit({ type: 'link', op: 'new', index: l.index, name });
  }

  /** The next `times` operations whose text contains `match` fail with `errname`. */
  failNext(match: string, errname: string, times = 1): void {
    this.failures.push({ match, errname, times });
  }

  link(name: string): FakeLink | undefined {
    return [...this.linkMap.values()].find((l) => l.name === name);
  }

  fdbOf(name: string): FdbEntry[] {
    const l = this.link(name);
    return l ? [...(this.fdbs.get(l.index) ?? [])] : [];
  }

  neighOf(name: string): Neigh[] {
    const l = this.link(name);
    return l ? [...(this.neighTable.get(l.index)?.values() ?? [])] : [];
  }

  addrsOf(name: string): Addr[] {
    const l = this.link(name);
    return l ? this.addrList.filter((a) => a.index === l.index) : [];
  }

  /** Emits an arbitrary event, as another program's change would. */
  emit(e: KernelEvent): void {
    for (const w of this.watchers) queueMicrotask(() => w(e));
  }

  // ---- helpers ---------------------------------------------------------------

  private async op(text: string, mutate: boolean, fn: () => void): Promise<void> {
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

  private fail(text: string, errname: string): never {
    throw new KernelError(text, ERRNO[errname]!, errname);
  }

  private get(index: number, text: string): FakeLink {
    const l = this.linkMap.get(index);
    if (!l) this.fail(text, 'ENODEV');
    return l;
  }

  private name(index: number): string {
    return this.linkMap.get(index)?.name ?? `if${index}`;
  }

  // ---- links -----------------------------------------------------------------

  async linkByName(name: string): Promise<Link | undefined> {
    let out: Link | undefined;
    await this.op(`get link ${name}`, false, () => {
      const l = this.link(name);
      out = l ? { ...l, carrier: l.up && l.cable, vxlan: l.vxlan ? { ...l.vxlan } : undefined } : undefined;
    });
    return out;
  }

  async createBridge(name: string, mtu: number, mac: string): Promise<void> {
    const text = `ip link add ${name} type bridge mtu ${mtu} address ${mac}`;
    await this.op(text, true, () => {
      if (this.link(name)) this.fail(text, 'EEXIST');
      const index = this.nextIndex++;
      this.linkMap.set(index, { index, name, kind: 'bridge', mtu, up: false, carrier: false, cable: true, mac, master: undefined, vxlan: undefined, promote: false, mtuSet: false });
      this.emit({ type: 'link', op: 'new', index, name });
    });
  }

  async createVxlan(name: string, spec: VxlanSpec): Promise<void> {
    const text = `ip link add ${name} type vxlan id ${spec.vni} dstport ${spec.port} dev ${this.name(spec.link)} nolearning mtu ${spec.mtu}`;
    await this.op(text, true, () => {
      if (this.link(name)) this.fail(text, 'EEXIST');
      const lower = this.get(spec.link, text);
      const index = this.nextIndex++;
      this.linkMap.set(index, { // creation caps the MTU at lower - 50 silently; only setLink refuses more
        index, name, kind: 'vxlan', mtu: Math.min(spec.mtu, lower.mtu - 50), up: false, carrier: false, cable: true, mac: '0a:00:00:00:00:' + index.toString(16).padStart(2, '0'),
        master: undefined, promote: false, mtuSet: false, vxlan: { vni: spec.vni, port: spec.port, link: spec.link, local: undefined, learning: false },
      });
      this.fdbs.set(index, []);
      this.emit({ type: 'link', op: 'new', index, name });
    });
  }

  async setLink(index: number, change: LinkChange): Promise<void> {
    const text = `ip link set ${this.name(index)} ${Object.entries(change).map(([k, v]) => `${k} ${v}`).join(' ')}`;
    await this.op(text, true, () => {
      const l = this.get(index, text);
      if (change.mtu !== undefined && l.vxlan?.link !== undefined) {
        const lower = this.linkMap.get(l.vxlan.link);
        if (lower && change.mtu > lower.mtu - 50) this.fail(text, 'EINVAL');
      }
      const m = change.master ? this.linkMap.get(change.master) : undefined; // master 0: release
      if (change.master && m?.kind !== 'bridge') {
        const was = l.master; // the kernel lets go of the old bridge before it refuses
        l.master = undefined;
        this.followPorts(was);
        this.fail(text, m ? 'ENOTSUP' : 'EINVAL');
      }
      const old = { ...l };
      Object.assign(l, change);
      if (change.master === 0) l.master = undefined;
      if (l.kind === 'bridge' && l.mtu !== old.mtu) l.mtuSet = true;
      if (change.up === false && old.up) this.flushDown(index);
      this.followPorts(old.master);
      this.followPorts(l.master);
      this.emit({ type: 'link', op: 'new', index, name: l.name });
    });
  }

  async setVxlanLocal(index: number, local: Ipv4 | undefined): Promise<void> {
    const text = `ip link set ${this.name(index)} type vxlan local ${local === undefined ? '0.0.0.0' : formatIpv4(local)}`;
    await this.op(text, true, () => {
      const l = this.get(index, text);
      if (!l.vxlan) this.fail(text, 'ENOTSUP');
      l.vxlan.local = local;
    });
  }

  /** Test control: set a fixed local address as someone else might have. */
  setLocal(name: string, local: Ipv4): void {
    const l = this.link(name);
    if (l?.vxlan) l.vxlan.local = local;
  }

  async deleteLink(index: number): Promise<void> {
    const text = `ip link del ${this.name(index)}`;
    await this.op(text, true, () => this.removeLink(this.get(index, text)));
  }

  private removeLink(l: FakeLink): void {
    const { index } = l;
    // VXLAN devices bound to it go with it (the kernel unregisters them with their lower device)
    for (const v of [...this.linkMap.values()]) if (v.vxlan?.link === index) this.removeLink(v);
    for (const a of this.addrList.filter((x) => x.index === index)) this.dropAddr(a);
    this.flushDown(index);
    this.linkMap.delete(index);
    this.fdbs.delete(index);
    this.neighTable.delete(index);
    for (const other of this.linkMap.values()) if (other.master === index) other.master = undefined;
    this.followPorts(l.master);
    this.emit({ type: 'link', op: 'del', index, name: l.name });
  }

  /** A bridge whose MTU was never set takes its smallest port's MTU (1500 without ports). */
  private followPorts(bridge: number | undefined): void {
    const br = bridge === undefined ? undefined : this.linkMap.get(bridge);
    if (br?.kind !== 'bridge' || br.mtuSet) return;
    const ports = [...this.linkMap.values()].filter((p) => p.master === br.index);
    br.mtu = ports.length ? Math.min(...ports.map((p) => p.mtu)) : 1500;
  }

  /** A device going down loses its routes and its neighbour entries, permanent ones too. */
  private flushDown(index: number): void {
    for (const r of [...this.routeTable.values()]) if (r.index === index) this.routeTable.delete(r.dst);
    for (const n of [...(this.neighTable.get(index)?.values() ?? [])]) {
      this.neighTable.get(index)!.delete(n.dst);
      this.emit({ type: 'neigh', op: 'del', index, dst: n.dst, mac: n.mac, permanent: n.permanent });
    }
  }

  async setPromoteSecondaries(name: string): Promise<void> {
    await this.op(`sysctl net.ipv4.conf.${name}.promote_secondaries=1`, true, () => {
      const l = this.link(name);
      if (l) l.promote = true;
    });
  }

  // ---- addresses -------------------------------------------------------------

  async addrs(index: number): Promise<Addr[]> {
    let out: Addr[] = [];
    await this.op('dump addresses', false, () => { out = this.addrList.filter((a) => a.index === index).map((a) => ({ ...a })); });
    return out;
  }

  private sameSubnet(a: Addr, address: Ipv4, prefix: number): boolean {
    return a.prefix === prefix && ((a.address ^ address) & maskOf(prefix)) === 0;
  }

  async addAddr(index: number, address: Ipv4, prefix: number): Promise<void> {
    const text = `ip addr add ${formatIpv4(address)}/${prefix} dev ${this.name(index)}`;
    await this.op(text, true, () => {
      this.get(index, text);
      if (this.addrList.some((a) => a.index === index && a.address === address && a.prefix === prefix)) return; // REPLACE: no-op
      const secondary = this.addrList.some((a) => a.index === index && !a.secondary && this.sameSubnet(a, address, prefix));
      this.addrList.push({ index, address, prefix, secondary });
      this.emit({ type: 'addr', op: 'new', index, address, prefix });
    });
  }

  async delAddr(index: number, address: Ipv4, prefix: number): Promise<void> {
    const text = `ip addr del ${formatIpv4(address)}/${prefix} dev ${this.name(index)}`;
    await this.op(text, true, () => {
      this.get(index, text);
      this.removeAddr(index, address, prefix, text);
    });
  }

  /** Test control and implementation: what `ip addr del` does, secondaries included. */
  removeAddr(index: number, address: Ipv4, prefix: number, text = 'ip addr del'): void {
    const a = this.addrList.find((x) => x.index === index && x.address === address && x.prefix === prefix);
    if (!a) this.fail(text, 'EADDRNOTAVAIL');
    this.dropAddr(a);
    if (a.secondary) return;
    const secs = this.addrList.filter((x) => x.index === index && x.secondary && this.sameSubnet(x, address, prefix));
    if (secs.length === 0) return;
    if (this.linkMap.get(index)?.promote) {
      secs[0]!.secondary = false;
      this.emit({ type: 'addr', op: 'new', index, address: secs[0]!.address, prefix });
    } else {
      for (const s of secs) this.dropAddr(s);
    }
  }

  /** One address goes, with the routes that used it as their source. */
  private dropAddr(a: Addr): void {
    this.addrList = this.addrList.filter((x) => x !== a);
    if (!this.addrList.some((x) => x.address === a.address)) {
      for (const r of [...this.routeTable.values()]) if (r.src === a.address) this.routeTable.delete(r.dst);
    }
    this.emit({ type: 'addr', op: 'del', index: a.index, address: a.address, prefix: a.prefix });
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

  async fdbAppend(index: number, e: FdbEntry): Promise<void> {
    const text = `bridge fdb append ${e.mac} dev ${this.name(index)} dst ${formatIpv4(e.dst)}`;
    await this.op(text, true, () => {
      const list = this.fdbList(index, text);
      // the kernel accepts a duplicate and ignores APPEND on an existing unicast MAC: no change, no event
      if (list.some((x) => x.mac === e.mac && (x.dst === e.dst || isUnicast(e.mac)))) return;
      list.push({ ...e });
      this.emit({ type: 'fdb', op: 'new', index, mac: e.mac, dst: e.dst, self: true });
    });
  }

  async fdbReplace(index: number, e: FdbEntry): Promise<void> {
    const text = `bridge fdb replace ${e.mac} dev ${this.name(index)} dst ${formatIpv4(e.dst)}`;
    await this.op(text, true, () => {
      const list = this.fdbList(index, text);
      // "Cannot replace non-unicast fdb entries", nor create one with REPLACE
      if (!isUnicast(e.mac)) this.fail(text, 'ENOTSUP');
      const first = list.find((x) => x.mac === e.mac);
      if (first?.dst === e.dst) return;
      if (first) first.dst = e.dst;
      else list.push({ ...e });
      this.emit({ type: 'fdb', op: 'new', index, mac: e.mac, dst: e.dst, self: true });
    });
  }

  async fdbDel(index: number, e: FdbEntry): Promise<void> {
    const text = `bridge fdb del ${e.mac} dev ${this.name(index)} dst ${formatIpv4(e.dst)}`;
    await this.op(text, true, () => this.removeFdb(index, e, text));
  }

  /** Test control and implementation: what `bridge fdb del` does. */
  removeFdb(index: number, e: FdbEntry, text = 'bridge fdb del'): void {
    const list = this.fdbList(index, text);
    if (!list.some((x) => x.mac === e.mac)) this.fail(text, 'ENOENT');
    const i = list.findIndex((x) => x.mac === e.mac && x.dst === e.dst);
    if (i < 0) return; // the MAC is there with other destinations: the kernel answers OK and changes nothing
    list.splice(i, 1);
    this.emit({ type: 'fdb', op: 'del', index, mac: e.mac, dst: e.dst, self: true });
  }

  // ---- neighbours ----------------------------------------------------------

  async neighs(index: number): Promise<Neigh[]> {
    let out: Neigh[] = [];
    await this.op('dump neighbours', false, () => { out = [...(this.neighTable.get(index)?.values() ?? [])].map((n) => ({ ...n })); });
    return out;
  }

  async neighReplace(index: number, dst: Ipv4, mac: string): Promise<void> {
    const text = `ip neigh replace ${formatIpv4(dst)} lladdr ${mac} dev ${this.name(index)} nud permanent`;
    await this.op(text, true, () => this.putNeigh(index, dst, mac, true, text));
  }

  /** Test control and implementation: a neighbour entry appears (dynamic ARP, or replace). */
  putNeigh(index: number, dst: Ipv4, mac: string | undefined, permanent: boolean, text = 'ip neigh'): void {
    this.get(index, text);
    const t = this.neighTable.get(index) ?? new Map<Ipv4, Neigh>();
    this.neighTable.set(index, t);
    t.set(dst, { index, dst, mac, permanent });
    this.emit({ type: 'neigh', op: 'new', index, dst, mac, permanent });
  }

  async neighDel(index: number, dst: Ipv4): Promise<void> {
    const text = `ip neigh del ${formatIpv4(dst)} dev ${this.name(index)}`;
    await this.op(text, true, () => {
      this.get(index, text);
      const t = this.neighTable.get(index);
      const n = t?.get(dst);
      if (!t || !n) this.fail(text, 'ENOENT');
      t.delete(dst);
      // the kernel first reports the entry FAILED (no lladdr), then deleted
      this.emit({ type: 'neigh', op: 'new', index, dst, mac: undefined, permanent: false });
      this.emit({ type: 'neigh', op: 'del', index, dst, mac: undefined, permanent: false });
    });
  }

  // ---- our on-link routes -----------------------------------------------------

  private routeTable = new Map<Ipv4, HostRoute>();

  async hostRoutes(): Promise<HostRoute[]> {
    let out: HostRoute[] = [];
    await this.op('dump routes', false, () => { out = [...this.routeTable.values()].map((r) => ({ ...r })); });
    return out;
  }

  async hostRouteReplace(r: HostRoute): Promise<void> {
    const text = `ip route replace ${formatIpv4(r.dst)}/32 dev ${this.name(r.index)} scope link src ${formatIpv4(r.src)}`;
    await this.op(text, true, () => {
      if (!this.get(r.index, text).up) this.fail(text, 'ENETDOWN'); // "Device for nexthop is not up"
      if (!this.addrList.some((a) => a.address === r.src)) this.fail(text, 'EINVAL'); // "Invalid prefsrc address"
      this.routeTable.set(r.dst, { ...r });
    });
  }

  async hostRouteDel(r: HostRoute): Promise<void> {
    const text = `ip route del ${formatIpv4(r.dst)}/32 dev ${this.name(r.index)}`;
    await this.op(text, true, () => {
      if (this.routeTable.get(r.dst)?.index !== r.index) this.fail(text, 'ESRCH');
      this.routeTable.delete(r.dst);
    });
  }

  routesOf(): HostRoute[] {
    return [...this.routeTable.values()];
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
