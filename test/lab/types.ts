// Lab (types). Contract: what the lab knows about a host and how a lab is
// built; shared by the lab's modules, the demo, the tests and the benchmarks.

import type { ChildProcess } from 'node:child_process';
import type { Lab } from './lab.js';

export interface Host {
  name: string;
  ns: string;
  mac: string;
  /** its switch port (the veth end in the switch namespace) */
  port: string;
  /** MTU of its eth0 and switch port */
  mtu: number;
  dir: string;
  /** the address DHCP reserves for it */
  ip: string | undefined;
  dhclient: ChildProcess | undefined;
  agent: ChildProcess | undefined;
  events: string;
  /** the agent build this host runs (another release's dist/src/main.js); undefined: AGENT_BIN */
  bin?: string;
}

export interface LabOptions {
  hosts: number;
  /** second octet of 10.X.0.0/24 used for the first LAN segment (segment k uses 10.X+k.0.0/24) */
  subnet?: number;
  /** number of L2 segments (bridges in the switch namespace, which routes between them) */
  segments?: number;
  /** segment of each host (index = host number - 1); default all on segment 0 */
  hostSegments?: number[];
  /** host numbers that get no DHCP client at creation (their NIC has no IPv4 address) */
  noDhcp?: number[];
  cluster?: string;
  /** extra agent flags */
  agentArgs?: string[];
  /** per host: a script the DHCP client runs as "HOOK OLD NEW" right after a new address is set */
  dhcpHook?: (h: Host, lab: Lab) => string;
  /** prefix length of each segment (default 24; 16 leaves room for hundreds of fake peers) */
  prefixLen?: 16 | 24;
}
