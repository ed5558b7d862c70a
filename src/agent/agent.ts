// Layer: agent (lifecycle). Contract: create() reads the state file and
// refuses a bad one before the kernel is touched; start() settles the address
// before the dataplane loop may change the kernel; stop() leaves the overlay
// up for the next agent to adopt without a flap. In between, change flows one
// way: a packet, a kernel event, a timer or an operator produces an Actions
// value, act() carries it out, and the dataplane loop is given the Desired
// value computed from the parts' state at that moment.

import type { TimerHandle } from '../clock.js';
import { formatIpv4, type Ipv4 } from '../net/ipv4.js';
import type { Endpoint } from '../discovery/transport.js';
import type { Keyring } from '../wire/keyfile.js';
import type { PersistedState } from '../state/schema.js';
import { merge, NOTHING, type Actions } from './actions.js';
import type { AgentConfig } from './config.js';
import { compose, type AgentDeps, type Parts } from './compose.js';
import type { Counters } from './records/counters.js';
import { filterBreach, kernelEventActions } from './events.js';
import { desiredOf, familyView, ownFacts } from './facts.js';
import { forgetSends, reloadKeys, reloadSeeds } from './operator.js';
import { readState } from './records/persistence.js';
import { statusOf, type StatusReport } from './records/status.js';
import { underlayActions, type UnderlayRead, type UnderlaySnapshot } from './underlay/watcher.js';

export class Agent {
  private readonly p: Parts;
  private readonly startedAt: number;
  /** the physical interface as last read */
  private lan: UnderlaySnapshot;
  private resyncTimer: TimerHandle | undefined;
  private unwatch: (() => void) | undefined;
  /** kernel events are ignored until the first full reconcile is requested (it covers them) */
  private listening = false;
  private stopped = false;

  /** Reads the state file (`doc`: main read it already) and builds the agent; nothing is sent or changed yet. */
  static create(config: AgentConfig, deps: AgentDeps, doc = readState(config, deps.store, deps.log)): Agent {
    return new Agent(config, deps, doc);
  }

  private constructor(readonly config: AgentConfig, private readonly d: AgentDeps, doc: PersistedState) {
    this.startedAt = d.clock.now();
    this.p = compose(config, d, doc, { emit: (a) => this.act(a), underlayRead: (r) => this.underlayRead(r) });
    this.lan = this.p.underlay.snapshot;
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
    await this.run().catch(async (err: unknown) => {
      await this.stop(); // a refused start leaves nothing running
      throw err;
    });
  }

  private async run(): Promise<void> {
    const { d, config, p } = this;
    // Order: watch before the first dump so no change slips between them;
    // adopt the kernel's FDB before the first reconcile so a restart never
    // rolls a peer back to an older underlay address we persisted; a pinned
    // address is settled before the kernel is changed at all.
    this.unwatch = d.kernel.watch((e) => {
      if (this.listening) this.act(kernelEventActions(e, p, d.log));
    });
    const vx = await d.kernel.linkByName(config.vxlanDevice);
    if (vx?.kind === 'vxlan') p.membership.adopt(await d.kernel.fdb(vx.index));
    d.transport.onPacket((packet, from) => {
      if (!this.stopped) this.act(p.inbound.handle(packet, from, this.lan));
    });
    const persisted = p.state.claim;
    p.addressing.start(persisted);
    void p.seeds.refresh().then((changed) => changed && this.act({ reprogram: 'full' })); // never hold start-up on DNS
    this.listening = true;
    p.underlay.request();
    await p.underlay.idle();
    await p.addressing.pinSettled;
    p.loop.release(desiredOf(p, this.lan)); // the kernel is touched from here on
    await p.loop.idle();
    p.announcer.start();
    if (persisted) p.announcer.burst();
    p.membership.start();
    this.resyncTimer = d.clock.setInterval(() => void this.resync(), config.timings.resyncIntervalMs);
    const ip = p.addressing.ip === undefined ? undefined : formatIpv4(p.addressing.ip);
    d.log.info({
      node: this.nodeId, overlayIp: ip, ifname: config.interface, bridge: config.bridge, peers: p.membership.peers.size,
    }, ip !== undefined ? 'agent started with its overlay address' : 'agent started; no overlay address yet');
  }

  /** The periodic resync: the NIC, the filter and the seeds' names are re-read, then a full reconcile applies them. */
  private async resync(): Promise<void> {
    this.act({ reread: true });
    await Promise.all([this.d.firewall?.refresh(), this.p.seeds.refresh()]);
    this.act({ reprogram: 'full' });
  }

  /**
   * Stops the agent and writes the state; leaves the dataplane up. Order: stop listening (packets, kernel events)
   * first, let running loops finish (they start nothing new), then cancel every timer.
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
    for (const part of [p.announcer, p.sender, p.addressing, p.membership, p.choice]) part.stop();
    this.resyncTimer?.cancel();
    p.state.save();
  }

  /** New keyring (SIGHUP after a rotation step): the first key signs from now on, put to use at once. */
  setKeys(keys: Keyring): void {
    const announce = reloadKeys(this.p.sender, keys, this.d.log);
    if (this.listening) this.act(announce);
  }

  /** New unicast seeds (SIGHUP): routed peers mean no link-local; the filter lets them send discovery. */
  setSeeds(seeds: Endpoint[]): void {
    this.act(reloadSeeds(this.p.seeds, seeds, this.d.log));
    void this.p.seeds.refresh().then(() => this.act({ reprogram: 'full' }));
  }

  /** `edge-overlay forget NODE`: release a host's address on every host. */
  forget(query: string, force: boolean): { id: string; overlayIp: string } {
    const { membership, state } = this.p;
    const peer = membership.resolve(query, force);
    this.act(merge(membership.forget(peer.id, peer.claimedAt), { send: forgetSends(peer) }));
    state.save(); // the operator waits for the answer: on disk before it
    return { id: peer.id, overlayIp: formatIpv4(peer.overlayIp) };
  }

  /** Someone deleted or changed our ingress filter (events.ts: filterBreach). */
  filterBreached(guarded: boolean): void {
    if (filterBreach(guarded, this.d.log) === 'hold-down') this.p.loop.holdDown();
    else this.act({ reprogram: 'repair' });
  }

  /** Re-reads what status shows from the kernel (the filter's drop counter) before an operator's or a scrape's read. */
  async refresh(): Promise<void> {
    await this.d.firewall?.refresh();
  }

  status(): StatusReport {
    const { clock, firewall, transport } = this.d;
    const filter = firewall?.report();
    return statusOf(this.config, this.p, { clock, filter, discovery: transport.health(), startedAt: this.startedAt,
      pid: process.pid, lan: this.lan });
  }

  /** Carries out what a part asked for, in order: packets, family choice, announcements, dataplane, state file. */
  private act(a: Actions): void {
    if (a === NOTHING || this.stopped) return;
    const { announcer, sender, loop, state } = this.p;
    for (const o of a.send ?? []) {
      if (o.kind === 'announce') announcer.announce(o.to, o.echo);
      else sender.dispatch(o);
    }
    const all = a.family ? merge(a, this.evaluateFamily()) : a;
    if (all.fresh) announcer.markFresh();
    if (all.burst) announcer.burst();
    for (const to of all.trigger ?? []) announcer.trigger(to);
    for (const x of all.answer ?? []) announcer.answerFresh(x.peer, x.moved, x.to);
    if (all.reread) this.p.underlay.request();
    if (all.reprogram === 'repair') loop.request();
    else if (all.reprogram) loop.want(all.reprogram, () => desiredOf(this.p, this.lan));
    if (all.persist) state.schedule();
  }

  private underlayRead(r: UnderlayRead): void {
    const { p } = this;
    this.lan = r.snapshot;
    p.sender.setUnderlay(r.snapshot);
    if (r.linkLocal !== undefined) p.state.setLinkLocal(r.linkLocal);
    p.addressing.setCanSend(this.d.transport.canBroadcast());
    this.act(merge(underlayActions(r), p.choice.evaluated ? NOTHING : { family: true }));
  }

  /** The family choice from the facts now; what our announcements say about it follows. */
  private evaluateFamily(): Actions {
    const { choice, membership, sender, seeds } = this.p;
    const now = this.d.clock.monotonic();
    const own = ownFacts(this.config, this.lan, seeds.list.length);
    const out = choice.evaluate(own, membership.peers.facts(now), membership.peers.nextL2Verdict(now));
    sender.setFamily(familyView(own, choice.isReady));
    return out;
  }
}
