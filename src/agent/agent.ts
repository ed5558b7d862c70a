// Layer: agent (composition). Contract: wires state, addressing, discovery
// and the dataplane loop, all from injected dependencies (only main builds
// real ones). start() refuses — before touching the kernel — when the state
// file is corrupt or belongs to another CIDR or cluster, or when a pinned
// address is taken. stop() leaves the bridge, VXLAN device and FDB in place:
// Kubernetes depends on them, and the next agent adopts them without a flap.

import type { Clock, TimerHandle } from '../clock.js';
import { EdgeError } from '../errors.js';
import { errFields, type Logger } from '../log.js';
import { formatIpv4, vipOf, type Ipv4 } from '../net/ipv4.js';
import type { Kernel, KernelEvent } from '../kernel/types.js';
import type { Endpoint, Transport } from '../discovery/transport.js';
import type { ClusterKey, Keyring } from '../wire/keyfile.js';
import { claimWins, type Claim } from '../alloc/allocator.js';
import { PeerTable, type Peer } from '../peers/table.js';
import { Tombstones } from '../peers/tombstones.js';
import type { StateStore } from '../state/store.js';
import { bridgeMacFor } from '../state/identity.js';
import { SingleFlight } from '../util/singleflight.js';
import { VERSION } from '../version.js';
import type { AgentConfig } from './config.js';
import { Addressing } from './addressing.js';
import { Announcer } from './announcer.js';
import { Counters } from './counters.js';
import { ForeignClusters } from './foreign.js';
import { Inbound } from './inbound.js';
import { AgentState } from './persistence.js';
import { Reconciler, type Desired, type Firewall } from './reconciler.js';
import { Underlay } from './underlay.js';
import { Relay } from './relay.js';
import { buildStatus, type StatusReport } from './status.js';
import type { ServiceView } from '../service/notify.js';
import { resolvePeer } from './operator.js';

export interface AgentDeps {
  kernel: Kernel;
  transport: Transport;
  clock: Clock;
  store: StateStore;
  log: Logger;
  keys: Keyring;
  random: () => number;
  /** VXLAN ingress filter (nftables); absent: the overlay is unfiltered */
  firewall?: Firewall | undefined;
}

export class Agent {
  readonly counters = new Counters();
  readonly peers: PeerTable;
  readonly tombstones = new Tombstones();
  readonly foreign: ForeignClusters;
  private keys: Keyring;
  private seeds: Endpoint[];
  private readonly state: AgentState;
  private readonly underlay: Underlay;
  private mac = '';
  private addressing!: Addressing;
  private announcer!: Announcer;
  private reconciler!: Reconciler;
  private inbound!: Inbound;
  private readonly underlayFlight: SingleFlight;
  private timers: TimerHandle[] = [];
  private unwatch: (() => void) | undefined;
  private staleLogged = new Set<string>();
  private startedAt = 0;
  private pinOutcome: { resolve: () => void; reject: (e: Error) => void } | undefined;
  /** kernel events are ignored until the first full reconcile is requested (it covers them) */
  private listening = false;
  private stopped = false;

  constructor(readonly config: AgentConfig, private readonly d: AgentDeps) {
    this.peers = new PeerTable(config.timings.staleAfterMs);
    this.foreign = new ForeignClusters(config.cidr);
    this.keys = d.keys;
    this.seeds = config.seeds;
    this.state = new AgentState(config, d.store, d.clock, d.log, this.peers, this.tombstones, config.timings.persistDelayMs);
    this.underlay = new Underlay(d.kernel, config.interface);
    this.underlayFlight = new SingleFlight(() => this.refreshUnderlay(), (err) => {
      d.log.error({ ...errFields(err), ifname: config.interface }, 'reading the underlay address failed; retrying');
      this.retryUnderlay();
    });
    this.state.heldMs = () => this.addressing?.heldMs;
  }

  get nodeId(): string {
    return this.state.nodeId;
  }

  get vip(): Ipv4 {
    return vipOf(this.config.cidr);
  }

  get overlayIp(): Ipv4 | undefined {
    return this.addressing?.ip;
  }

  get underlayIp(): Ipv4 | undefined {
    return this.underlay.ip;
  }

  async start(): Promise<void> {
    this.startedAt = this.d.clock.now();
    this.state.load();
    this.mac = bridgeMacFor(this.nodeId);
    this.build();
    try {
      await this.run();
    } catch (err) {
      await this.stop(); // a refused start leaves nothing running
      throw err;
    }
  }

  private async run(): Promise<void> {
    const { d, config } = this;
    // Order: watch before the first dump so no change slips between them;
    // adopt the kernel's FDB before the first reconcile so a restart never
    // rolls a peer back to an older underlay address we persisted; a pinned
    // address is settled before the kernel is changed at all.
    this.unwatch = d.kernel.watch((e) => this.onKernelEvent(e));
    await this.adoptKernelFdb();
    d.transport.onPacket((p, from) => {
      if (!this.stopped) this.inbound.handle(p, from);
    });
    const persisted = this.state.claim;
    const pinWait = new Promise<void>((resolve, reject) => { this.pinOutcome = { resolve, reject }; });
    // start() may already refuse a taken pin (its holder is in our persisted
    // peers); the await below comes after real I/O, so mark it handled now
    pinWait.catch(() => undefined);
    this.addressing.start(persisted);
    this.listening = true;
    this.underlayFlight.request();
    await this.underlayFlight.idle();
    if (config.pinnedIp !== undefined && this.addressing.ip !== config.pinnedIp) await pinWait;
    this.pinOutcome = undefined;
    this.reconciler.release(); // the kernel is touched from here on
    await this.reconciler.idle();
    this.announcer.start();
    if (persisted) this.announcer.burst();
    this.timers.push(d.clock.setInterval(() => {
      this.underlayFlight.request();
      // the filter is re-read first, so that the full reconcile reinstalls a deleted table
      if (d.firewall?.refresh) void d.firewall.refresh().then(() => this.reconciler.request());
      else this.reconciler.request();
    }, config.timings.resyncIntervalMs));
    this.timers.push(d.clock.setInterval(() => this.sweepStale(), 1000));
    const ip = this.addressing.ip;
    d.log.info({ node: this.nodeId, overlayIp: ip === undefined ? undefined : formatIpv4(ip), ifname: config.interface, bridge: config.bridge, peers: this.peers.size },
      ip !== undefined ? 'agent started with its overlay address' : 'agent started; no overlay address yet');
  }

  private build(): void {
    const { d, config } = this;
    const t = config.timings;
    this.addressing = new Addressing({
      clock: d.clock, log: d.log, cidr: config.cidr, nodeId: this.nodeId, peers: this.peers, timings: t, random: d.random,
      pinned: config.pinnedIp,
      sendProbe: (ip, startedAt) => !this.stopped && this.announcer.probe(ip, startedAt),
      sendChallenge: (target, ip, nonce) => this.announcer.challenge(target, ip, nonce, this.peers.get(target)?.underlayIp),
      persistClaim: (ip, claimedAt) => this.state.setClaim(ip, claimedAt),
      established: () => {
        this.pinOutcome?.resolve();
        this.reconciler.request();
        this.announcer.burst();
      },
      relinquish: (ip, winner) => {
        this.counters.conflicts++;
        this.state.clearClaim();
        d.log.warn({ peer: winner, old: formatIpv4(ip) }, 'overlay address given up');
        this.reconciler.request();
      },
      fatal: (reason) => this.pinOutcome?.reject(new EdgeError('E_CONFLICT', reason)),
    });
    this.announcer = new Announcer({
      clock: d.clock, transport: d.transport, key: () => this.keys[0]!, nextSeq: () => this.state.nextSeq(), timings: t,
      random: d.random, counters: this.counters, discoveryPort: config.discoveryPort, remotes: () => this.remotes(),
      self: () => ({
        cluster: config.cluster, nodeId: this.nodeId, cidr: config.cidr, vni: config.vni, mac: this.mac,
        underlayIp: this.underlay.ip, overlayIp: this.addressing.ip, claimedAt: this.addressing.claimedAt,
        heldMs: this.addressing.heldMs, pinned: this.addressing.isPinned, physMac: this.underlay.mac,
      }),
    });
    this.reconciler = new Reconciler(d.kernel, {
      iface: config.interface, bridge: config.bridge, vxlanDevice: config.vxlanDevice, vni: config.vni,
      vxlanPort: config.vxlanPort, mac: this.mac, cidr: config.cidr, vip: this.vip,
    }, () => this.desired(), d.clock, d.log, this.counters, t.retryMs, d.firewall);
    const relay = new Relay({
      transport: d.transport, peers: this.peers, onLan: (ip) => this.underlay.onLan(ip), discoveryPort: config.discoveryPort, counters: this.counters,
    });
    this.inbound = new Inbound({
      cluster: config.cluster, cidr: config.cidr, vni: config.vni, nodeId: this.nodeId, discoveryPort: config.discoveryPort,
      keys: () => this.keys, clock: d.clock, log: d.log, peers: this.peers, tombstones: this.tombstones, foreign: this.foreign,
      addressing: this.addressing, announcer: this.announcer, relay, counters: this.counters,
      routesChanged: () => {
        this.reconciler.requestRoutes();
        this.state.schedule();
      },
      adjacencyChanged: () => this.reconciler.requestRoutes(),
      forgottenChanged: () => this.state.schedule(),
      ownSeqRange: () => [this.state.firstSeq, this.state.lastSeq],
    });
  }

  /**
   * Stops the agent and writes the state; leaves the dataplane up. Order:
   * stop listening (packets, kernel events) first, let running loops finish
   * (they check `stopped` and start nothing new), then cancel every timer.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.listening = false;
    this.unwatch?.();
    this.reconciler?.stop();
    await this.underlayFlight.idle();
    await this.reconciler?.idle();
    this.announcer?.stop();
    this.addressing?.stop();
    for (const t of this.timers) t.cancel();
    this.timers = [];
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    this.state.save();
  }

  /** Resolves once no reconcile or underlay refresh is running (tests, READY). */
  async settled(): Promise<void> {
    await this.underlayFlight.idle();
    await this.reconciler.idle();
  }

  /** New keyring (SIGHUP after a rotation step): the first key signs from now on. */
  setKeys(keys: Keyring): void {
    const resigned = keys[0]!.label !== this.keys[0]?.label || !keys[0]!.key.equals(this.keys[0]!.key);
    this.keys = keys;
    this.d.log.info({ keys: keys.map((k: ClusterKey) => k.label), signing: keys[0]!.label }, 'cluster keyring reloaded');
    // a new signing key is put to use at once, not at the next period
    if (resigned && this.listening) this.announcer.announce();
  }

  /** New unicast seeds (SIGHUP). */
  setSeeds(seeds: Endpoint[]): void {
    this.seeds = seeds;
    this.d.log.info({ peers: seeds.map((s) => `${s.address}:${s.port}`) }, 'unicast seeds reloaded');
  }

  /** Unicast copies of every broadcast: the seeds, and known peers beyond our LAN. */
  private remotes(): Endpoint[] {
    const out = new Map<string, Endpoint>();
    for (const s of this.seeds) out.set(`${s.address}:${s.port}`, s);
    for (const p of this.peers.values()) {
      if (this.underlay.onLan(p.underlayIp)) continue;
      const e = { address: formatIpv4(p.underlayIp), port: this.config.discoveryPort };
      out.set(`${e.address}:${e.port}`, e);
    }
    return [...out.values()];
  }

  /** `edge-overlay forget NODE`: release a host's address on every host. */
  forget(query: string, force: boolean): { id: string; overlayIp: string } {
    const p = resolvePeer(this.peers, query, force, this.d.clock.monotonic());
    this.inbound.forget(p.id, p.claimedAt);
    for (let i = 0; i < 3; i++) this.announcer.forget(p.id, p.claimedAt, p.overlayIp);
    this.state.save(); // the operator waits for the answer: on disk before it
    return { id: p.id, overlayIp: formatIpv4(p.overlayIp) };
  }

  private desired(): Desired {
    const own = this.addressing.ip;
    const now = this.d.clock.monotonic();
    const claim = (p: Peer): Claim => ({ nodeId: p.id, heldMs: this.peers.heldNow(p, now), pinned: p.pinned });
    const routes = this.peers.routes((a, b) => claimWins(claim(a), claim(b)))
      // no underlay yet (raw L2 only), or claiming our own underlay address (misconfiguration): no FDB entries
      .filter((r) => r.underlayIp !== 0 && r.underlayIp !== this.underlay.ip)
      .map((r) => (r.overlayIp === own ? { ...r, overlayIp: undefined } : r));
    // Peers on our Ethernet segment (heard over raw L2) but outside our IP
    // subnet get an on-link /32 route, so VXLAN reaches them directly.
    const onLink = routes
      .filter((r) => !this.underlay.onLan(r.underlayIp) && this.peers.l2Adjacent(r.id, now))
      .map((r) => r.underlayIp);
    return { ownIp: own, routes, onLink, underlayIp: this.underlay.ip };
  }

  private async adoptKernelFdb(): Promise<void> {
    const vx = await this.d.kernel.linkByName(this.config.vxlanDevice);
    if (!vx || vx.kind !== 'vxlan') return;
    const fdb = await this.d.kernel.fdb(vx.index);
    for (const p of this.peers.all()) {
      const e = fdb.find((f) => f.mac === p.mac);
      if (e && e.dst !== p.underlayIp) {
        this.d.log.info({ peer: p.id, old: formatIpv4(p.underlayIp), new: formatIpv4(e.dst) }, 'adopting newer peer underlay address from the kernel FDB');
        this.peers.setUnderlay(p.id, e.dst);
      }
    }
  }

  private onKernelEvent(e: KernelEvent): void {
    if (!this.listening) return;
    if (e.type === 'resync') {
      this.counters.kernelResyncs++;
      this.d.log.warn({ reason: e.reason }, 'kernel events lost; resyncing from a full dump');
      this.underlayFlight.request();
      this.reconciler.request();
      return;
    }
    const phys = this.underlay.physIndex;
    if ((e.type === 'addr' && e.index === phys) || (e.type === 'link' && (e.index === phys || e.name === this.config.interface))) {
      this.underlayFlight.request();
    }
    if (this.reconciler.relevant(e)) this.reconciler.request();
  }

  private retryTimer: TimerHandle | undefined;

  private retryUnderlay(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = this.d.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.underlayFlight.request();
    }, this.config.timings.retryMs);
  }

  private async refreshUnderlay(): Promise<void> {
    if (this.stopped) return;
    const change = await this.underlay.refresh();
    if (this.stopped) return;
    // Every time, not only on a change: both are no-ops when nothing changed,
    // and they recover a sender socket that failed to bind, or a raw socket
    // on a recreated interface.
    this.d.transport.setLink(this.underlay.physIndex);
    this.d.transport.setSource(this.underlay.ip === undefined ? undefined : formatIpv4(this.underlay.ip));
    this.addressing.setCanSend(this.d.transport.canBroadcast());
    if (!change) return;
    const { old, next } = change;
    if (old !== undefined && next !== undefined) this.counters.underlayChangesOwn++;
    this.d.log.info({ ifname: this.config.interface, old: old === undefined ? null : formatIpv4(old), new: next === undefined ? null : formatIpv4(next) },
      next === undefined ? 'underlay address lost; waiting for a new one' : 'underlay address changed; announcing');
    if (next !== undefined) {
      this.announcer.markFresh(); // we may have been cut off: peers answer with their news
      this.announcer.burst();
    }
    this.reconciler.request(); // a peer may have claimed our new underlay address
  }

  private sweepStale(): void {
    const now = this.d.clock.monotonic();
    for (const p of this.peers.all()) {
      const stale = this.peers.state(p, now) === 'stale';
      if (stale && !this.staleLogged.has(p.id)) {
        this.staleLogged.add(p.id);
        this.d.log.warn({ peer: p.id, overlayIp: formatIpv4(p.overlayIp), lastSeenAt: new Date(p.lastSeenAt).toISOString() }, 'peer stale: not heard from; keeping its FDB entries and address reservation');
      } else if (!stale) {
        this.staleLogged.delete(p.id);
      }
    }
  }

  /** The few fields the service manager's status line needs, without building a full status (no firewall read). */
  serviceView(): ServiceView {
    const now = this.d.clock.monotonic();
    return {
      node: { overlayIp: this.overlayIp === undefined ? null : formatIpv4(this.overlayIp), addressState: this.addressing.phase.kind },
      peers: this.peers.all().map((p) => ({ state: this.peers.state(p, now) })),
      dataplane: { ready: this.reconciler.status.ready },
    };
  }

  status(): StatusReport {
    const { d } = this;
    return buildStatus({
      config: this.config, nodeId: this.nodeId, mac: this.mac, overlayIp: this.overlayIp, underlayIp: this.underlay.ip,
      addressState: this.addressing.phase.kind, pinned: this.addressing.isPinned, claimedAt: this.addressing.claimedAt,
      vip: this.vip, peers: this.peers, dataplane: this.reconciler.status,
      filter: d.firewall?.report() ?? { mode: 'disabled', allowed: 0, droppedPackets: 0, error: null },
      keys: this.keys, unconfirmedClaims: this.addressing.unconfirmed, foreign: this.foreign.list(), forgotten: this.tombstones.list(),
      counters: this.counters.snapshot(), nowWall: d.clock.now(), nowMono: d.clock.monotonic(),
      agent: { version: VERSION, startedAt: this.startedAt, stateFile: this.state.path, persistError: this.state.persistError },
    });
  }
}
