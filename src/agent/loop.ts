// Layer: agent (dataplane loop). Contract: makes the kernel match the Desired
// value it was last given, with the reconcile steps of dataplane/reconcile.ts
// — single-flight: a newer value replaces a pending one, and a value asked
// for while a run is under way is computed once, when the next run starts —
// and logs what they did. 'full' asks for a full run (kernel dumps, devices
// checked), 'routes' for the fast path when only the peers changed, verified
// by a full run shortly after; request() for a full run against the same
// value (the kernel drifted). Failed runs are retried after `retryMs`.
// Nothing runs until release(): the agent settles its address first.

import type { Clock } from '../clock.js';
import { errFields, type Logger } from '../log.js';
import { formatIpv4 } from '../net/ipv4.js';
import type { Kernel, KernelEvent } from '../kernel/types.js';
import type { Firewall } from '../firewall/types.js';
import { SingleFlight } from '../util/singleflight.js';
import { RetryTimer } from '../util/retry.js';
import { wantedEntries, type Desired, type Wanted } from '../dataplane/desired.js';
import { touchesDataplane } from '../dataplane/events.js';
import {
  INITIAL_STATUS, reconcileFast, reconcileFull, type DataplaneSpec, type DataplaneStatus, type Model, type Note,
  type RunResult,
} from '../dataplane/reconcile.js';
import type { Counters } from './records/counters.js';

/** after a fast-path run, a full reconcile checks the kernel (coalesced) */
const VERIFY_AFTER_MS = 1000;

export interface LoopDeps {
  kernel: Kernel;
  spec: DataplaneSpec;
  firewall: Firewall | undefined;
  clock: Clock;
  log: Logger;
  counters: Counters;
  retryMs: number;
}

export class DataplaneLoop {
  private current: DataplaneStatus = INITIAL_STATUS;
  private model: Model | undefined;
  private wanted: Wanted = { fdb: new Set(), neigh: new Map() };
  /** the value the kernel should match: the newest one given */
  private desired: Desired | undefined;
  /** the newest value asked for, computed when the next run starts */
  private next: (() => Desired) | undefined;
  private readonly flight: SingleFlight;
  private fullPending = false;
  private routesPending = false;
  private readonly retry: RetryTimer;
  private readonly verify: RetryTimer;
  private missingIfaceLogged = false;
  private held = true;
  private stopped = false;

  constructor(private readonly d: LoopDeps) {
    this.flight = new SingleFlight(() => this.run(), (err) => this.failed(err));
    this.retry = new RetryTimer(d.clock, () => this.request(), { firstMs: d.retryMs });
    this.verify = new RetryTimer(d.clock, () => this.request(), { firstMs: VERIFY_AFTER_MS });
  }

  get status(): DataplaneStatus {
    return this.current;
  }

  /** What the kernel should hold from now on; `run`: the reconcile it needs (the fast path may become a full run). */
  set(desired: Desired, run: 'routes' | 'full'): void {
    this.want(run, () => desired);
  }

  /**
   * The kernel should follow what `desired()` says: computed when the next run starts — at once if the loop is free;
   * during a run, once when it is done, however many wishes came meanwhile (a burst of news costs one value).
   */
  want(run: 'routes' | 'full', desired: () => Desired): void {
    this.next = desired;
    if (this.stopped || this.held) return;
    if (run === 'full') this.fullPending = true;
    else this.routesPending = true;
    this.flight.request();
  }

  /** A full reconcile from kernel dumps, against the value last set. */
  request(): void {
    if (this.stopped || this.held) return;
    this.fullPending = true;
    this.flight.request();
  }

  /**
   * The ingress filter is not in force any more: take the VXLAN device down
   * at once (fail closed), then reconcile — which puts the filter back before
   * it brings the device up again.
   */
  holdDown(): void {
    const vx = this.current.vxlanIndex;
    if (vx !== undefined && !this.stopped) {
      void this.d.kernel.setLink(vx, { up: false })
        .catch((err: unknown) => this.d.log.error({ ...errFields(err) }, 'holding the VXLAN device down failed'));
    }
    this.model = undefined;
    this.request();
  }

  /** Lets the dataplane be changed from now on, starting with a full reconcile to `desired`. */
  release(desired: Desired): void {
    this.held = false;
    this.set(desired, 'full');
  }

  /** No new runs or retries after this (a run in progress finishes). */
  stop(): void {
    this.stopped = true;
    this.retry.stop();
    this.verify.stop();
  }

  idle(): Promise<void> {
    return this.flight.idle();
  }

  /** Does this kernel event touch what we manage? */
  relevant(e: KernelEvent): boolean {
    return touchesDataplane(e, this.current, this.d.spec, this.wanted);
  }

  private async run(): Promise<void> {
    const full = this.fullPending || !this.model;
    if (!full && !this.routesPending) return;
    if (this.next) {
      this.desired = this.next();
      this.next = undefined;
    }
    const desired = this.desired;
    if (!desired) return;
    this.fullPending = false;
    this.routesPending = false;
    // set before the kernel changes, so the events of our own changes are not news
    this.wanted = wantedEntries(desired);
    const env = { kernel: this.d.kernel, spec: this.d.spec, clock: this.d.clock, firewall: this.d.firewall };
    let r: RunResult | undefined;
    if (full) {
      this.d.counters.reconciles++;
      r = await reconcileFull(env, desired, this.current);
    } else {
      r = await reconcileFast(env, this.model!, desired, this.current);
      if (!r) { // our own address moved: that is a full run's job
        this.fullPending = true;
        this.flight.request();
        return;
      }
      this.verify.schedule();
    }
    this.finish(r);
  }

  private finish(r: RunResult): void {
    const { log, counters } = this.d;
    this.current = r.status;
    this.model = r.model;
    const noInterface = r.notes.some((n) => n.kind === 'no-interface' || n.kind === 'no-link-local');
    if (!noInterface) this.missingIfaceLogged = false;
    for (const n of r.notes) this.note(n);
    for (const a of r.applied) {
      if (a.ops.length) log.info({ ifname: a.ifname, ops: a.ops }, 'dataplane updated');
      for (const f of a.failed) {
        log.error({ ifname: a.ifname, op: f.op, ...errFields(f.err) }, 'dataplane operation failed');
      }
    }
    if (noInterface) return;
    counters.onReconcile?.((r.status.lastMs ?? 0) / 1000);
    if (r.applied.some((a) => a.failed.length > 0)) {
      counters.reconcileErrors++;
      this.retry.schedule();
    }
  }

  private note(n: Note): void {
    const { log, spec } = this.d;
    switch (n.kind) {
      case 'no-interface':
        if (!this.missingIfaceLogged) {
          log.error({ code: 'E_INTERFACE', ifname: spec.iface },
            `physical interface ${spec.iface} not found; waiting for it`);
        }
        this.missingIfaceLogged = true;
        return;
      case 'no-link-local':
        if (!this.missingIfaceLogged) {
          log.warn({ ifname: n.ifname },
            `no IPv6 link-local address on ${n.ifname} yet; the VXLAN device waits for it`);
        }
        this.missingIfaceLogged = true;
        return;
      case 'device':
        log.info({ ifname: n.ifname, changes: n.changes },
          n.ifname === spec.bridge ? 'bridge adjusted' : 'vxlan device adjusted');
        return;
      case 'address':
        log.info({ ifname: n.ifname, new: formatIpv4(n.ip), changes: n.changes }, 'overlay address configured');
        return;
      case 'address-removed':
        log.warn({ ifname: n.ifname, old: formatIpv4(n.ip) }, 'removed overlay address we no longer hold');
        return;
      case 'vip':
        log.info({ ifname: n.ifname, vip: formatIpv4(spec.vip) },
          n.held ? 'this host now holds the cluster VIP' : 'this host no longer holds the cluster VIP');
        return;
      case 'filter-failed':
        log.error({ ...errFields(n.err) },
          'updating the VXLAN ingress filter failed; the overlay is unfiltered until it works');
    }
  }

  private failed(err: unknown): void {
    this.model = undefined; // a run that threw may have changed devices: the next run dumps the kernel
    this.d.counters.reconcileErrors++;
    this.current = { ...this.current, lastError: (err as Error).message ?? String(err) };
    this.d.log.error({ ...errFields(err) }, 'reconcile failed; retrying');
    this.retry.schedule();
  }
}
