// Layer: agent (reporting). Contract: the JSON document `edge-overlay status
// --json` prints; buildStatus() makes it from values (pure), statusOf() reads
// those from a running agent's parts. Fields are only ever added.

import { formatCidr, formatIpv4, type Ipv4 } from '../net/ipv4.js';
import type { PeerTable } from '../peers/table.js';
import type { ClusterKey } from '../wire/keyfile.js';
import type { DataplaneStatus } from '../dataplane/reconcile.js';
import type { FilterReport } from '../firewall/types.js';
import type { AgentConfig } from './config.js';
import type { CountersSnapshot } from './counters.js';
import type { ForeignCluster } from './foreign.js';
import type { Parts } from './compose.js';
import type { Clock } from '../clock.js';
import { NO_FILTER } from '../firewall/types.js';
import { VERSION } from '../version.js';

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
}

export interface StatusReport {
  node: {
    id: string;
    overlayIp: string | null;
    underlayIp: string | null;
    interface: string;
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
  };
  cluster: { name: string; cidr: string; vip: string; vni: number; vxlanPort: number; discoveryPort: number };
  peers: PeerReport[];
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

export interface StatusInput {
  config: AgentConfig;
  nodeId: string;
  mac: string;
  overlayIp: Ipv4 | undefined;
  underlayIp: Ipv4 | undefined;
  addressState: string;
  pinned: boolean;
  claimedAt: number | undefined;
  vip: Ipv4;
  peers: PeerTable;
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
  return {
    node: {
      id: i.nodeId, overlayIp: i.overlayIp === undefined ? null : formatIpv4(i.overlayIp),
      underlayIp: i.underlayIp === undefined ? null : formatIpv4(i.underlayIp),
      interface: c.interface, bridge: c.bridge, vxlan: c.vxlanDevice, mac: i.mac, mtu: dp.mtu ?? null,
      addressState: i.addressState, pinned: i.pinned, claimedAt: iso(i.claimedAt), holdsVip: dp.holdsVip,
    },
    cluster: { name: c.cluster, cidr: formatCidr(c.cidr), vip: formatIpv4(i.vip), vni: c.vni, vxlanPort: c.vxlanPort, discoveryPort: c.discoveryPort },
    peers: i.peers.all().map((p) => ({
      id: p.id, overlayIp: formatIpv4(p.overlayIp), underlayIp: formatIpv4(p.underlayIp), mac: p.mac,
      state: i.peers.state(p, i.nowMono),
      lastSeenMs: Math.max(0, Math.round(p.lastSeenMono !== undefined ? i.nowMono - p.lastSeenMono : i.nowWall - p.lastSeenAt)),
      lastSeenAt: new Date(p.lastSeenAt).toISOString(), claimedAt: new Date(p.claimedAt).toISOString(), pinned: p.pinned,
      clockSkewMs: p.clockSkewMs === undefined ? null : Math.round(p.clockSkewMs),
    })),
    dataplane: {
      ready: dp.ready, lastReconcileAt: iso(dp.lastAt), lastReconcileMs: dp.lastMs === undefined ? null : Math.round(dp.lastMs * 10) / 10,
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
      pid: i.agent.pid, version: i.agent.version, startedAt: new Date(i.agent.startedAt).toISOString(), stateFile: i.agent.stateFile,
      persistError: i.agent.persistError ?? null,
    },
  };
}

/** The status of a running agent, read from its parts. */
export function statusOf(
  config: AgentConfig, p: Parts, env: { clock: Clock; filter: FilterReport | undefined; startedAt: number; pid: number },
): StatusReport {
  const a = p.addressing;
  return buildStatus({
    config, nodeId: p.identity.nodeId, mac: p.identity.mac, overlayIp: a.ip, underlayIp: p.underlay.ip, addressState: a.phase.kind,
    pinned: a.isPinned, claimedAt: a.claimedAt, vip: p.vip, peers: p.membership.peers, dataplane: p.loop.status,
    filter: env.filter ?? NO_FILTER, keys: p.sender.keys, unconfirmedClaims: a.unconfirmed, foreign: p.foreign.list(),
    forgotten: p.membership.tombstones.list(), counters: p.counters.snapshot(), nowWall: env.clock.now(), nowMono: env.clock.monotonic(),
    agent: { pid: env.pid, version: VERSION, startedAt: env.startedAt, stateFile: p.state.path, persistError: p.state.persistError },
  });
}
