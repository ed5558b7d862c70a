// Layer: agent (underlay watcher). Contract: follows the physical interface
// — its index, MAC, IPv4 address, and IPv6 state with its link-local
// address — from kernel events (single-flight,
// retried after a failed read), keeps the transport's sockets pointed at it,
// and reports every read to `onRead`. It keeps the address it already has
// while that still exists (a second address is no reason to churn) and skips
// link-local 169.254/16.

import type { Clock, TimerHandle } from '../clock.js';
import { errFields, type Logger } from '../log.js';
import { formatIpv4, sameSubnet, type Ipv4 } from '../net/ipv4.js';
import type { Ipv6 } from '../net/ipv6.js';
import type { Addr6, Kernel, KernelEvent } from '../kernel/types.js';
import type { Transport } from '../discovery/transport.js';
import { SingleFlight } from '../util/singleflight.js';
import type { UnderlayAddress } from '../dataplane/desired.js';
import type { Counters } from './counters.js';
import type { UnderlayView } from './sender.js';

export interface UnderlayChange {
  old: Ipv4 | undefined;
  next: Ipv4 | undefined;
}

/** IPv6 on the physical interface (agent/family.ts OwnFacts.ipv6). */
export type Ipv6State = 'on' | 'off' | 'dad-failed' | 'unknown';

/** What one read of the physical interface found. */
export interface UnderlayRead {
  /** our IPv4 address changed */
  change: UnderlayChange | undefined;
  /** our link-local address appeared or is a different one (undefined: the same, or none right now) */
  linkLocal: Ipv6 | undefined;
  /** IPv6 on the interface changed state */
  ipv6Changed: boolean;
  /** the link is up with carrier again after it was lost (or down): we may have missed news */
  carrierBack: boolean;
}

export interface UnderlayDeps {
  kernel: Kernel;
  transport: Transport;
  iface: string;
  clock: Clock;
  log: Logger;
  counters: Counters;
  retryMs: number;
  /** after every read */
  onRead(read: UnderlayRead): void;
}

export class UnderlayWatcher implements UnderlayView {
  ip: Ipv4 | undefined;
  prefix: number | undefined;
  physIndex: number | undefined;
  mac: string | undefined;
  /** up with carrier (unknown: true until the first read) */
  carrier = true;
  ipv6: Ipv6State = 'unknown';
  /** the link-local address the interface has now (none while it is down, or IPv6 is off) */
  linkLocal: Ipv6 | undefined;
  /** the last link-local address seen (a down link drops it; it comes back the same) */
  private lastLinkLocal: Ipv6 | undefined;
  private readonly flight: SingleFlight;
  private retryTimer: TimerHandle | undefined;
  private stopped = false;

  constructor(private readonly d: UnderlayDeps) {
    this.flight = new SingleFlight(() => this.refresh(), (err) => {
      d.log.error({ ...errFields(err), ifname: d.iface }, 'reading the underlay address failed; retrying');
      this.retry();
    });
  }

  /** Our address and prefix, if we have one. */
  get address(): UnderlayAddress | undefined {
    return this.ip === undefined || this.prefix === undefined ? undefined : { ip: this.ip, prefix: this.prefix };
  }

  /** Is `ip` inside our underlay subnet (reachable by our broadcasts)? */
  onLan(ip: Ipv4): boolean {
    return this.ip !== undefined && this.prefix !== undefined && sameSubnet(ip, this.ip, this.prefix);
  }

  /** Is this kernel event about the physical interface? */
  concerns(e: KernelEvent): boolean {
    return ((e.type === 'addr' || e.type === 'addr6') && e.index === this.physIndex)
      || (e.type === 'link' && (e.index === this.physIndex || e.name === this.d.iface));
  }

  request(): void {
    if (!this.stopped) this.flight.request();
  }

  idle(): Promise<void> {
    return this.flight.idle();
  }

  stop(): void {
    this.stopped = true;
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
  }

  private retry(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = this.d.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.request();
    }, this.d.retryMs);
  }

  private async refresh(): Promise<void> {
    if (this.stopped) return;
    const { kernel, transport } = this.d;
    const link = await kernel.linkByName(this.d.iface);
    let next: { address: Ipv4; prefix: number } | undefined;
    if (link) {
      const addrs = (await kernel.addrs(link.index)).filter((a) => (a.address >>> 16) !== 0xa9fe);
      next = addrs.find((a) => a.address === this.ip) ?? addrs.find((a) => !a.secondary) ?? addrs[0];
    }
    const six = link ? await this.readIpv6(link.index) : { state: 'unknown' as const, ll: undefined };
    if (this.stopped) return;
    this.physIndex = link?.index;
    this.mac = link?.mac || undefined;
    const carrier = link !== undefined && link.up && link.carrier;
    const carrierBack = carrier && !this.carrier;
    if (carrier !== this.carrier) {
      if (carrier) this.d.log.info({ ifname: this.d.iface }, 'physical link has carrier again; announcing');
      else this.d.log.warn({ ifname: this.d.iface, up: link?.up ?? false }, 'physical link lost carrier (cable, switch or NIC down)');
      this.carrier = carrier;
    }
    const ipv6Changed = six.state !== this.ipv6;
    if (ipv6Changed) {
      this.d.log.info({ ifname: this.d.iface, old: this.ipv6, new: six.state }, 'IPv6 on the physical interface changed state');
      this.ipv6 = six.state;
    }
    const llNew = six.ll !== undefined && six.ll !== this.linkLocal && six.ll !== this.lastLinkLocal ? six.ll : undefined;
    this.linkLocal = six.ll;
    if (six.ll !== undefined) this.lastLinkLocal = six.ll;
    const v6 = { linkLocal: llNew, ipv6Changed };
    this.prefix = next?.prefix;
    const old = this.ip;
    this.ip = next?.address;
    // Every time, not only on a change: both are no-ops when nothing changed,
    // and they recover a sender socket that failed to bind, or a raw socket
    // on a recreated interface.
    transport.setLink(this.physIndex);
    transport.setSource(this.ip === undefined ? undefined : formatIpv4(this.ip));
    if (old === this.ip) return this.d.onRead({ change: undefined, carrierBack, ...v6 });
    const next4 = this.ip;
    if (old !== undefined && next4 !== undefined) this.d.counters.underlayChangesOwn++;
    this.d.log.info({ ifname: this.d.iface, old: old === undefined ? null : formatIpv4(old), new: next4 === undefined ? null : formatIpv4(next4) },
      next4 === undefined ? 'underlay address lost; waiting for a new one' : 'underlay address changed; announcing');
    this.d.onRead({ change: { old, next: next4 }, carrierBack, ...v6 });
  }

  /** IPv6 state and link-local address: the current one while it is still there, else one that passed DAD. */
  private async readIpv6(index: number): Promise<{ state: Ipv6State; ll: Ipv6 | undefined }> {
    const { kernel, iface } = this.d;
    let off: boolean;
    try {
      off = await kernel.ipv6Disabled(iface);
    } catch {
      return { state: 'unknown', ll: undefined }; // the interface went away in between
    }
    if (off) return { state: 'off', ll: undefined };
    const lls = (await kernel.addrs6(index)).filter((a: Addr6) => a.linkLocal);
    const good = lls.filter((a) => !a.dadFailed);
    const ll = (good.find((a) => a.address === this.lastLinkLocal) ?? good[0])?.address;
    return { state: lls.length > 0 && good.length === 0 ? 'dad-failed' : 'on', ll };
  }
}
