// Lab (types). Contract: what the lab knows about a host, how a lab is
// built, and LabBase — the part of a lab its modules (dhcp.ts, physical.ts,
// probes.ts, pods.ts, agents.ts, serve.ts, etcd.ts) and a DHCP hook use;
// Lab (lab.ts) implements it, so they never import lab.ts. Shared by the
// lab's modules, the demo, the tests and the benchmarks; imports no module
// of the lab.

import type { ChildProcess } from 'node:child_process';
import type { StatusReport } from '../../src/agent/records/status.js';

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
  dhcpHook?: (h: Host, lab: LabBase) => string;
  /** prefix length of each segment (default 24; 16 leaves room for hundreds of fake peers) */
  prefixLen?: 16 | 24;
}

/** The lab as its modules see it: its names, its primitives, and the few verbs they call back. */
export interface LabBase {
  /** prefix of everything the lab makes (namespaces, devices, tables) */
  readonly prefix: string;
  /** the lab's directory (logs, host dirs, the records cleanup.sh reads) */
  readonly dir: string;
  /** the switch namespace (bridges, DHCP server, router between segments) */
  readonly sw: string;
  readonly hosts: Host[];
  /** "10.X.0" prefix of a segment's /24 */
  net(segment?: number): string;
  segmentOf(h: Host): number;
  /** Creates a namespace the lab owns (lo up); destroy() deletes it. */
  addNamespace(ns: string): void;
  /** Starts `cmd` in namespace `ns`, output appended to `logFile`; the lab ends it in destroy(). */
  spawnIn(ns: string, cmd: string[], logFile: string, env?: NodeJS.ProcessEnv): ChildProcess;
  /** The live processes the lab started in namespace `ns`. */
  processesIn(ns: string): ChildProcess[];
  /** Runs `cmd` in a host's (or a pod's) namespace; its stdout. */
  exec(h: Pick<Host, 'ns'>, cmd: string[], allowFail?: boolean, input?: string): string;
  runDir(h: Host): string;
  startAgent(h: Host, extra?: string[], env?: NodeJS.ProcessEnv): ChildProcess;
  tryStatus(h: Host): Promise<StatusReport | undefined>;
  /** Starts the host's DHCP client; unless `wait: false`, waits for its reserved address. */
  startDhcp(h: Host, opts?: { wait?: boolean }): Promise<void>;
  /** Ends the host's DHCP client and waits for it. */
  stopDhcp(h: Host, signal?: NodeJS.Signals): Promise<void>;
  /** Reserves a new address for each of `hs` (sets h.ip); clients get it when they next ask. */
  moveReservations(hs: Host[]): Promise<void>;
}
