// Layer: agent (dataplane loop). Contract: request() wakes one single-flight
// reconcile that makes the kernel match the desired state: devices, our
// address, FDB, neighbour entries — each step idempotent, so a reconcile with
// nothing to do changes nothing. Failed steps are logged and retried after
// `retryMs`; kernel events that touch what we manage call request() again.

import type { Clock, TimerHandle } from '../clock.js';
import { errFields, type Logger } from '../log.js';
import { contains, formatIpv4, type Cidr, type Ipv4 } from '../net/ipv4.js';
import type { Kernel, KernelEvent } from '../kernel/types.js';
import { SingleFlight } from '../util/singleflight.js';
import { ensureBridge, ensurePrimaryAddress, ensureVxlan } from '../dataplane/devices.js';
import { desiredFdb, planFdb, planHostRoutes, planNeigh, type PeerRoute } from '../dataplane/plan.js';
import { applyFdb, applyHostRoutes, applyNeigh, type Applied } from '../dataplane/apply.js';
import type { HostRoute } from '../kernel/types.js';
import { VXLAN_OVERHEAD } from './config.js';
import type { Counters } from './counters.js';
import type { FilterReport } from './status.js';

/**
 * VXLAN ingress filter: only the peers' current underlay addresses may send
 * VXLAN to us. apply() replaces the allowed set atomically and must be safe
 * to repeat; report() never throws.
 */
export interface Firewall {
  apply(allowed: Ipv4[]): Promise<void>;
  report(): FilterReport;
}

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
  fdbEntries: number;
  neighEntries: number;
  lastError: string | undefined;
  /** the cluster VIP is on the bridge (kube-vip put it here: this host is its leader) */
  holdsVip: boolean;
}

export class Reconciler {
  readonly status: DataplaneStatus = {
    ready: false, physIndex: undefined, bridgeIndex: undefined, vxlanIndex: undefined, mtu: undefined,
    lastAt: undefined, lastMs: undefined, fdbEntries: 0, neighEntries: 0, lastError: undefined, holdsVip: false,
  };
  private readonly flight: SingleFlight;
  private retryTimer: TimerHandle | undefined;
  private wantedFdb = new Set<string>();
  private wantedNeigh = new Map<Ipv4, string>();
  private missingIfaceLogged = false;

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
    this.flight = new SingleFlight(() => this.once(), (err) => this.failed(err));
  }

  request(): void {
    if (!this.stopped && !this.held) this.flight.request();
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
  }

  private failed(err: unknown): void {
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

  private async once(): Promise<void> {
    const t0 = this.clock.monotonic();
    this.counters.reconciles++;
    const { spec, k } = this;
    const phys = await k.linkByName(spec.iface);
    if (!phys) {
      this.status.ready = false;
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
    if (want.ownIp !== undefined) {
      const changes = await ensurePrimaryAddress(k, { index: br.index, name: spec.bridge }, want.ownIp, spec.cidr.prefix, owned);
      if (changes.length) this.log.info({ ifname: spec.bridge, new: formatIpv4(want.ownIp), changes }, 'overlay address configured');
    } else {
      for (const a of await k.addrs(br.index)) {
        if (a.prefix === spec.cidr.prefix && owned(a.address)) {
          await k.delAddr(br.index, a.address, a.prefix);
          this.log.warn({ ifname: spec.bridge, old: formatIpv4(a.address) }, 'removed overlay address we no longer hold');
        }
      }
    }
    const holdsVip = (await k.addrs(br.index)).some((a) => a.address === spec.vip);
    if (holdsVip !== this.status.holdsVip) this.log.info({ ifname: spec.bridge, vip: formatIpv4(spec.vip) }, holdsVip ? 'this host now holds the cluster VIP' : 'this host no longer holds the cluster VIP');
    this.status.holdsVip = holdsVip;

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
    const hostWant: HostRoute[] = want.underlayIp === undefined ? [] : want.onLink.map((dst) => ({ dst, index: phys.index, src: want.underlayIp! }));
    const routesDone = await applyHostRoutes(k, planHostRoutes(hostWant, await k.hostRoutes()));
    const fdbWant = desiredFdb(want.routes);
    this.wantedFdb = new Set(fdbWant.map((e) => `${e.mac}/${e.dst}`));
    const fdbPlan = planFdb(fdbWant, await k.fdb(vx.index));
    const fdbDone = await applyFdb(k, vx.index, phys.index, fdbPlan);
    this.wantedNeigh = new Map(want.routes.filter((r) => r.overlayIp !== undefined).map((r) => [r.overlayIp!, r.mac]));
    const neighDone = await applyNeigh(k, br.index, planNeigh(want.routes, await k.neighs(br.index), spec.cidr, spec.vip));

    this.report(routesDone, fdbDone, neighDone);
    this.status.fdbEntries = fdbWant.length;
    this.status.neighEntries = this.wantedNeigh.size;
    this.status.lastAt = this.clock.now();
    this.status.lastMs = this.clock.monotonic() - t0;
    this.counters.onReconcile?.(this.status.lastMs / 1000);
    const failed = routesDone.failed.length + fdbDone.failed.length + neighDone.failed.length;
    this.status.ready = failed === 0 && want.ownIp !== undefined;
    if (failed > 0) {
      this.counters.reconcileErrors++;
      this.status.lastError = `${failed} dataplane operation(s) failed`;
      this.scheduleRetry();
    } else {
      this.status.lastError = undefined;
    }
  }

  private report(...results: Applied[]): void {
    for (const r of results) {
      if (r.ops.length) this.log.info({ ifname: this.spec.vxlanDevice, ops: r.ops }, 'dataplane updated');
      for (const f of r.failed) this.log.error({ ifname: this.spec.vxlanDevice, op: f.op, ...errFields(f.err) }, 'dataplane operation failed');
    }
  }
}
