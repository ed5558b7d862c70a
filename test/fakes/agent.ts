// Test fixtures (agent unit tests; sim.ts builds its hosts' config on them).
// Contract: our LAN as read (LAN, one shared value: never mutate it), an
// agent's configuration (agentConfig: cluster "edge" on 100.64.192.0/24,
// VNI 100, eth0, the default device names and ports) and a peer's
// announcement (announceMsg), the builders fresh on every call with the
// defaults their comments state; a test passes as overrides the peer's
// fields it asserts on. sentOf() picks the packets of one kind out of what a
// component emitted.

import type { Actions, Outgoing } from '../../src/agent/actions.js';
import { DEFAULT_TIMINGS, type AgentConfig } from '../../src/agent/config.js';
import { unreadUnderlay, type UnderlaySnapshot } from '../../src/agent/underlay/watcher.js';
import { parseIpv4, type Cidr } from '../../src/net/ipv4.js';
import type { AnnounceMsg } from '../../src/wire/codec.js';

const ip = (s: string): number => parseIpv4(s)!;
const cidr = (): Cidr => ({ network: ip('100.64.192.0'), prefix: 24 });

/** Our physical interface, read: index 2, 10.0.0.1/24 (the LAN is 10.0.0.0/24), MAC 52:54:00:00:00:01. */
export const LAN: UnderlaySnapshot = {
  ...unreadUnderlay(undefined), index: 2, mac: '52:54:00:00:00:01', ip: ip('10.0.0.1'), prefix: 24,
};

/** An agent's configuration: the defaults of config/ for eth0, state in /var/lib/edge-overlay. */
export const agentConfig = (over: Partial<AgentConfig> = {}): AgentConfig => ({
  cluster: 'edge', interface: 'eth0', cidr: cidr(), vni: 100, vxlanPort: 4789, bridge: 'scbr-100',
  vxlanDevice: 'scvx-100', discoveryPort: 9477, stateDir: '/var/lib/edge-overlay', runDir: '/run/edge-overlay',
  seeds: [], underlay: 'auto', timings: DEFAULT_TIMINGS, ...over,
});

/** Peer 'a…a' announcing 100.64.192.50 from 10.0.0.7 (seq 1, sent at 0, claimed at 1, held 1 ms). */
export const announceMsg = (over: Partial<AnnounceMsg> = {}): AnnounceMsg => ({
  type: 'announce', cluster: 'edge', nodeId: 'a'.repeat(32), seq: 1, sentAt: 0, overlayIp: ip('100.64.192.50'),
  underlayIp: ip('10.0.0.7'), mac: '02:00:00:00:00:07', claimedAt: 1, heldMs: 1, cidr: cidr(), vni: 100, ...over,
});

export type Sent<K extends Outgoing['kind']> = Extract<Outgoing, { kind: K }>;

/** The packets of `kind` among everything `emitted` asked to send, in order. */
export const sentOf = <K extends Outgoing['kind']>(emitted: readonly Actions[], kind: K): Sent<K>[] =>
  emitted.flatMap((a) => a.send ?? []).filter((o): o is Sent<K> => o.kind === kind);
