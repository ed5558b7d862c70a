// Unit: the status document built from values (agent/records/status.ts buildStatus): peers, dataplane, channels, nulls.
import { describe, expect, it } from 'vitest';
import { buildStatus, type StatusInput } from '../../../src/agent/records/status.js';
import { Counters } from '../../../src/agent/records/counters.js';
import { DEFAULT_TIMINGS } from '../../../src/agent/config.js';
import { INITIAL_STATUS } from '../../../src/dataplane/reconcile.js';
import type { ChannelHealth } from '../../../src/discovery/transport.js';
import { NO_FILTER } from '../../../src/firewall/types.js';
import { parseIpv4, type Ipv4 } from '../../../src/net/ipv4.js';
import { parseIpv6, type Ipv6 } from '../../../src/net/ipv6.js';
import { PeerTable } from '../../../src/peers/table.js';
import { parseKeyText } from '../../../src/wire/keyfile.js';
import { Caps, type AnnounceMsg } from '../../../src/wire/messages.js';
import { agentConfig, announceMsg } from '../../fakes/agent.js';

const ip = (s: string): Ipv4 => parseIpv4(s)!;
const WALL = Date.UTC(2026, 0, 1, 12);
const MONO = 100_000;
const STALE_MS = DEFAULT_TIMINGS.staleAfterMs;
const B = 'b'.repeat(32);
const C = 'c'.repeat(32);
const D = 'd'.repeat(32);
const STATE_FILE = '/var/lib/edge-overlay/state.json';

const config = agentConfig();

const health = (over: Partial<ChannelHealth> = {}): ChannelHealth =>
  ({ state: 'up', error: null, lastReceivedAt: null, received: 0, sendErrors: 0, ...over });

const announce = (over: Partial<AnnounceMsg> & Pick<AnnounceMsg, 'nodeId' | 'overlayIp'>): AnnounceMsg => announceMsg({
  sentAt: WALL, underlayIp: ip('10.0.0.2'), mac: '02:00:00:00:00:02', claimedAt: WALL - 1000, heldMs: 0, ...over,
});

/** Nothing known yet: no address, no reconcile, no peer, no packet. */
function input(over: Partial<StatusInput> = {}): StatusInput {
  return {
    config, nodeId: 'a'.repeat(32), mac: '02:00:00:00:00:01', overlayIp: undefined, underlayIp: undefined,
    carrier: false, addressState: 'waiting', pinned: false, claimedAt: undefined, vip: ip('100.64.192.1'),
    underlay: {
      family: 'ipv4', why: 'the physical interface has not been read yet', setting: 'auto', ipv6: 'unknown',
      linkLocal: null, ready: false, lastChangeAt: null,
    },
    peers: new PeerTable(STALE_MS), discovery: { udp: health({ state: 'down', error: 'no address' }), raw: health() },
    lastPeerAt: { udp: null, raw: null }, dataplane: INITIAL_STATUS, filter: NO_FILTER, keys: [], unconfirmedClaims: 0,
    foreign: [], forgotten: [], counters: new Counters().snapshot(), nowWall: WALL, nowMono: MONO,
    agent: { pid: 42, version: '0.2.0', startedAt: WALL - 5000, stateFile: STATE_FILE, persistError: undefined },
    ...over,
  };
}

describe('buildStatus', () => {
  it('shows null for everything not known yet', () => {
    const s = buildStatus(input());
    expect(s.node).toEqual({
      id: 'a'.repeat(32), overlayIp: null, underlayIp: null, interface: 'eth0', interfaceSource: 'config',
      bridge: 'scbr-100', vxlan: 'scvx-100', mac: '02:00:00:00:00:01', mtu: null, addressState: 'waiting',
      pinned: false, claimedAt: null, holdsVip: false, carrier: false,
    });
    expect(s.cluster).toEqual({
      name: 'edge', cidr: '100.64.192.0/24', vip: '100.64.192.1', vni: 100, vxlanPort: 4789, discoveryPort: 9477,
    });
    expect(s.underlay.device).toBeNull();
    expect(s.peers).toEqual([]);
    expect(s.dataplane).toEqual({
      ready: false, lastReconcileAt: null, lastReconcileMs: null, readySince: null, lastChangeAt: null, fdbEntries: 0,
      neighEntries: 0, lastError: null,
    });
    expect(s.discovery.udp)
      .toEqual({ state: 'down', error: 'no address', lastPeerPacketMs: null, received: 0, sendErrors: 0 });
    expect(s.discovery.raw.lastPeerPacketMs).toBeNull();
    expect(s.agent).toEqual({
      pid: 42, version: '0.2.0', startedAt: new Date(WALL - 5000).toISOString(), stateFile: STATE_FILE,
      persistError: null,
    });
    expect(s.filter).toEqual(NO_FILTER);
    expect(s.security).toEqual({ keys: [], unconfirmedClaims: 0, foreignClusters: [], forgotten: [] });
    expect(JSON.parse(JSON.stringify(s))).toEqual(s); // plain JSON: nothing lost in `status --json`
  });

  it('shows this host as it is: addresses, interface source, claim time, persist error', () => {
    const s = buildStatus(input({
      config: { ...config, interfaceSource: 'default-route' }, overlayIp: ip('100.64.192.9'),
      underlayIp: ip('10.0.0.5'), carrier: true, addressState: 'established', pinned: true, claimedAt: WALL - 60_000,
      agent: { pid: 1, version: 'v', startedAt: WALL, stateFile: 'f', persistError: 'ENOSPC: write failed' },
    }));
    expect(s.node).toMatchObject({
      overlayIp: '100.64.192.9', underlayIp: '10.0.0.5', interfaceSource: 'default-route', carrier: true,
      addressState: 'established', pinned: true, claimedAt: new Date(WALL - 60_000).toISOString(),
    });
    expect(s.agent.persistError).toBe('ENOSPC: write failed');
  });

  it('shows every peer, sorted by overlay address, with its state, last-seen age, capabilities and L2 verdict', () => {
    const peers = new PeerTable(STALE_MS);
    const ll = parseIpv6('fe80::2') as Ipv6;
    // B: heard 1.5 s ago (monotonic), link-local capable, heard over raw L2, its clock 250.4 ms ahead
    peers.observe(announce({
      nodeId: B, overlayIp: ip('100.64.192.30'), linkLocal: ll, caps: Caps.linkLocal, pinned: true,
      sentAt: WALL - 1500 + 250.4,
    }), WALL - 1500, MONO - 1500);
    peers.markL2(B, MONO - 1500);
    // C: from the state file, not heard since start: stale, its age from the wall clock; a release without capabilities
    peers.load([{
      id: C, overlayIp: '100.64.192.10', underlayIp: '10.0.0.3', mac: '02:00:00:00:00:03', claimedAt: 5, lastSeq: 1,
      lastSeenAt: WALL - 90_000, l2: false,
    }]);
    // D: heard once, longer ago than staleAfterMs; no link-local capability; first heard too long ago for an L2 verdict
    const long = STALE_MS + 1;
    peers.observe(announce({ nodeId: D, overlayIp: ip('100.64.192.20'), caps: 0 }), WALL - long, MONO - long);
    const s = buildStatus(input({ peers }));
    expect(s.peers.map((p) => p.id)).toEqual([C, D, B]);
    const [c, d, b] = s.peers;
    expect(b).toEqual({
      id: B, overlayIp: '100.64.192.30', underlayIp: '10.0.0.2', mac: '02:00:00:00:00:02', state: 'alive',
      lastSeenMs: 1500, lastSeenAt: new Date(WALL - 1500).toISOString(), claimedAt: new Date(WALL - 1000).toISOString(),
      pinned: true, clockSkewMs: 250, linkLocal: 'fe80::2', linkLocalCapable: true, l2: 'yes',
    });
    expect(c).toMatchObject({
      state: 'stale', lastSeenMs: 90_000, clockSkewMs: null, linkLocal: null, linkLocalCapable: null, l2: 'no',
    });
    expect(d).toMatchObject({ state: 'stale', lastSeenMs: long, linkLocalCapable: false, l2: 'no', pinned: false });
  });

  it('marks a peer first heard within the L2 grace period as pending', () => {
    const peers = new PeerTable(STALE_MS);
    const b = announce({ nodeId: B, overlayIp: ip('100.64.192.30'), caps: Caps.linkLocal });
    peers.observe(b, WALL - 100, MONO - 100);
    expect(buildStatus(input({ peers })).peers[0]).toMatchObject({ state: 'alive', lastSeenMs: 100, l2: 'pending' });
  });

  it('shows the dataplane: times as ISO, the run time rounded to 0.1 ms, the VXLAN family, the VIP', () => {
    const dataplane = {
      ...INITIAL_STATUS, ready: true, mtu: 1450, family: 'link-local' as const, lastAt: WALL - 10, lastMs: 12.345,
      readySince: WALL - 20_000, lastChangeAt: WALL - 30_000, fdbEntries: 4, neighEntries: 2, holdsVip: true,
      lastError: '1 dataplane operation(s) failed',
    };
    const s = buildStatus(input({ dataplane }));
    expect(s.dataplane).toEqual({
      ready: true, lastReconcileAt: new Date(WALL - 10).toISOString(), lastReconcileMs: 12.3,
      readySince: new Date(WALL - 20_000).toISOString(), lastChangeAt: new Date(WALL - 30_000).toISOString(),
      fdbEntries: 4, neighEntries: 2, lastError: '1 dataplane operation(s) failed',
    });
    expect(s.node.mtu).toBe(1450);
    expect(s.node.holdsVip).toBe(true);
    expect(s.underlay.device).toBe('link-local');
  });

  it('shows each channel with the age of its last peer packet (never negative)', () => {
    const s = buildStatus(input({
      discovery: {
        udp: health({ received: 7, sendErrors: 2 }),
        raw: health({ state: 'off', error: 'raw L2 discovery is disabled' }),
      },
      lastPeerAt: { udp: WALL - 1234.6, raw: WALL + 50 },
    }));
    expect(s.discovery.udp).toEqual({ state: 'up', error: null, lastPeerPacketMs: 1235, received: 7, sendErrors: 2 });
    expect(s.discovery.raw).toEqual({
      state: 'off', error: 'raw L2 discovery is disabled', lastPeerPacketMs: 0, received: 0, sendErrors: 0,
    });
  });

  it('shows key labels and fingerprints, never the keys; tombstones with ISO times', () => {
    const keys = parseKeyText(`ops:${'11'.repeat(32)}\n${'22'.repeat(32)}`, '/etc/edge-overlay/cluster.key');
    const s = buildStatus(input({ keys, unconfirmedClaims: 3, forgotten: [{ id: C, at: WALL - 1 }] }));
    expect(s.security.keys).toEqual([
      { label: 'ops', fingerprint: keys[0]!.fingerprint },
      { label: keys[1]!.fingerprint, fingerprint: keys[1]!.fingerprint },
    ]);
    expect(JSON.stringify(s)).not.toContain('11'.repeat(32));
    expect(s.security.unconfirmedClaims).toBe(3);
    expect(s.security.forgotten).toEqual([{ id: C, at: new Date(WALL - 1).toISOString() }]);
  });

  it('passes the underlay report, the filter and the counters through', () => {
    const counters = new Counters();
    counters.conflicts = 2;
    const underlay = {
      family: 'link-local' as const, why: 'w', setting: 'auto', ipv6: 'on', linkLocal: 'fe80::1', ready: true,
      lastChangeAt: '2026-01-01T00:00:00.000Z',
    };
    const filter = { mode: 'filtered' as const, allowed: 3, droppedPackets: 9, error: null, guard: true };
    const s = buildStatus(input({ underlay, filter, counters: counters.snapshot() }));
    expect(s.underlay).toEqual({ ...underlay, device: null });
    expect(s.filter).toEqual(filter);
    expect(s.counters.conflicts).toBe(2);
  });
});
