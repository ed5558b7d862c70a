// Layer: agent (underlay watcher). Contract: follows the physical interface
// — its index, MAC, IPv4 address, and IPv6 state with its link-local
// address — from kernel events (single-flight, retried after a failed read),
// keeps the transport's sockets pointed at it, and hands every read to
// `onRead` as an immutable snapshot with what changed. It keeps the address
// it already has while that still exists (a second address is no reason to
// churn) and skips link-local 169.254/16.

import type { Clock } from '../../clock.js';
import { errFields, type Logger } from '../../log.js';
import { formatIpv4, sameSubnet, type Ipv4 } from '../../net/ipv4.js';
import type { Ipv6 } from '../../net/ipv6.js';
import type { Addr6, Kernel, KernelEvent } from '../../kernel/types.js';
import type { Transport } from '../../discovery/transport.js';
import type { Ipv6State } from '../../policy/family.js';
import { SingleFlight } from '../../util/singleflight.js';
import { RetryTimer } from '../../util/retry.js';
import type { UnderlayAddress } from '../../dataplane/desired.js';
import type { Actions } from '../actions.js';
import type { Counters } from '../records/counters.js';

/** The physical interface as one read found it. */
export interface UnderlaySnapshot {
  readonly index: number | undefined;
  readonly mac: string | undefined;
  readonly ip: Ipv4 | undefined;
  readonly prefix: number | undefined;
  /** up with carrier (true until the first read) */
  readonly carrier: boolean;
  readonly ipv6: Ipv6State;
  /** the link-local address the interface has now (none while it is down, or IPv6 is off) */
  readonly linkLocal: Ipv6 | undefined;
  /** the last link-local address seen, also in an earlier run (a down link drops it; it comes back the same) */
  readonly lastLinkLocal: Ipv6 | undefined;
  /** the last IPv4 address and prefix seen in this run (kept while there is none) */
  readonly lastAddress: UnderlayAddress | undefined;
}

/** What one read of the physical interface found. */
export interface UnderlayRead {
  snapshot: UnderlaySnapshot;
  /** our IPv4 address changed */
  change: { old: Ipv4 | undefined; next: Ipv4 | undefined } | undefined;
  /** our link-local address appeared or is a different one (undefined: the same, or none right now) */
  linkLocal: Ipv6 | undefined;
  /** it is a different one than the last we had: a renumbering */
  linkLocalMoved: boolean;
  /** the same IPv4 address with another prefix: the subnet (on-link peers, the filter's LAN) moved */
  prefixChanged: boolean;
  /** IPv6 on the interface changed state */
  ipv6Changed: boolean;
  /** the link is up with carrier again after it was lost (or down): we may have missed news */
  carrierBack: boolean;
}

export const unreadUnderlay = (lastLinkLocal: Ipv6 | undefined): UnderlaySnapshot => ({
  index: undefined, mac: undefined, ip: undefined, prefix: undefined, carrier: true, ipv6: 'unknown',
  linkLocal: undefined, lastLinkLocal, lastAddress: undefined,
});

/** Our IPv4 address and prefix, if we have one. */
export const addressOf = (s: UnderlaySnapshot): UnderlayAddress | undefined =>
  (s.ip === undefined || s.prefix === undefined ? undefined : { ip: s.ip, prefix: s.prefix });

/** Is `ip` inside our underlay subnet (reachable by our broadcasts)? */
export const onLan = (s: UnderlaySnapshot, ip: Ipv4): boolean =>
  s.ip !== undefined && s.prefix !== undefined && sameSubnet(ip, s.ip, s.prefix);

/** What a read asks of the agent: news announced, the family choice checked, the dataplane following our addresses. */
export function underlayActions(r: UnderlayRead): Actions {
  const moved = r.change?.next !== undefined || r.linkLocalMoved;
  // we may have been cut off, or moved: peers answer fresh announcements with their news
  const fresh = r.carrierBack || moved;
  return {
    fresh, burst: fresh || r.ipv6Changed, family: r.ipv6Changed || r.linkLocal !== undefined,
    // a new address: a peer may have claimed it, the VXLAN source moves (a full run); a lost one changes only the
    // on-link routes (the FDB, the devices and the filter stay as they are: DHCP is about to give us another)
    reprogram: moved || r.prefixChanged ? 'full' : r.change !== undefined ? 'routes' : undefined,
  };
}

export interface UnderlayDeps {
  kernel: Kernel;
  transport: Transport;
  iface: string;
  clock: Clock;
  log: Logger;
  counters: Counters;
  retryMs: number;
  /** the link-local address of an earlier run (state file) */
  lastLinkLocal: Ipv6 | undefined;
  /** after every read */
  onRead(read: UnderlayRead): void;
}

export class UnderlayWatcher {
  private snap: UnderlaySnapshot;
  private readonly flight: SingleFlight;
  private readonly retry: RetryTimer;
  private stopped = false;

  constructor(private readonly d: UnderlayDeps) {
    this.snap = unreadUnderlay(d.lastLinkLocal);
    this.retry = new RetryTimer(d.clock, () => this.request(), { firstMs: d.retryMs });
    this.flight = new SingleFlight(() => this.refresh(), (err) => {
      d.log.error({ ...errFields(err), ifname: d.iface }, 'reading the underlay address failed; retrying');
      this.retry.schedule();
    });
  }

  get snapshot(): UnderlaySnapshot {
    return this.snap;
  }

  /** Is this kernel event about the physical interface? */
  concerns(e: KernelEvent): boolean {
    return ((e.type === 'addr' || e.type === 'addr6') && e.index === this.snap.index)
      || (e.type === 'link' && (e.index === this.snap.index || e.name === this.d.iface));
  }

  request(): void {
    if (!this.stopped) this.flight.request();
  }

  idle(): Promise<void> {
    return this.flight.idle();
  }

  stop(): void {
    this.stopped = true;
    this.retry.stop();
  }

  private async refresh(): Promise<void> {
    if (this.stopped) return;
    const { kernel, transport, iface, log } = this.d;
    const prev = this.snap;
    const link = await kernel.linkByName(iface);
    let next: { address: Ipv4; prefix: number } | undefined;
    if (link) {
      const addrs = (await kernel.addrs(link.index)).filter((a) => (a.address >>> 16) !== 0xa9fe);
      next = addrs.find((a) => a.address === prev.ip) ?? addrs.find((a) => !a.secondary) ?? addrs[0];
    }
    const six = link
      ? await this.readIpv6(link.index, prev.lastLinkLocal)
      : { state: 'unknown' as const, ll: undefined };
    if (this.stopped) return;
    const carrier = link !== undefined && link.up && link.carrier;
    const snap: UnderlaySnapshot = Object.freeze({
      index: link?.index, mac: link?.mac || undefined, ip: next?.address, prefix: next?.prefix, carrier,
      ipv6: six.state, linkLocal: six.ll, lastLinkLocal: six.ll ?? prev.lastLinkLocal,
      lastAddress: next ? { ip: next.address, prefix: next.prefix } : prev.lastAddress,
    });
    this.snap = snap;
    if (carrier !== prev.carrier) {
      if (carrier) log.info({ ifname: iface }, 'physical link has carrier again; announcing');
      else log.warn({ ifname: iface, up: link?.up ?? false }, 'physical link lost carrier (cable, switch or NIC down)');
    }
    const ipv6Changed = six.state !== prev.ipv6;
    if (ipv6Changed) {
      log.info({ ifname: iface, old: prev.ipv6, new: six.state }, 'IPv6 on the physical interface changed state');
    }
    const llNew = six.ll !== undefined && six.ll !== prev.linkLocal && six.ll !== prev.lastLinkLocal
      ? six.ll
      : undefined;
    // a new link-local address is a renumbering like any other (it was kept while the link was down)
    const linkLocalMoved = llNew !== undefined && prev.lastLinkLocal !== undefined;
    if (linkLocalMoved) {
      this.d.counters.underlayChangesOwn++;
      log.info({ ifname: iface, old: prev.lastLinkLocal, new: llNew }, 'link-local address changed; announcing');
    }
    // Every time, not only on a change: both are no-ops when nothing changed,
    // and they recover a sender socket that failed to bind, or a raw socket
    // on a recreated interface.
    transport.setLink(snap.index);
    transport.setSource(snap.ip === undefined ? undefined : formatIpv4(snap.ip));
    const read = {
      snapshot: snap, carrierBack: carrier && !prev.carrier, linkLocal: llNew, linkLocalMoved, ipv6Changed,
      prefixChanged: prev.ip === snap.ip && snap.ip !== undefined && prev.prefix !== snap.prefix,
    };
    if (prev.ip === snap.ip) return this.d.onRead({ ...read, change: undefined });
    if (prev.ip !== undefined && snap.ip !== undefined) this.d.counters.underlayChangesOwn++;
    const f = (ip: Ipv4 | undefined): string | null => (ip === undefined ? null : formatIpv4(ip));
    log.info({ ifname: iface, old: f(prev.ip), new: f(snap.ip) },
      snap.ip === undefined ? 'underlay address lost; waiting for a new one' : 'underlay address changed; announcing');
    this.d.onRead({ ...read, change: { old: prev.ip, next: snap.ip } });
  }

  /** IPv6 state and link-local address: the current one while it is still there, else one that passed DAD. */
  private async readIpv6(index: number, last: Ipv6 | undefined): Promise<{ state: Ipv6State; ll: Ipv6 | undefined }> {
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
    const ll = (good.find((a) => a.address === last) ?? good[0])?.address;
    return { state: lls.length > 0 && good.length === 0 ? 'dad-failed' : 'on', ll };
  }
}
