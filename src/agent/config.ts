// Layer: agent configuration (resolved values). Contract: what the agent
// runs with after flags, config file and defaults are merged and validated
// (src/config/). Timings are tuned for one LAN: sub-second reactions, a few
// small packets per second.

import type { Cidr, Ipv4 } from '../net/ipv4.js';
import type { Endpoint } from '../discovery/transport.js';
import type { UnderlaySetting } from '../policy/family.js';

export interface Timings {
  /** periodic announcement interval (jittered ±10%) */
  announceIntervalMs: number;
  /** a peer not heard from for this long is shown as stale (never removed) */
  staleAfterMs: number;
  /** full reconcile against a kernel dump, whatever the events said */
  resyncIntervalMs: number;
  /** random delay before the first probe, so hosts booting together spread out */
  probeWaitMs: number;
  probeCount: number;
  probeIntervalMs: number;
  /** quiet time after the last probe before the address is ours */
  announceWaitMs: number;
  /** repeats of an urgent announcement (address change), ms after the first */
  burstRepeatsMs: number[];
  /** delay before the peer table is written after a change (coalesced) */
  persistDelayMs: number;
  /** retry delay after a failed reconcile */
  retryMs: number;
}

export const DEFAULT_TIMINGS: Timings = {
  // Changes are announced at once (bursts); the period only proves liveness.
  // Every announcement costs each peer a wake-up for two copies (UDP, raw L2):
  // 5 s keeps an idle agent with 10 peers well under 0.2 % of a core.
  announceIntervalMs: 5000,
  staleAfterMs: 20000,
  resyncIntervalMs: 30000,
  probeWaitMs: 200,
  probeCount: 3,
  probeIntervalMs: 120,
  announceWaitMs: 250,
  burstRepeatsMs: [100, 400],
  persistDelayMs: 200,
  retryMs: 1000,
};

/** Where the interface came from (status JSON: node.interfaceSource; chosen by agent/underlay/iface.ts). */
export type InterfaceSource = 'config' | 'state' | 'default-route' | 'default-route6' | 'only-nic';

export interface AgentConfig {
  cluster: string;
  /** physical (underlay) interface */
  interface: string;
  /** where it came from (agent/underlay/iface.ts); absent: the configuration */
  interfaceSource?: InterfaceSource;
  cidr: Cidr;
  vni: number;
  vxlanPort: number;
  bridge: string;
  vxlanDevice: string;
  discoveryPort: number;
  stateDir: string;
  runDir: string;
  /** operator-pinned overlay address (--overlay-ip) */
  pinnedIp?: Ipv4 | undefined;
  /** unicast seeds (--peer HOST[:PORT]) for routed underlays; address may be a host name */
  seeds: Endpoint[];
  /** what carries VXLAN (policy/family.ts) */
  underlay: UnderlaySetting;
  timings: Timings;
}
