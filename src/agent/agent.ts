// Layer: agent (composition). Contract: wires state, addressing, discovery
// and the dataplane loop, all from injected dependencies (only main builds
// real ones). start() refuses — before touching the kernel — when the state
// file is corrupt or belongs to another CIDR or cluster. stop() leaves the
// bridge, VXLAN device and FDB in place: Kubernetes depends on them, and the
// next agent adopts them without a flap.

import type { Clock, TimerHandle } from '../clock.js';
import { EdgeError } from '../errors.js';
import { errFields, type Logger } from '../log.js';
import { formatCidr, formatIpv4, isHostAddress, parseCidr, parseIpv4, sameCidr, vipOf, type Ipv4 } from '../net/ipv4.js';
import type { Kernel, KernelEvent } from '../kernel/types.js';
import type { Transport } from '../discovery/transport.js';
import type { SigningKey } from '../wire/codec.js';
import { claimWins } from '../alloc/allocator.js';
import { PeerTable } from '../peers/table.js';
import type { StateStore } from '../state/store.js';
import type { PersistedState } from '../state/schema.js';
import { bridgeMacFor, deriveNodeId } from '../state/identity.js';
import { SingleFlight } from '../util/singleflight.js';
import { VERSION } from '../version.js';
import type { AgentConfig } from './config.js';
import { Addressing } from './addressing.js';
import { Announcer } from './announcer.js';
import { Counters } from './counters.js';
import { Inbound } from './inbound.js';
import { Reconciler, type Desired } from './reconciler.js';
import type { StatusReport } from './status.js';

export interface AgentDeps {
  kernel: Kernel;
  transport: Transport;
  clock: Clock;
  store: StateStore;
  log: Logger;
  key: SigningKey;
  random: () => number;
  /** contents of /etc/machine-id, if any */
  machineId: string | undefined;
}

/** Sequence numbers are reserved in blocks so that a restart never reuses one. */
const SEQ_BLOCK = 10_000;

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

export class Agent {
  readonly counters = new Counters();
  readonly peers: PeerTable;
  nodeId = '';
  underlayIp: Ipv4 | undefined;
  private state!: PersistedState;
  private mac = '';
  private seq = 0;
  private key: SigningKey;
  private addressing!: Addressing;
  private announcer!: Announcer;
  private reconciler!: Reconciler;
  private inbound!: Inbound;
  private readonly underlayFlight: SingleFlight;
  private physIndex: number | undefined;
  private persistTimer: TimerHandle | undefined;
  private persistError: string | undefined;
  private timers: TimerHandle[] = [];
  private unwatch: (() => void) | undefined;
  private staleLogged = new Set<string>();
  private startedAt = 0;

  constructor(readonly config: AgentConfig, private readonly d: AgentDeps) {
    this.peers = new PeerTable(config.timings.staleAfterMs);
    this.key = d.key;
    this.underlayFlight = new SingleFlight(() => this.refreshUnderlay(), (err) => {
      d.log.error({ ...errFields(err), ifname: config.interface }, 'reading the underlay address failed');
    });
  }

  get vip(): Ipv4 {
    return vipOf(this.config.cidr);
  }

  get overlayIp(): Ipv4 | undefined {
    return this.addressing?.ip;
  }

  async start(): Promise<void> {
    const { d, config } = this;
    this.startedAt = d.clock.now();
    this.loadState();
    const t = config.timings;
    this.addressing = new Addressing({
      clock: d.clock, log: d.log, cidr: config.cidr, nodeId: this.nodeId, peers: this.peers, timings: t, random: d.random,
      sendProbe: (ip, startedAt) => this.announcer.probe(ip, startedAt),
      persistClaim: (ip, claimedAt) => this.persistClaim(ip, claimedAt),
      established: () => {
        this.reconciler.request();
        this.announcer.burst();
      },
      relinquish: (ip, winner) => this.relinquish(ip, winner),
    });
    this.announcer = new Announcer({
      clock: d.clock, transport: d.transport, key: () => this.key, nextSeq: () => this.nextSeq(), timings: t,
      random: d.random, counters: this.counters, discoveryPort: config.discoveryPort,
      self: () => ({
        cluster: config.cluster, nodeId: this.nodeId, cidr: config.cidr, vni: config.vni, mac: this.mac,
        underlayIp: this.underlayIp, overlayIp: this.addressing.ip, claimedAt: this.addressing.claimedAt,
      }),
    });
    this.reconciler = new Reconciler(d.kernel, {
      iface: config.interface, bridge: config.bridge, vxlanDevice: config.vxlanDevice, vni: config.vni,
      vxlanPort: config.vxlanPort, mac: this.mac, cidr: config.cidr, vip: this.vip,
    }, () => this.desired(), d.clock, d.log, this.counters, t.retryMs);
    this.inbound = new Inbound({
      cluster: config.cluster, cidr: config.cidr, vni: config.vni, nodeId: this.nodeId, discoveryPort: config.discoveryPort,
      keys: () => [this.key], clock: d.clock, log: d.log, peers: this.peers, addressing: this.addressing,
      announcer: this.announcer, counters: this.counters,
      routesChanged: () => {
        this.reconciler.request();
        this.schedulePersist();
      },
    });

    // Order: watch before the first dump so no change slips between them;
    // adopt the kernel's FDB before the first reconcile so a restart never
    // rolls a peer back to an older underlay address we persisted.
    this.unwatch = d.kernel.watch((e) => this.onKernelEvent(e));
    await this.adoptKernelFdb();
    d.transport.onPacket((p, from) => this.inbound.handle(p, from));
    const persisted = this.state.overlayIp !== undefined && this.state.claimedAt !== undefined
      ? { ip: parseIpv4(this.state.overlayIp)!, claimedAt: this.state.claimedAt } : undefined;
    this.addressing.start(persisted);
    this.underlayFlight.request();
    await this.underlayFlight.idle();
    this.reconciler.request();
    await this.reconciler.idle();
    this.announcer.start();
    if (persisted) this.announcer.burst();
    this.timers.push(d.clock.setInterval(() => {
      this.underlayFlight.request();
      this.reconciler.request();
    }, t.resyncIntervalMs));
    this.timers.push(d.clock.setInterval(() => this.sweepStale(), 1000));
    d.log.info({
      node: this.nodeId, overlayIp: persisted ? formatIpv4(persisted.ip) : undefined, cidr: formatCidr(config.cidr),
      ifname: config.interface, bridge: config.bridge, peers: this.peers.size,
    }, persisted ? 'agent started with its persisted overlay address' : 'agent started; no overlay address yet');
  }

  /** Stops timers and listeners and writes the state; leaves the dataplane up. */
  async stop(): Promise<void> {
    this.announcer?.stop();
    this.addressing?.stop();
    this.reconciler?.stop();
    for (const t of this.timers) t.cancel();
    this.timers = [];
    this.persistTimer?.cancel();
    this.unwatch?.();
    await this.underlayFlight.idle();
    await this.reconciler?.idle();
    this.saveState();
  }

  /** Resolves once no reconcile or underlay refresh is running (tests, READY). */
  async settled(): Promise<void> {
    await this.underlayFlight.idle();
    await this.reconciler.idle();
  }

  private loadState(): void {
    const { d, config } = this;
    const s = d.store.load();
    if (s) {
      const cidr = parseCidr(s.cidr);
      if (s.cluster !== config.cluster) {
        throw new EdgeError('E_STATE', `state file ${d.store.path} belongs to cluster "${s.cluster}", but this agent is configured for cluster "${config.cluster}"; refusing to start. Use --cluster ${s.cluster}, or remove the file to join "${config.cluster}" with a new address`);
      }
      if (typeof cidr === 'string' || !sameCidr(cidr, config.cidr)) {
        throw new EdgeError('E_CIDR_MISMATCH', `overlay CIDR ${formatCidr(config.cidr)} differs from ${s.cidr} persisted in ${d.store.path}${s.overlayIp ? ` (this host's overlay IP is ${s.overlayIp})` : ''}; refusing to start and changing nothing. Use --overlay-cidr ${s.cidr}, or remove the file to re-address this host`);
      }
      if (s.overlayIp !== undefined && !isHostAddress(config.cidr, parseIpv4(s.overlayIp)!)) {
        throw new EdgeError('E_STATE', `state file ${d.store.path} holds overlay IP ${s.overlayIp}, which is not a host address of ${s.cidr}; refusing to start`);
      }
      this.state = s;
    } else {
      this.state = {
        version: 1, nodeId: deriveNodeId(d.machineId, config.stateDir), cluster: config.cluster,
        cidr: formatCidr(config.cidr), seqFloor: 0, peers: [],
      };
    }
    this.nodeId = this.state.nodeId;
    this.mac = bridgeMacFor(this.nodeId);
    this.peers.load(this.state.peers.filter((p) => p.id !== this.nodeId));
    // Wall-clock based start (µs) survives a lost state file; the persisted
    // floor survives a clock stepped back. Either way: never reuse a number.
    this.seq = Math.max(this.state.seqFloor, d.clock.now() * 1000);
    this.state.seqFloor = this.seq + SEQ_BLOCK;
    d.store.save(this.state); // also proves the state dir is writable before we touch the kernel
  }

  private nextSeq(): number {
    this.seq++;
    if (this.seq >= this.state.seqFloor) {
      this.state.seqFloor = this.seq + SEQ_BLOCK;
      this.saveState();
    }
    return this.seq;
  }

  private saveState(): void {
    this.state.peers = this.peers.toPersisted();
    try {
      this.d.store.save(this.state);
      if (this.persistError) this.d.log.info({ file: this.d.store.path }, 'state file written again');
      this.persistError = undefined;
    } catch (err) {
      this.persistError = (err as Error).message;
      this.d.log.error({ ...errFields(err), file: this.d.store.path }, 'writing the state file failed; keeping the previous version and retrying');
      this.schedulePersist(1000);
    }
  }

  private schedulePersist(delay = this.config.timings.persistDelayMs): void {
    if (this.persistTimer) return;
    this.persistTimer = this.d.clock.setTimeout(() => {
      this.persistTimer = undefined;
      this.saveState();
    }, delay);
  }

  private persistClaim(ip: Ipv4, claimedAt: number): boolean {
    this.state.overlayIp = formatIpv4(ip);
    this.state.claimedAt = claimedAt;
    this.saveState();
    if (this.persistError) {
      this.state.overlayIp = undefined;
      this.state.claimedAt = undefined;
      return false;
    }
    return true;
  }

  private relinquish(ip: Ipv4, winner: string): void {
    this.counters.conflicts++;
    this.state.overlayIp = undefined;
    this.state.claimedAt = undefined;
    this.saveState();
    this.d.log.warn({ peer: winner, old: formatIpv4(ip) }, 'overlay address given up');
    this.reconciler.request();
  }

  private desired(): Desired {
    const own = this.addressing.ip;
    const winner = (a: { id: string; claimedAt: number }, b: { id: string; claimedAt: number }): boolean =>
      claimWins({ nodeId: a.id, claimedAt: a.claimedAt, established: true }, { nodeId: b.id, claimedAt: b.claimedAt, established: true });
    const routes = this.peers.routes(winner)
      .filter((r) => r.underlayIp !== this.underlayIp) // a peer claiming our own underlay address is a misconfiguration
      .map((r) => (r.overlayIp === own ? { ...r, overlayIp: undefined } : r));
    return { ownIp: own, routes };
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
    if (e.type === 'resync') {
      this.counters.kernelResyncs++;
      this.d.log.warn({ reason: e.reason }, 'kernel events lost; resyncing from a full dump');
      this.underlayFlight.request();
      this.reconciler.request();
      return;
    }
    if ((e.type === 'addr' && e.index === this.physIndex) || (e.type === 'link' && (e.index === this.physIndex || e.name === this.config.interface))) {
      this.underlayFlight.request();
    }
    if (this.reconciler.relevant(e)) this.reconciler.request();
  }

  private async refreshUnderlay(): Promise<void> {
    const { kernel } = this.d;
    const link = await kernel.linkByName(this.config.interface);
    this.physIndex = link?.index;
    let next: Ipv4 | undefined;
    if (link) {
      const addrs = (await kernel.addrs(link.index)).filter((a) => (a.address >>> 16) !== 0xa9fe); // not 169.254/16
      const primaries = addrs.filter((a) => !a.secondary);
      // Keep the address we announce while it exists: no churn on a second address.
      next = [...primaries, ...addrs].find((a) => a.address === this.underlayIp)?.address ?? primaries[0]?.address ?? addrs[0]?.address;
    }
    if (next === this.underlayIp) return;
    const old = this.underlayIp;
    this.underlayIp = next;
    this.d.transport.setSource(next === undefined ? undefined : formatIpv4(next));
    if (old !== undefined && next !== undefined) this.counters.underlayChangesOwn++;
    this.d.log.info({ ifname: this.config.interface, old: old === undefined ? null : formatIpv4(old), new: next === undefined ? null : formatIpv4(next) },
      next === undefined ? 'underlay address lost; waiting for a new one' : 'underlay address changed; announcing');
    this.addressing.setCanSend(next !== undefined);
    if (next !== undefined) this.announcer.burst();
    this.reconciler.request(); // a peer may have claimed our new underlay address
  }

  private sweepStale(): void {
    const now = this.d.clock.monotonic();
    for (const p of this.peers.all()) {
      const stale = this.peers.state(p, now) === 'stale';
      if (stale && !this.staleLogged.has(p.id)) {
        this.staleLogged.add(p.id);
        this.d.log.warn({ peer: p.id, overlayIp: formatIpv4(p.overlayIp), lastSeenAt: iso(p.lastSeenAt) }, 'peer stale: not heard from; keeping its FDB entries and address reservation');
      } else if (!stale) {
        this.staleLogged.delete(p.id);
      }
    }
  }

  status(): StatusReport {
    const { config, d } = this;
    const nowMono = d.clock.monotonic();
    const nowWall = d.clock.now();
    const dp = this.reconciler.status;
    return {
      node: {
        id: this.nodeId, overlayIp: this.overlayIp === undefined ? null : formatIpv4(this.overlayIp),
        underlayIp: this.underlayIp === undefined ? null : formatIpv4(this.underlayIp),
        interface: config.interface, bridge: config.bridge, vxlan: config.vxlanDevice, mac: this.mac,
        mtu: dp.mtu ?? null, addressState: this.addressing.phase.kind, claimedAt: iso(this.addressing.claimedAt),
      },
      cluster: {
        name: config.cluster, cidr: formatCidr(config.cidr), vip: formatIpv4(this.vip), vni: config.vni,
        vxlanPort: config.vxlanPort, discoveryPort: config.discoveryPort,
      },
      peers: this.peers.all().map((p) => ({
        id: p.id, overlayIp: formatIpv4(p.overlayIp), underlayIp: formatIpv4(p.underlayIp), mac: p.mac,
        state: this.peers.state(p, nowMono),
        lastSeenMs: Math.max(0, Math.round(p.lastSeenMono !== undefined ? nowMono - p.lastSeenMono : nowWall - p.lastSeenAt)),
        lastSeenAt: new Date(p.lastSeenAt).toISOString(), claimedAt: new Date(p.claimedAt).toISOString(),
      })),
      dataplane: {
        ready: dp.ready, lastReconcileAt: iso(dp.lastAt), lastReconcileMs: dp.lastMs === undefined ? null : Math.round(dp.lastMs * 10) / 10,
        fdbEntries: dp.fdbEntries, neighEntries: dp.neighEntries, lastError: dp.lastError ?? null,
      },
      counters: this.counters.snapshot(),
      agent: { pid: process.pid, version: VERSION, startedAt: new Date(this.startedAt).toISOString(), stateFile: d.store.path, persistError: this.persistError ?? null },
    };
  }
}
