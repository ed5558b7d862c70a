// Test fixture: a complete StatusReport (this host established at
// 100.64.192.9 in cluster "edge", dataplane ready, no peers), fresh on every
// call. Each section can be overridden field by field; peers are replaced.

import type { ChannelReport, PeerReport, StatusReport } from '../../src/agent/records/status.js';
import { Counters } from '../../src/agent/records/counters.js';

export interface StatusOverrides {
  node?: Partial<StatusReport['node']>;
  underlay?: Partial<StatusReport['underlay']>;
  peers?: PeerReport[];
  dataplane?: Partial<StatusReport['dataplane']>;
  filter?: Partial<StatusReport['filter']>;
  discovery?: { udp?: Partial<ChannelReport>; raw?: Partial<ChannelReport> };
  agent?: Partial<StatusReport['agent']>;
}

export function statusReport(over: StatusOverrides = {}): StatusReport {
  return {
    node: { id: 'a'.repeat(32), overlayIp: '100.64.192.9', underlayIp: '10.0.0.2', interface: 'eth0',
      interfaceSource: 'config', bridge: 'scbr-100', vxlan: 'scvx-100', mac: '02:00:00:00:00:01', mtu: 1450,
      addressState: 'established', pinned: false, claimedAt: null, holdsVip: false, carrier: true, ...over.node },
    cluster: { name: 'edge', cidr: '100.64.192.0/24', vip: '100.64.192.1', vni: 100, vxlanPort: 4789,
      discoveryPort: 9477 },
    underlay: {
      family: 'ipv4', why: 'underlay: ipv4 is configured', setting: 'ipv4', ipv6: 'on', linkLocal: 'fe80::1',
      ready: false, device: 'ipv4', lastChangeAt: null, ...over.underlay,
    },
    peers: over.peers ?? [],
    discovery: {
      udp: { state: 'up', error: null, lastPeerPacketMs: 900, received: 10, sendErrors: 0, ...over.discovery?.udp },
      raw: { state: 'up', error: null, lastPeerPacketMs: 900, received: 10, sendErrors: 0, ...over.discovery?.raw },
    },
    dataplane: { ready: true, lastReconcileAt: '2026-01-01T00:00:00.000Z', lastReconcileMs: 1,
      readySince: '2026-01-01T00:00:00.000Z', lastChangeAt: '2026-01-01T00:00:00.000Z', fdbEntries: 2, neighEntries: 1,
      lastError: null, ...over.dataplane },
    filter: { mode: 'filtered', allowed: 1, droppedPackets: 3, error: null, guard: true, ...over.filter },
    security: { keys: [], unconfirmedClaims: 0, foreignClusters: [], forgotten: [] },
    counters: new Counters().snapshot(),
    agent: { pid: 1, version: '0', startedAt: '', stateFile: '', persistError: null, ...over.agent },
  };
}

/** One peer's row; give at least what differs from the defaults. */
export function peerReport(
  over: Partial<PeerReport> & Pick<PeerReport, 'id' | 'overlayIp' | 'underlayIp' | 'state'>,
): PeerReport {
  const { id, overlayIp, underlayIp, state, ...rest } = over;
  return {
    id, overlayIp, underlayIp, mac: '02:00:00:00:00:02', state, lastSeenMs: 5, lastSeenAt: '', claimedAt: '',
    pinned: false, clockSkewMs: 0,
    linkLocal: null, linkLocalCapable: true, l2: 'yes', ...rest,
  };
}
