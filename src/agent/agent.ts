// Layer: agent (lifecycle). Contract: create() reads the state file and
// refuses a bad one before the kernel is touched; start() settles the address
// before the dataplane loop may change the kernel; stop() leaves the overlay
// up for the next agent to adopt without a flap. The rest routes events.

import type { TimerHandle } from '../clock.js';
import { formatIpv4, type Ipv4 } from '../net/ipv4.js';
import type { KernelEvent } from '../kernel/types.js';
import type { Endpoint } from '../discovery/transport.js';
import type { Keyring } from '../wire/keyfile.js';
import type { PersistedState } from '../state/schema.js';
import type { AgentConfig } from './config.js';
import { compose, type AgentDeps, type AgentHooks, type Parts } from './compose.js';
import type { Counters } from './counters.js';
import type { Effects } from './membership.js';
import { readState } from './persistence.js';
import { statusOf, type StatusReport } from './status.js';
import type { UnderlayRead } from './underlay.js';

export type { AgentDeps };

export class Agent implements AgentHooks {
  private readonly p: Parts;
  private readonly startedAt: number;
  private timers: TimerHandle[] = [];
  private unwatch: (() => void) | undefined;
  /** kernel events are ignored until the first full reconcile is requested (it covers them) */
  private listening = false;
  private stopped = false;

  /** Reads the state file (refusing a bad one; `doc`: main read it already) and builds the agent; nothing is sent or changed yet. */
  static create(config: AgentConfig, deps: AgentDeps, doc: PersistedState = readState(config, deps.store, deps.log)): Agent {
    return new Agent(config, deps, doc);
  }

  private constructor(readonly config: AgentConfig, private readonly d: AgentDeps, doc: PersistedState) {
    this.startedAt = d.clock.now();
    this.p = compose(config, d, doc, this);
  }

  get nodeId(): string {
    return this.p.identity.nodeId;
  }

  get overlayIp(): Ipv4 | undefined {
    return this.p.addressing.ip;
  }

  get counters(): Counters {
    return this.p.counters;
  }

  async start(): Promise<void> {
    try {
      await this.run();
    } catch (err) {
      await this.stop(); // a refused start leaves nothing running
      throw err;
    }
  }

  private async run(): Promise<void> {
    const { d, config, p } = this;
    // Order: watch before the first dump so no change slips between them;
    // adopt the kernel's FDB before the first reconcile so a restart never
    // rolls a peer back to an older underlay address we persisted; a pinned
    // address is settled before the kernel is changed at all.
    this.unwatch = d.kernel.watch((e) => this.onKernelEvent(e));
    const vx = await d.kernel.linkByName(config.vxlanDevice);
    if (vx?.kind === 'vxlan') p.membership.adopt(await d.kernel.fdb(vx.index));
    d.transport.onPacket((packet, from) => {
      if (!this.stopped) this.follow(p.inbound.handle(packet, from));
    });
    const persisted = p.state.claim;
    p.addressing.start(persisted);
    void p.seeds.refresh().then((changed) => changed && p.loop.request()); // never hold start-up on DNS
    this.listening = true;
    p.underlay.request();
    await p.underlay.idle();
    await p.addressing.pinSettled;
    p.loop.release(); // the kernel is touched from here on
    await p.loop.idle();
    p.announcer.start();
    if (persisted) p.announcer.burst();
    p.membership.start();
    this.timers.push(d.clock.setInterval(() => void this.resync(), config.timings.resyncIntervalMs));
    const ip = p.addressing.ip;
    d.log.info({ node: this.nodeId, overlayIp: ip === undefined ? undefined : formatIpv4(ip), ifname: config.interface, bridge: config.bridge,
      peers: p.membership.peers.size }, ip !== undefined ? 'agent started with its overlay address' : 'agent started; no overlay address yet');
  }

  /** The periodic resync: the filter and the seeds' names are re-read first, so that the full reconcile applies what changed. */
  private async resync(): Promise<void> {
    this.p.underlay.request();
    await Promise.all([this.d.firewall?.refresh(), this.p.seeds.refresh()]);
    this.p.loop.request();
  }

  /**
   * Stops the agent and writes the state; leaves the dataplane up. Order:
   * stop listening (packets, kernel events) first, let running loops finish
   * (they start nothing new), then cancel every timer.
   */
  async stop(): Promise<void> {
    const { p } = this;
    this.stopped = true;
    this.listening = false;
    this.unwatch?.();
    p.loop.stop();
    p.underlay.stop();
    await p.underlay.idle();
    await p.loop.idle();
    p.announcer.stop();
    p.sender.stop();
    p.addressing.stop();
    p.membership.stop();
    p.choice.stop();
    for (const t of this.timers) t.cancel();
    this.timers = [];
    p.state.save();
  }

  /** New keyring (SIGHUP after a rotation step): the first key signs from now on. */
  setKeys(keys: Keyring): void {
    const old = this.p.sender.keys[0]!;
    this.p.sender.setKeys(keys);
    this.d.log.info({ keys: keys.map((k) => k.label), signing: keys[0]!.label }, 'cluster keyring reloaded');
    // a new signing key is put to use at once, not at the next period
    if ((keys[0]!.label !== old.label || !keys[0]!.key.equals(old.key)) && this.listening) this.p.announcer.announce();
  }

  /** New unicast seeds (SIGHUP). */
  setSeeds(seeds: Endpoint[]): void {
    this.p.seeds.set(seeds);
    this.p.choice.evaluate(); // seeds mean routed peers: no link-local
    this.d.log.info({ peers: seeds.map((s) => `${s.address}:${s.port}`) }, 'unicast seeds reloaded');
    void this.p.seeds.refresh().then(() => this.p.loop.request()); // the filter lets them send discovery
  }

  /** `edge-overlay forget NODE`: release a host's address on every host. */
  forget(query: string, force: boolean): { id: string; overlayIp: string } {
    const { membership, sender, state } = this.p;
    const peer = membership.resolve(query, force);
    this.follow(membership.forget(peer.id, peer.claimedAt));
    for (let i = 0; i < 3; i++) sender.forget(peer.id, peer.claimedAt, peer.overlayIp);
    state.save(); // the operator waits for the answer: on disk before it
    return { id: peer.id, overlayIp: formatIpv4(peer.overlayIp) };
  }

  /**
   * Someone deleted or changed our ingress filter. Unless the guard table
   * drops unvetted VXLAN meanwhile, the overlay is held down now; the
   * reconcile puts the filter back, then the overlay.
   */
  filterBreached(guarded: boolean): void {
    this.d.log.warn({ code: 'E_FILTER', guarded }, guarded ? 'the VXLAN ingress filter was changed by someone else; restoring it (the guard table holds meanwhile)'
      : 'the VXLAN ingress filter was changed by someone else; overlay held down while it is restored');
    if (guarded) this.p.loop.request();
    else this.p.loop.holdDown();
  }

  /** Re-reads what status shows from the kernel (the filter's drop counter): before an operator's or a scrape's read. */
  async refresh(): Promise<void> {
    await this.d.firewall?.refresh();
  }

  status(): StatusReport {
    const { clock, firewall, transport } = this.d;
    return statusOf(this.config, this.p, {
      clock, filter: firewall?.report(), discovery: transport.health(), startedAt: this.startedAt, pid: process.pid,
    });
  }

  /** A membership change: the dataplane follows (fast path), the state file is written soon, the family choice is checked. */
  private follow(fx: Effects): void {
    if (fx.family) this.p.choice.evaluate();
    if (fx.routes) this.p.loop.requestRoutes();
    if (fx.persist) this.p.state.schedule();
  }

  private onKernelEvent(e: KernelEvent): void {
    if (!this.listening) return;
    const { underlay, loop } = this.p;
    if (e.type === 'resync') {
      this.counters.kernelResyncs++;
      this.d.log.warn({ reason: e.reason }, 'kernel events lost; resyncing from a full dump');
      underlay.request();
      loop.request();
      return;
    }
    if (underlay.concerns(e)) underlay.request();
    if (loop.relevant(e)) loop.request();
  }

  // AgentHooks

  /** After every read of the physical interface (the watcher logs what changed). */
  underlayRead({ change, carrierBack, linkLocal, ipv6Changed }: UnderlayRead): void {
    const { addressing, announcer, loop, state, choice } = this.p;
    addressing.setCanSend(this.d.transport.canBroadcast());
    // a new link-local address is a renumbering like any other (it was kept while the link was down)
    const llMoved = linkLocal !== undefined && state.linkLocal !== undefined && linkLocal !== state.linkLocal;
    if (llMoved) {
      this.counters.underlayChangesOwn++;
      this.d.log.info({ ifname: this.config.interface, old: state.linkLocal, new: linkLocal }, 'link-local address changed; announcing');
    }
    if (linkLocal !== undefined) state.setLinkLocal(linkLocal);
    if (ipv6Changed || linkLocal !== undefined) choice.evaluate();
    if (carrierBack || change?.next !== undefined || llMoved) {
      announcer.markFresh(); // we may have been cut off: peers answer with their news
      announcer.burst();
    } else if (ipv6Changed) {
      announcer.burst(); // our capabilities changed
    }
    if (change || llMoved) loop.request(); // a peer may have claimed our new underlay address; the VXLAN source moves
  }

  /** Our readiness for link-local changed: say so now; the family changed: rebuild the VXLAN device. */
  familyChanged({ family, ready }: { family: boolean; ready: boolean }): void {
    if (ready) this.p.announcer.burst();
    if (family) {
      this.counters.familySwitches++;
      this.p.loop.request();
    }
  }

  established(): void {
    this.p.loop.request();
    this.p.announcer.burst();
  }

  relinquished(ip: Ipv4, winner: string): void {
    this.counters.conflicts++;
    this.d.log.warn({ peer: winner, old: formatIpv4(ip) }, 'overlay address given up');
    this.p.loop.request();
  }
}
