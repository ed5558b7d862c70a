// Lab: namespace hosts on one machine, shared by the demo, the integration
// tests and the benchmarks. Contract: create() builds a switch namespace
// (a Linux bridge = the physical LAN, dnsmasq = the building's DHCP server)
// and N host namespaces, each with eth0 on that LAN and a real DHCP client
// (dhclient). Everything it makes carries the lab's prefix; destroy() ends
// exactly the processes it started (by PID) and deletes exactly its
// namespaces and files. Traffic never leaves the namespaces it created. A
// large lab raises the kernel's neighbour-table thresholds, which all
// namespaces share, for its life (neigh.ts).
// The verbs below are the one API the demo, tests and benchmarks use; the
// work is in dhcp.ts (server and clients), physical.ts (links, NICs, MTU,
// firewall, power), probes.ts (ping, TCP, tcpdump), pods.ts (second
// interfaces) and agents.ts; etcd.ts adds an etcd cluster on the overlay.
// Those modules see the lab only as a LabBase (types.ts), which Lab
// implements: they import types.ts, shell.ts and (physical.ts) dhcp.ts, never
// this file, so the lab has no import cycle. The integration tests' shared
// fixtures (fixtures/) build on this API.

import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ask } from '../../src/control/client.js';
import type { StatusReport } from '../../src/agent/records/status.js';
import { ROOT, endProcess, sh, sleep } from './shell.js';
import * as dhcp from './dhcp.js';
import * as physical from './physical.js';
import * as probes from './probes.js';
import { addPod, type Pod } from './pods.js';
import { neighbourEntries, raiseNeighbourTables, restoreNeighbourTables } from './neigh.js';
import { AGENT_BIN, agentCommand, converged } from './agents.js';
import type { Host, LabBase, LabOptions } from './types.js';

export { ROOT, have, sh, sleep, until } from './shell.js';
export { TCP_PROBE, captureAnnouncement, rxPackets, type TcpResult } from './probes.js';
export { AGENT_BIN, labUnavailable } from './agents.js';
export { cpuTicks, cpuWindow, type CpuWindow } from './procstat.js';
export type { Host, LabBase, LabOptions } from './types.js';
export type { Pod } from './pods.js';

export class Lab implements LabBase {
  readonly prefix = `eo${randomBytes(2).toString('hex')}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'edge-overlay-lab-'));
  readonly sw = `${this.prefix}-sw`;
  readonly hosts: Host[] = [];
  readonly keyFile = join(this.dir, 'cluster.key');
  readonly dhcp: dhcp.DhcpServer;
  private readonly base: number;
  /** every live process the lab started, with its namespace */
  private readonly procs = new Map<ChildProcess, string>();
  private namespaces: string[] = [];
  private pods = 0;

  constructor(private readonly opts: LabOptions) {
    // which test run made it (scripts/test.sh cleans up only its own labs after a hard kill)
    if (process.env.EO_LAB_RUN) writeFileSync(join(this.dir, 'run'), `${process.env.EO_LAB_RUN}\n`);
    this.base = opts.subnet ?? 77;
    this.dhcp = new dhcp.DhcpServer(this, opts.segments ?? 1, opts.prefixLen ?? 24);
  }

  /** "10.X.0" prefix of a segment's /24 */
  net(segment = 0): string {
    return `10.${this.base + segment}.0`;
  }

  segmentOf(h: Host): number {
    return this.opts.hostSegments?.[Number(h.name.slice(1)) - 1] ?? 0;
  }

  static async create(opts: LabOptions): Promise<Lab> {
    const lab = new Lab(opts);
    try {
      await lab.build();
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  private ipns(ns: string, ...args: string[]): string {
    return sh('ip', ['-n', ns, ...args]);
  }

  /** Creates a namespace the lab owns (lo up); destroy() deletes it. */
  addNamespace(ns: string): void {
    sh('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    appendFileSync(join(this.dir, 'namespaces'), `${ns}\n`);
    this.ipns(ns, 'link', 'set', 'lo', 'up');
  }

  private async build(): Promise<void> {
    writeFileSync(this.keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    raiseNeighbourTables(this.dir, neighbourEntries(this.opts.hosts));
    this.addNamespace(this.sw);
    const segments = this.opts.segments ?? 1;
    for (let k = 0; k < segments; k++) {
      this.ipns(this.sw, 'link', 'add', `br${k}`, 'type', 'bridge');
      this.ipns(this.sw, 'addr', 'add', `${this.net(k)}.1/${this.opts.prefixLen ?? 24}`, 'dev', `br${k}`);
      this.ipns(this.sw, 'link', 'set', `br${k}`, 'up');
    }
    // the switch namespace is also the router between segments (the default gateway DHCP hands out)
    if (segments > 1) sh('ip', ['netns', 'exec', this.sw, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    for (let i = 1; i <= this.opts.hosts; i++) this.createHost(i);
    // hooks last: a hook may name every host
    if (this.opts.dhcpHook) {
      for (const h of this.hosts) writeFileSync(join(h.dir, 'dhcp-hook'), this.opts.dhcpHook(h, this), { mode: 0o755 });
    }
    this.dhcp.writeReservations();
    await this.dhcp.start();
    await Promise.all(this.hosts.filter((h) => !(this.opts.noDhcp ?? []).includes(Number(h.name.slice(1))))
      .map((h) => this.startDhcp(h)));
  }

  private createHost(i: number): Host {
    const name = `h${i}`;
    const ns = `${this.prefix}-${name}`;
    const mac = `52:54:00:${randomBytes(1).toString('hex')}:`
      + `${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
    const dir = join(this.dir, name);
    mkdirSync(dir, { recursive: true });
    this.addNamespace(ns);
    const segment = this.opts.hostSegments?.[i - 1] ?? 0;
    const host: Host = {
      name, ns, mac, port: `${this.prefix}h${i}`, mtu: 1500, dir, ip: `${this.net(segment)}.${100 + i}`,
      dhclient: undefined, agent: undefined, events: join(dir, 'dhcp-events'),
    };
    this.hosts.push(host);
    physical.plugNic(this, host);
    dhcp.writeClientFiles(host, this.opts.dhcpHook ? join(dir, 'dhcp-hook') : undefined);
    return host;
  }

  /**
   * A new host on the LAN after creation: next number, its own DHCP reservation,
   * DHCP started (and awaited unless `dhcp: false`); no agent.
   */
  async addHost(opts: { dhcp?: boolean } = {}): Promise<Host> {
    const h = this.createHost(this.hosts.length + 1);
    if (this.opts.dhcpHook) writeFileSync(join(h.dir, 'dhcp-hook'), this.opts.dhcpHook(h, this), { mode: 0o755 });
    await this.dhcp.reload();
    if (opts.dhcp !== false) await this.startDhcp(h);
    return h;
  }

  /**
   * Starts `cmd` in namespace `ns`, output appended to `logFile`; the lab ends
   * it in destroy() (and records its PID for scripts/test.sh).
   */
  spawnIn(ns: string, cmd: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
    const out = openSync(logFile, 'a');
    const p = spawn('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['ignore', out, out], env });
    closeSync(out);
    // recorded so scripts/test.sh can clean up even if this process dies hard
    if (p.pid !== undefined) appendFileSync(join(this.dir, 'pids'), `${p.pid}\n`);
    this.procs.set(p, ns);
    p.on('exit', () => this.procs.delete(p));
    return p;
  }

  /** The live processes the lab started in namespace `ns`. */
  processesIn(ns: string): ChildProcess[] {
    return [...this.procs].filter(([p, n]) => n === ns && p.exitCode === null && p.signalCode === null).map(([p]) => p);
  }

  // --- DHCP (dhcp.ts): the server can be down; h.ip is the address it reserves for h ---

  /** Starts the host's DHCP client; unless `wait: false`, waits for its reserved address. */
  startDhcp(h: Host, opts: { wait?: boolean } = {}): Promise<void> {
    return dhcp.startDhcp(this, h, opts.wait !== false);
  }
  /** Ends the host's DHCP client (SIGTERM releases the lease; SIGKILL is a power cut) and waits for it. */
  async stopDhcp(h: Host, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = h.dhclient;
    h.dhclient = undefined;
    await endProcess(p, signal);
  }
  /** Starts the DHCP server (dnsmasq) and waits until it has read its reservations. */
  startDhcpServer(): Promise<void> { return this.dhcp.start(); }
  /** Stops the DHCP server; clients keep their leases and keep asking. */
  stopDhcpServer(): Promise<void> { return this.dhcp.stop(); }
  /**
   * Reserves a new address for each of `hs` (sets h.ip); clients get it
   * when they next ask. Works with the server stopped.
   */
  moveReservations(hs: Host[]): Promise<void> { return this.dhcp.moveReservations(hs); }
  /** New reservations and restarted DHCP clients: each host's new address and when it appeared (ms epoch). */
  renumber(hs: Host[]): ReturnType<typeof dhcp.renumber> { return dhcp.renumber(this, hs); }
  /** When the DHCP script last put `ip` on the host's eth0 (ms since epoch). */
  boundAt(h: Host, ip: string): number | undefined { return dhcp.boundAt(h, ip); }
  /** Gives a host a static address instead of DHCP (stops its DHCP client). */
  setStatic(h: Host, cidr: string, gateway?: string): Promise<void> { return dhcp.setStatic(this, h, cidr, gateway); }
  /** The IPv4 address currently on a host's eth0. */
  addressOf(h: Host): string | undefined { return dhcp.addressOf(h); }

  // --- hardware (physical.ts) ---

  /** Cable pulled / put back: the host's eth0 loses / regains its link. */
  linkDown(h: Host): void { physical.linkDown(h); }
  setIpv6(h: Host, on: boolean): void { physical.setIpv6(h, on); }
  linkLocalOf(h: Host): string | undefined { return physical.linkLocalOf(h); }
  linkUp(h: Host): void { physical.linkUp(h); }
  /**
   * NIC re-plugged: eth0 deleted, back `awayMs` later with a new ifindex
   * (same name, MAC, port); DHCP client restarted, not awaited.
   */
  replug(h: Host, awayMs = 1000): Promise<void> { return physical.replug(this, h, awayMs); }
  /** MTU of each host's eth0 and switch port (and of the switch bridges). */
  setMtu(hs: Host[], mtu: number): void { physical.setMtu(this, hs, mtu); }
  /** UDP discovery to and from the host dropped (nftables in its namespace): only raw L2 carries news. */
  blockUdpDiscovery(h: Host, port?: number): void { physical.blockUdpDiscovery(this, h, port); }
  unblockUdpDiscovery(h: Host): void { physical.unblockUdpDiscovery(this, h); }
  /** UDP discovery packets the block has dropped on the host so far. */
  udpDiscoveryDropped(h: Host): number { return physical.udpDiscoveryDropped(this, h); }
  /** Power cut: every process the lab started in the host SIGKILLed, its kernel state gone, its disk kept. */
  powerOff(h: Host): Promise<void> { return physical.powerOff(this, h); }
  /** Boot: eth0 up, DHCP client started (not awaited), agent started. */
  boot(h: Host, agentArgs: string[] = []): void { physical.boot(this, h, agentArgs); }
  /** Taken away for good: powered off, NIC unplugged (veth deleted), state dir wiped. */
  decommission(h: Host): Promise<void> { return physical.decommission(this, h); }
  /** A second interface on `h`: a pod namespace behind a veth (10.199.N.0/24), routed through the host. */
  addPod(h: Host): Pod { return addPod(this, h, this.pods++); }

  // --- the agent ---

  /** Runs `cmd` in a host's (or a pod's) namespace; its stdout. */
  exec(h: Pick<Host, 'ns'>, cmd: string[], allowFail = false, input?: string): string {
    return sh('ip', ['netns', 'exec', h.ns, ...cmd], { allowFail, ...(input === undefined ? {} : { input }) });
  }

  runDir(h: Host): string {
    return join(h.dir, 'run');
  }

  /**
   * The command line of the host's agent (its build: h.bin, default
   * AGENT_BIN; to run inside its namespace), as startAgent runs it.
   */
  agentArgv(h: Host, extra: string[] = [], runDir = this.runDir(h)): string[] {
    // through the shebang, as installed: it carries the agent's V8 flags
    // (EO_AGENT_CPU_PROF=DIR: the same flags plus a CPU profile per agent in DIR)
    return [
      ...agentCommand(h.bin), 'agent', '--interface', 'eth0', '--cluster', this.opts.cluster ?? 'lab',
      '--cluster-key-file', this.keyFile, '--state-dir', join(h.dir, 'state'), '--run-dir', runDir,
      ...(this.opts.agentArgs ?? []), ...extra,
    ];
  }

  startAgent(h: Host, extra: string[] = [], env: NodeJS.ProcessEnv = {}): ChildProcess {
    h.agent = this.spawnIn(h.ns, this.agentArgv(h, extra), join(h.dir, 'agent.log'), { ...process.env, ...env });
    return h.agent;
  }

  async stopAgent(h: Host, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = h.agent;
    h.agent = undefined;
    await endProcess(p, signal);
  }

  async status(h: Host): Promise<StatusReport> {
    return (await ask(this.runDir(h), 'status', 2000)) as StatusReport;
  }

  async tryStatus(h: Host): Promise<StatusReport | undefined> {
    try {
      return await this.status(h);
    } catch {
      return undefined;
    }
  }

  /**
   * Waits until the agents of `hosts` (default: all) each have an address, a ready
   * dataplane and the others as alive peers at their current underlay addresses.
   */
  converged(timeoutMs = 20_000, hosts: Host[] = this.hosts): Promise<StatusReport[]> {
    return converged(this, timeoutMs, hosts);
  }

  /** Starts an agent on every host and waits for the overlay (see converged); the statuses in host order. */
  async startAll(timeoutMs?: number): Promise<StatusReport[]> {
    for (const h of this.hosts) this.startAgent(h);
    return this.converged(timeoutMs);
  }

  /** Back to a fresh host: stops its agent, removes its overlay devices (`edge-overlay down`) and deletes its state. */
  async resetHost(h: Host): Promise<void> {
    await this.stopAgent(h);
    this.exec(h, [process.execPath, AGENT_BIN, 'down', '--run-dir', this.runDir(h)], true);
    rmSync(join(h.dir, 'state'), { recursive: true, force: true });
  }

  // --- probes (probes.ts) ---

  /** Runs a lab helper script (outsider.mjs, ...) in a host namespace; returns its last stdout line as JSON. */
  helper(h: Pick<Host, 'ns'>, script: string, args: string[]): unknown {
    const out = this.exec(h, [process.execPath, join(ROOT, 'test', 'lab', script), ...args]);
    return JSON.parse(out.trim().split('\n').at(-1) ?? 'null');
  }

  /**
   * The same in the background (destroy() ends it): `started` once it printed a first
   * line, `done` with its last line as JSON; stop() ends it early (SIGTERM).
   */
  helperInBackground(h: Pick<Host, 'ns'>, script: string, args: string[]): ReturnType<typeof probes.background> {
    return probes.background(this, h.ns, [process.execPath, join(ROOT, 'test', 'lab', script), ...args]);
  }

  /** Starts tcpdump on a host's interface; stop() returns the lines it printed. */
  capture(h: Host, iface: string, filter: string): ReturnType<typeof probes.capture> {
    return probes.capture(this, h, iface, filter);
  }
  /** `count` pings; true if all were answered. `extra`: more ping flags (e.g. -M do -s SIZE). */
  ping(from: Host, to: string, count = 3, intervalS = 0.2, extra: string[] = []): boolean {
    return probes.ping(this, from, to, count, intervalS, extra);
  }
  /**
   * Pings `to` every `intervalS`; `stop` returns each reply's wall-clock
   * ms and icmp_seq (same order), and how many were sent.
   */
  pinger(from: Host, to: string, intervalS = 0.01): ReturnType<typeof probes.pinger> {
    return probes.pinger(this, from, to, intervalS);
  }
  /** Starts a TCP echo server in `server` and a client in `client` talking over the overlay. */
  tcp(client: Host, server: Host, serverIp: string, port = 7700): ReturnType<typeof probes.tcp> {
    return probes.tcp(this, client, server, serverIp, port);
  }

  note(text: string): void {
    appendFileSync(join(this.dir, 'notes'), `${new Date().toISOString()} ${text}\n`);
  }

  async destroy(): Promise<void> {
    for (const h of this.hosts) await this.stopAgent(h).catch(() => {});
    const live = [...this.procs.keys()];
    for (const p of live) if (p.exitCode === null) p.kill('SIGTERM');
    await Promise.race([Promise.all(
      live.map((p) => (p.exitCode !== null ? undefined : new Promise((r) => p.once('exit', r))))), sleep(3000)]);
    for (const p of live) if (p.exitCode === null) p.kill('SIGKILL');
    for (const ns of this.namespaces.reverse()) sh('ip', ['netns', 'del', ns], { allowFail: true });
    this.namespaces = [];
    restoreNeighbourTables(this.dir);
    if (!process.env.EO_LAB_KEEP) rmSync(this.dir, { recursive: true, force: true });
  }
}
