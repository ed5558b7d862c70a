// Layer: agent (dataplane loop). Contract: request() wakes one single-flight
// full reconcile that makes the kernel match the desired state — devices, our
// address, routes, FDB, neighbour entries — from fresh dumps; each step is
// idempotent, so a reconcile with nothing to do changes nothing.
// requestRoutes() is the fast path for membership changes (a peer
// renumbered): the same plans, diffed against the state the last run left
// (no dumps, no device checks), then a full reconcile shortly after to
// verify. Failed steps are logged and retried after `retryMs`; kernel
// events that touch what we manage call request().

import type { Clock, TimerHandle } from '../clock.js';
import { errFields, type Logger } from '../log.js';
import { contains, formatIpv4, type Cidr, type Ipv4 } from '../net/ipv4.js';
import type { Kernel, KernelEvent } from '../kernel/types.js';
import { SingleFlight } from '../util/singleflight.js';
import { ensureBridge, ensurePrimaryAddress, ensureVxlan } from '../dataplane/devices.js';
import { desiredFdb, planFdb, planHostRoutes, planNeigh, type PeerRoute } from '../dataplane/plan.js';
import { applyFdb, applyHostRoutes, applyNeigh, type Applied } from '../dataplane/apply.js';
import type { Addr, FdbEntry, HostRoute, Neigh } from '../kernel/types.js';
import { VXLAN_OVERHEAD } from './config.js';
import type { Counters } from './counters.js';
import type { FilterReport } from './status.js';

/**
 * VXLAN ingress filter: only the peers' current underlay addresses may send
 * VXLAN to us. apply() replaces the allowed set atomically and must be safe
 * to repeat; report() never throws. refresh() (optional, never rejects)
 * re-reads what the kernel holds — the drop counter; a table someone deleted
 * is noticed there, and the next apply() reinstalls it.
 */
export interface Firewall {
  apply(allowed: Ipv4[]): Promise<void>;
  report(): FilterReport;
  refresh?(): Promise<void>;
}

/** after a fast-path run, a full reconcile checks the kernel (coalesced) */
const VERIFY_AFTER_MS = 1000;

export interface DataplaneSpec {
  iface: string;
  bridge: string;
  vxlanDevice: string;
  vni: number;
  vxlanPort: number;
  mac: string;
  cidr: Cidr;
  vip: Ipv4;
}

export interface Desired {
  ownIp: Ipv4 | undefined;
  routes: PeerRoute[];
  /** peers on our L2 segment but outside our subnet, as (peer underlay IP, via) */
  onLink: Ipv4[];
  underlayIp: Ipv4 | undefined;
}

export interface DataplaneStatus {
  ready: boolean;
  physIndex: number | undefined;
  bridgeIndex: number | undefined;
  vxlanIndex: number | undefined;
  mtu: number | undefined;
  lastAt: number | undefined;
  lastMs: number | undefined;
  /** wall time the dataplane last became ready */
  readySince: number | undefined;
  /** wall time of the last run that changed anything in the kernel */
  lastChangeAt: number | undefined;
  fdbEntries: number;
  neighEntries: number;
  lastError: string | undefined;
  /** the cluster VIP is on the bridge (kube-vip put it here: this host is its leader) */
  holdsVip: boolean;
}

export class Reconciler {
  readonly status: DataplaneStatus = {
    ready: false, physIndex: undefined, bridgeIndex: undefined, vxlanIndex: undefined, mtu: undefined,
    lastAt: undefined, lastMs: undefined, readySince: undefined, lastChangeAt: undefined, fdbEntries: 0, neighEntries: 0, lastError: undefined, holdsVip: false,
  };
  private readonly flight: SingleFlight;
  private retryTimer: TimerHandle | undefined;
  private wantedFdb = new Set<string>();
  private wantedNeigh = new Map<Ipv4, string>();
  private missingIfaceLogged = false;
  private fullPending = false;
  private routesPending = false;
  private verifyTimer: TimerHandle | undefined;
  /** what the kernel holds after our last successful run (the fast path diffs against it) */
  private model: { phys: number; bridge: number; vxlan: number; ownIp: Ipv4 | undefined; fdb: FdbEntry[]; neigh: Neigh[]; routes: HostRoute[] } | undefined;

  constructor(
    private readonly k: Kernel,
    private readonly spec: DataplaneSpec,
    private readonly desired: () => Desired,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly counters: Counters,
    private readonly retryMs: number,
    private readonly firewall?: Firewall,
  ) {
    this.flight = new SingleFlight(() => this.run(), (err) => this.failed(err));
  }

  /** A full reconcile from kernel dumps. */
  request(): void {
    if (this.stopped || this.held) return;
    this.fullPending = true;
    this.flight.request();
  }

  /** Only the peers changed: the fast path (falls back to a full run when it cannot apply). */
  requestRoutes(): void {
    if (this.stopped || this.held) return;
    this.routesPending = true;
    this.flight.request();
  }

  private async run(): Promise<void> {
    if (this.fullPending || !this.model) {
      this.fullPending = false;
      this.routesPending = false;
      await this.once();
    } else if (this.routesPending) {
      this.routesPending = false;
      await this.fast(this.model);
    }
  }

  idle(): Promise<void> {
    return this.flight.idle();
  }

  private stopped = false;
  /** Until released, wake-ups are dropped: the first run (at release) reconciles everything anyway. */
  private held = true;

  /** Lets the dataplane be changed from now on, starting with a full reconcile. */
  release(): void {
    this.held = false;
    this.request();
  }

  /** No new runs or retries after this (a run in progress finishes). */
  stop(): void {
    this.stopped = true;
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    this.verifyTimer?.cancel();
    this.verifyTimer = undefined;
  }

  private failed(err: unknown): void {
    this.model = undefined; // a run that threw may have changed devices: the next run dumps the kernel
    this.counters.reconcileErrors++;
    this.status.lastError = (err as Error).message ?? String(err);
    this.log.error({ ...errFields(err) }, 'reconcile failed; retrying');
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.request();
    }, this.retryMs);
  }

  /** Does this kernel event touch something we manage? */
  relevant(e: KernelEvent): boolean {
    const s = this.status;
    switch (e.type) {
      case 'resync':
        return true;
      case 'link':
        return e.index === s.physIndex || e.index === s.bridgeIndex || e.index === s.vxlanIndex
          || e.name === this.spec.iface || e.name === this.spec.bridge || e.name === this.spec.vxlanDevice;
      case 'addr':
        return e.index === s.bridgeIndex && contains(this.spec.cidr, e.address);
      case 'fdb':
        if (e.index !== s.vxlanIndex || !e.self || e.dst === undefined) return false;
        return e.op === 'del' ? this.wantedFdb.has(`${e.mac}/${e.dst}`) : !this.wantedFdb.has(`${e.mac}/${e.dst}`);
      case 'neigh': {
        if (e.index !== s.bridgeIndex) return false;
        const want = this.wantedNeigh.get(e.dst);
        if (want === undefined) return e.op === 'new' && e.permanent && contains(this.spec.cidr, e.dst) && e.dst !== this.spec.vip;
        return e.op === 'del' || e.mac !== want || !e.permanent;
      }
    }
  }

  private scheduleVerify(): void {
    if (this.verifyTimer || this.stopped) return;
    this.verifyTimer = this.clock.setTimeout(() => {
      this.verifyTimer = undefined;
      this.request();
    }, VERIFY_AFTER_MS);
  }

  /** The full run: devices and address checked, everything diffed against fresh dumps. */
  private async once(): Promise<void> {
    const t0 = this.clock.monotonic();
    this.counters.reconciles++;
    const { spec, k } = this;
    const phys = await k.linkByName(spec.iface);
    if (!phys) {
      this.model = undefined;
      this.status.ready = false;
      this.status.readySince = undefined;
      this.status.physIndex = undefined;
      if (!this.missingIfaceLogged) this.log.error({ code: 'E_INTERFACE', ifname: spec.iface }, `physical interface ${spec.iface} not found; waiting for it`);
      this.missingIfaceLogged = true;
      return;
    }
    this.missingIfaceLogged = false;
    this.status.physIndex = phys.index;
    const mtu = phys.mtu - VXLAN_OVERHEAD;
    const br = await ensureBridge(k, { name: spec.bridge, mtu, mac: spec.mac });
    if (br.changes.length) this.log.info({ ifname: spec.bridge, changes: br.changes }, 'bridge adjusted');
    this.status.bridgeIndex = br.index;
    const vx = await ensureVxlan(k, { name: spec.vxlanDevice, vni: spec.vni, port: spec.vxlanPort, link: phys.index, mtu, master: br.index });
    if (vx.changes.length) this.log.info({ ifname: spec.vxlanDevice, changes: vx.changes }, 'vxlan device adjusted');
    this.status.vxlanIndex = vx.index;
    this.status.mtu = mtu;

    const want = this.desired();
    const owned = (ip: Ipv4): boolean => contains(spec.cidr, ip) && ip !== spec.vip && ip !== want.ownIp;
    let addrs: Addr[] | undefined; // the bridge's addresses, while known to be current
    if (want.ownIp !== undefined) {
      const changes = await ensurePrimaryAddress(k, { index: br.index, name: spec.bridge }, want.ownIp, spec.cidr.prefix, owned, (all) => { addrs = all; });
      if (changes.length) {
        addrs = undefined;
        this.log.info({ ifname: spec.bridge, new: formatIpv4(want.ownIp), changes }, 'overlay address configured');
      }
    } else {
      addrs = await k.addrs(br.index);
      for (const a of addrs) {
        if (a.prefix === spec.cidr.prefix && owned(a.address)) {
          await k.delAddr(br.index, a.address, a.prefix);
          this.log.warn({ ifname: spec.bridge, old: formatIpv4(a.address) }, 'removed overlay address we no longer hold');
        }
      }
    }
    const holdsVip = (addrs ?? await k.addrs(br.index)).some((a) => a.address === spec.vip);
    if (holdsVip !== this.status.holdsVip) this.log.info({ ifname: spec.bridge, vip: formatIpv4(spec.vip) }, holdsVip ? 'this host now holds the cluster VIP' : 'this host no longer holds the cluster VIP');
    this.status.holdsVip = holdsVip;
    const actual = { fdb: await k.fdb(vx.index), neigh: await k.neighs(br.index), routes: await k.hostRoutes() };
    await this.peers({ phys: phys.index, bridge: br.index, vxlan: vx.index }, want, actual, t0);
  }

  /** The fast path: only the peers changed; diff against what the last run left. */
  private async fast(m: NonNullable<Reconciler['model']>): Promise<void> {
    const t0 = this.clock.monotonic();
    const want = this.desired();
    if (want.ownIp !== m.ownIp) {
      this.fullPending = true; // our own address moved: that is a full run's job
      this.flight.request();
      return;
    }
    await this.peers(m, want, m, t0);
    this.scheduleVerify();
  }

  /** Ingress filter, on-link routes, FDB and neighbour entries: the part that follows the peers. */
  private async peers(
    dev: { phys: number; bridge: number; vxlan: number }, want: Desired,
    actual: { fdb: FdbEntry[]; neigh: Neigh[]; routes: HostRoute[] }, t0: number,
  ): Promise<void> {
    const { spec, k } = this;
    // The ingress filter first: a peer's new underlay address must be let in
    // before the FDB starts sending it traffic whose replies come from there.
    if (this.firewall) {
      try {
        await this.firewall.apply([...new Set(want.routes.map((r) => r.underlayIp))]);
      } catch (err) {
        this.log.error({ ...errFields(err) }, 'updating the VXLAN ingress filter failed; the overlay is unfiltered until it works');
      }
    }
    // On-link /32 routes before the FDB: VXLAN to a peer in another subnet of
    // our segment needs them (and its answers pass rp_filter thanks to its own).
    const hostWant: HostRoute[] = want.underlayIp === undefined ? [] : want.onLink.map((dst) => ({ dst, index: dev.phys, src: want.underlayIp! }));
    const routesDone = await applyHostRoutes(k, planHostRoutes(hostWant, actual.routes));
    const fdbWant = desiredFdb(want.routes);
    this.wantedFdb = new Set(fdbWant.map((e) => `${e.mac}/${e.dst}`));
    const fdbDone = await applyFdb(k, dev.vxlan, dev.phys, planFdb(fdbWant, actual.fdb));
    this.wantedNeigh = new Map(want.routes.filter((r) => r.overlayIp !== undefined).map((r) => [r.overlayIp!, r.mac]));
    const neighDone = await applyNeigh(k, dev.bridge, planNeigh(want.routes, actual.neigh, spec.cidr, spec.vip));

    this.report(routesDone, fdbDone, neighDone);
    this.status.fdbEntries = fdbWant.length;
    this.status.neighEntries = this.wantedNeigh.size;
    this.status.lastAt = this.clock.now();
    this.status.lastMs = this.clock.monotonic() - t0;
    this.counters.onReconcile?.(this.status.lastMs / 1000);
    if (routesDone.ops.length + fdbDone.ops.length + neighDone.ops.length > 0) this.status.lastChangeAt = this.status.lastAt;
    const failed = routesDone.failed.length + fdbDone.failed.length + neighDone.failed.length;
    const ready = failed === 0 && want.ownIp !== undefined;
    if (ready !== this.status.ready) this.status.readySince = ready ? this.status.lastAt : undefined;
    this.status.ready = ready;
    if (failed > 0) {
      this.model = undefined; // the kernel is not what we think: the next run dumps it
      this.counters.reconcileErrors++;
      this.status.lastError = `${failed} dataplane operation(s) failed`;
      this.scheduleRetry();
    } else {
      this.status.lastError = undefined;
      this.model = {
        ...dev, ownIp: want.ownIp, fdb: fdbWant, routes: hostWant,
        neigh: [...this.wantedNeigh].map(([dst, mac]) => ({ index: dev.bridge, dst, mac, permanent: true })),
      };
    }
  }

  private report(...results: Applied[]): void {
    for (const r of results) {
      if (r.ops.length) this.log.info({ ifname: this.spec.vxlanDevice, ops: r.ops }, 'dataplane updated');
      for (const f of r.failed) this.log.error({ ifname: this.spec.vxlanDevice, op: f.op, ...errFields(f.err) }, 'dataplane operation failed');
    }
  }
}
