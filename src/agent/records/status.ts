// Layer: agent (reporting). Contract: the JSON document `edge-overlay status
// --json` prints; buildStatus() makes it from values (pure), statusOf() reads
// those from a running agent's parts. Fields are only ever added.

import { formatCidr, formatIpv4, type Ipv4 } from '../../net/ipv4.js';
import type { PeerTable } from '../../peers/table.js';
import type { ClusterKey } from '../../wire/keyfile.js';
import type { DataplaneStatus } from '../../dataplane/reconcile.js';
import type { FilterReport } from '../../firewall/types.js';
import type { ChannelHealth, TransportHealth } from '../../discovery/transport.js';
import type { AgentConfig, InterfaceSource } from '../config.js';
import type { CountersSnapshot } from './counters.js';
import type { ForeignCluster } from '../trust/foreign.js';
import type { Parts } from '../compose.js';
import type { Clock } from '../../clock.js';
import type { Family } from '../../policy/family.js';
import { ownFacts } from '../facts.js';
import type { UnderlaySnapshot } from '../underlay/watcher.js';
import { Caps } from '../../wire/messages.js';
import { NO_FILTER } from '../../firewall/types.js';
import { VERSION } from '../../version.js';

export interface PeerReport {
  id: string;
  overlayIp: string;
  underlayIp: string;
  mac: string;
  state: 'alive' | 'stale';
  /** milliseconds since this peer was last heard from */
  lastSeenMs: number;
  lastSeenAt: string;
  claimedAt: string;
  pinned: boolean;
  /** its wall clock minus ours at its last announcement; null if not heard since start */
  clockSkewMs: number | null;
  /** its IPv6 link-local address (null: unknown, or a release before 0.2) */
  linkLocal: string | null;
  /** can carry VXLAN over link-local (null: a release before 0.2, which says nothing) */
  linkLocalCapable: boolean | null;
  /** heard straight over raw L2: yes, no, or pending (too new to tell) */
  l2: 'yes' | 'no' | 'pending';
}

/** What carries VXLAN, and why (policy/family.ts). */
export interface UnderlayReport {
  /** the family in use: ipv4 or link-local */
  family: Family;
  /** one line: why this family */
  why: string;
  /** the setting: auto, ipv4, ipv6-link-local */
  setting: string;
  /** IPv6 on the physical interface: on, off, dad-failed, unknown */
  ipv6: string;
  linkLocal: string | null;
  /** we announce that we and every host we know can use link-local */
  ready: boolean;
  /** the VXLAN device in place carries this family (null: none yet) */
  device: Family | null;
  lastChangeAt: string | null;
}

/** One discovery channel (udp: signed UDP broadcasts; raw: raw L2 frames). */
export interface ChannelReport {
  /** up: open and working; down: wanted but not working (`error` says why); off: not used on this host */
  state: 'up' | 'down' | 'off';
  error: string | null;
  /** ms since the last authenticated packet from another host on this channel; null: none since the agent started */
  lastPeerPacketMs: number | null;
  /** packets received on this channel (any, before authentication) */
  received: number;
  sendErrors: number;
}

export interface StatusReport {
  node: {
    id: string;
    overlayIp: string | null;
    underlayIp: string | null;
    interface: string;
    /**
     * config; state (chosen at an earlier start, kept); default-route, default-route6, only-nic (chosen at this
     * start)
     */
    interfaceSource: InterfaceSource;
    bridge: string;
    vxlan: string;
    mac: string;
    mtu: number | null;
    /** waiting (no underlay address yet), probing, established, exhausted, failed */
    addressState: string;
    pinned: boolean;
    claimedAt: string | null;
    /** the cluster VIP is on this host's bridge (kube-vip leader) */
    holdsVip: boolean;
    /** the physical interface is up with carrier */
    carrier: boolean;
  };
  cluster: { name: string; cidr: string; vip: string; vni: number; vxlanPort: number; discoveryPort: number };
  underlay: UnderlayReport;
  peers: PeerReport[];
  discovery: { udp: ChannelReport; raw: ChannelReport };
  dataplane: {
    ready: boolean;
    lastReconcileAt: string | null;
    lastReconcileMs: number | null;
    /** when the dataplane last became ready (null: not ready) */
    readySince: string | null;
    /** when a reconcile last changed anything in the kernel */
    lastChangeAt: string | null;
    fdbEntries: number;
    neighEntries: number;
    lastError: string | null;
  };
  filter: FilterReport;
  security: {
    /** labels and fingerprints of the keyring, signing key first (never the keys) */
    keys: { label: string; fingerprint: string }[];
    /** claims on our address that were not confirmed when challenged */
    unconfirmedClaims: number;
    foreignClusters: ForeignCluster[];
    forgotten: { id: string; at: string }[];
  };
  counters: CountersSnapshot;
  agent: { pid: number; version: string; startedAt: string; stateFile: string; persistError: string | null };
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

function channel(h: ChannelHealth, lastPeerAt: number | null, now: number): ChannelReport {
  return {
    state: h.state, error: h.error,
    lastPeerPacketMs: lastPeerAt === null ? null : Math.max(0, Math.round(now - lastPeerAt)),
    received: h.received, sendErrors: h.sendErrors,
  };
}

export interface StatusInput {
  config: AgentConfig;
  nodeId: string;
  mac: string;
  overlayIp: Ipv4 | undefined;
  underlayIp: Ipv4 | undefined;
  carrier: boolean;
  addressState: string;
  pinned: boolean;
  claimedAt: number | undefined;
  vip: Ipv4;
  underlay: Omit<UnderlayReport, 'device'>;
  peers: PeerTable;
  discovery: TransportHealth;
  /** wall-clock ms of the last authenticated packet from another host, per channel */
  lastPeerAt: { udp: number | null; raw: number | null };
  dataplane: DataplaneStatus;
  filter: FilterReport;
  keys: readonly ClusterKey[];
  unconfirmedClaims: number;
  foreign: ForeignCluster[];
  forgotten: { id: string; at: number }[];
  counters: CountersSnapshot;
  nowWall: number;
  nowMono: number;
  agent: { pid: number; version: string; startedAt: number; stateFile: string; persistError: string | undefined };
}

export function buildStatus(i: StatusInput): StatusReport {
  const c = i.config;
  const dp = i.dataplane;
  const l2 = new Map(i.peers.facts(i.nowMono).map((f) => [f.id, f.l2]));
  return {
    node: {
      id: i.nodeId, overlayIp: i.overlayIp === undefined ? null : formatIpv4(i.overlayIp),
      underlayIp: i.underlayIp === undefined ? null : formatIpv4(i.underlayIp),
      interface: c.interface, interfaceSource: c.interfaceSource ?? 'config', bridge: c.bridge, vxlan: c.vxlanDevice,
      mac: i.mac, mtu: dp.mtu ?? null, addressState: i.addressState, pinned: i.pinned, claimedAt: iso(i.claimedAt),
      holdsVip: dp.holdsVip, carrier: i.carrier,
    },
    cluster: {
      name: c.cluster, cidr: formatCidr(c.cidr), vip: formatIpv4(i.vip), vni: c.vni, vxlanPort: c.vxlanPort,
      discoveryPort: c.discoveryPort,
    },
    underlay: { ...i.underlay, device: dp.family ?? null },
    peers: i.peers.all().map((p) => ({
      id: p.id, overlayIp: formatIpv4(p.overlayIp), underlayIp: formatIpv4(p.underlayIp), mac: p.mac,
      state: i.peers.state(p, i.nowMono),
      lastSeenMs: Math.max(0,
        Math.round(p.lastSeenMono !== undefined ? i.nowMono - p.lastSeenMono : i.nowWall - p.lastSeenAt)),
      lastSeenAt: new Date(p.lastSeenAt).toISOString(), claimedAt: new Date(p.claimedAt).toISOString(),
      pinned: p.pinned, clockSkewMs: p.clockSkewMs === undefined ? null : Math.round(p.clockSkewMs),
      linkLocal: p.linkLocal ?? null, linkLocalCapable: p.caps === undefined ? null : (p.caps & Caps.linkLocal) !== 0,
      l2: l2.get(p.id) ?? 'no',
    })),
    discovery: {
      udp: channel(i.discovery.udp, i.lastPeerAt.udp, i.nowWall),
      raw: channel(i.discovery.raw, i.lastPeerAt.raw, i.nowWall),
    },
    dataplane: {
      ready: dp.ready, lastReconcileAt: iso(dp.lastAt),
      lastReconcileMs: dp.lastMs === undefined ? null : Math.round(dp.lastMs * 10) / 10,
      readySince: iso(dp.readySince), lastChangeAt: iso(dp.lastChangeAt),
      fdbEntries: dp.fdbEntries, neighEntries: dp.neighEntries, lastError: dp.lastError ?? null,
    },
    filter: i.filter,
    security: {
      keys: i.keys.map((k) => ({ label: k.label, fingerprint: k.fingerprint })),
      unconfirmedClaims: i.unconfirmedClaims,
      foreignClusters: i.foreign,
      forgotten: i.forgotten.map((t) => ({ id: t.id, at: new Date(t.at).toISOString() })),
    },
    counters: i.counters,
    agent: {
      pid: i.agent.pid, version: i.agent.version, startedAt: new Date(i.agent.startedAt).toISOString(),
      stateFile: i.agent.stateFile, persistError: i.agent.persistError ?? null,
    },
  };
}

/** The status of a running agent, read from its parts. */
export function statusOf(
  config: AgentConfig, p: Parts,
  env: {
    clock: Clock; filter: FilterReport | undefined; discovery: TransportHealth; startedAt: number; pid: number;
    /** the physical interface as last read */
    lan: UnderlaySnapshot;
  },
): StatusReport {
  const a = p.addressing;
  const own = ownFacts(config, env.lan, p.seeds.list.length);
  const choice = p.choice.current;
  return buildStatus({
    config, nodeId: p.identity.nodeId, mac: p.identity.mac, overlayIp: a.ip, underlayIp: env.lan.ip,
    carrier: env.lan.carrier, addressState: a.phase.kind, pinned: a.isPinned, claimedAt: a.claimedAt, vip: p.vip,
    peers: p.membership.peers,
    underlay: {
      family: choice.family, why: choice.reason, setting: config.underlay, ipv6: own.ipv6,
      linkLocal: own.linkLocal ?? null, ready: p.choice.isReady, lastChangeAt: iso(p.choice.changedAt),
    },
    discovery: env.discovery, lastPeerAt: p.inbound.lastPeerAt, dataplane: p.loop.status,
    filter: env.filter ?? NO_FILTER, keys: p.sender.keys, unconfirmedClaims: a.unconfirmed + p.admission.unconfirmed,
    foreign: p.foreign.list(), forgotten: p.membership.tombstones.list(), counters: p.counters.snapshot(),
    nowWall: env.clock.now(), nowMono: env.clock.monotonic(),
    agent: {
      pid: env.pid, version: VERSION, startedAt: env.startedAt, stateFile: p.state.path,
      persistError: p.state.persistError,
    },
  });
}
