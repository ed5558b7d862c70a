// Lab: namespace hosts on one machine, shared by the demo, the integration
// tests and the benchmarks. Contract: create() builds a switch namespace
// (a Linux bridge = the physical LAN, dnsmasq = the building's DHCP server)
// and N host namespaces, each with eth0 on that LAN and a real DHCP client
// (dhclient). Everything it makes carries the lab's prefix; destroy() ends
// exactly the processes it started (by PID) and deletes exactly its
// namespaces and files. Traffic never leaves the namespaces it created.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { ask } from '../../src/control/client.js';
import type { StatusReport } from '../../src/agent/status.js';

const here = dirname(fileURLToPath(import.meta.url));
/** repository root, from scripts/lab (tests) or dist/scripts/lab (built) */
export const ROOT = existsSync(join(here, '../../package.json')) ? resolve(here, '../..') : resolve(here, '../../..');
export const AGENT_BIN = join(ROOT, 'dist', 'src', 'main.js');
const SCRIPT = join(ROOT, 'scripts', 'lab', 'dhclient-script.sh');
export const TCP_PROBE = join(ROOT, 'scripts', 'lab', 'tcp-probe.mjs');

export function sh(cmd: string, args: string[], opts: { input?: string; allowFail?: boolean } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', input: opts.input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    if (opts.allowFail) return '';
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** How to run the built agent: via its shebang, or under the profiler when EO_AGENT_CPU_PROF names a directory. */
function agentCommand(): string[] {
  const dir = process.env.EO_AGENT_CPU_PROF;
  if (!dir) return [AGENT_BIN];
  const v8flags = (readFileSync(AGENT_BIN, 'utf8').split('\n', 1)[0] ?? '').split(' ').filter((f) => f.startsWith('--'));
  return [process.execPath, '--cpu-prof', `--cpu-prof-dir=${dir}`, ...v8flags, AGENT_BIN];
}

/** Whether `bin` is on the PATH. */
export function have(bin: string): boolean {
  return sh('sh', ['-c', `command -v ${bin} || true`]).trim() !== '';
}

/** Why the lab cannot run here, or undefined if it can. */
export function labUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'integration tests need root (network namespaces); run as root';
  for (const bin of ['ip', 'dnsmasq', 'dhclient', 'ping', 'nft', 'tcpdump']) {
    if (!have(bin)) return `${bin} is not installed (the test command installs it with apt-get)`;
  }
  if (!existsSync(AGENT_BIN)) return `${AGENT_BIN} is missing; run npm run build`;
  return undefined;
}

export interface Host {
  name: string;
  ns: string;
  mac: string;
  dir: string;
  ip: string | undefined;
  dhclient: ChildProcess | undefined;
  agent: ChildProcess | undefined;
  events: string;
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

/** What a long-lived TCP probe saw (scripts/lab/tcp-probe.mjs). */
export interface TcpResult {
  /** bytes the client sent, got back, and the server received */
  sent: number;
  echoed: number;
  received: number;
  /** every echoed byte was the one sent at its offset */
  intact: boolean;
  maxGapMs: number;
  error: string | null;
  closed: boolean;
}

export class Lab {
  readonly prefix = `eo${randomBytes(2).toString('hex')}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'edge-overlay-lab-'));
  readonly sw = `${this.prefix}-sw`;
  readonly hosts: Host[] = [];
  readonly keyFile = join(this.dir, 'cluster.key');
  private readonly base: number;
  private dnsmasq: ChildProcess | undefined;
  private readonly procs = new Set<ChildProcess>();
  private nextIp = 150;
  private namespaces: string[] = [];

  constructor(private readonly opts: LabOptions) {
    this.base = opts.subnet ?? 77;
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

  private async build(): Promise<void> {
    writeFileSync(this.keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    sh('ip', ['netns', 'add', this.sw]);
    this.namespaces.push(this.sw);
    appendFileSync(join(this.dir, 'namespaces'), `${this.sw}\n`);
    this.ipns(this.sw, 'link', 'set', 'lo', 'up');
    const segments = this.opts.segments ?? 1;
    for (let k = 0; k < segments; k++) {
      this.ipns(this.sw, 'link', 'add', `br${k}`, 'type', 'bridge');
      this.ipns(this.sw, 'addr', 'add', `${this.net(k)}.1/${this.opts.prefixLen ?? 24}`, 'dev', `br${k}`);
      this.ipns(this.sw, 'link', 'set', `br${k}`, 'up');
    }
    // the switch namespace is also the router between segments (the default gateway DHCP hands out)
    if (segments > 1) sh('ip', ['netns', 'exec', this.sw, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    const hostsFile = join(this.dir, 'dhcp-hosts');
    writeFileSync(hostsFile, '');
    for (let i = 1; i <= this.opts.hosts; i++) this.addHostNs(i);
    this.writeReservations();
    if (this.opts.dhcpHook) for (const h of this.hosts) writeFileSync(join(h.dir, 'dhcp-hook'), this.opts.dhcpHook(h, this), { mode: 0o755 });
    this.startDnsmasq();
    await Promise.all(this.hosts.filter((h) => !(this.opts.noDhcp ?? []).includes(Number(h.name.slice(1)))).map((h) => this.startDhcp(h)));
  }

  private addHostNs(i: number): Host {
    const name = `h${i}`;
    const ns = `${this.prefix}-${name}`;
    const mac = `52:54:00:${randomBytes(1).toString('hex')}:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
    const dir = join(this.dir, name);
    mkdirSync(dir, { recursive: true });
    sh('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    appendFileSync(join(this.dir, 'namespaces'), `${ns}\n`);
    const port = `${this.prefix}h${i}`;
    const segment = this.opts.hostSegments?.[i - 1] ?? 0;
    sh('ip', ['link', 'add', port, 'netns', this.sw, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns, 'address', mac]);
    this.ipns(this.sw, 'link', 'set', port, 'master', `br${segment}`, 'up');
    this.ipns(ns, 'link', 'set', 'lo', 'up');
    this.ipns(ns, 'link', 'set', 'eth0', 'up');
    const host: Host = { name, ns, mac, dir, ip: `${this.net(segment)}.${100 + i}`, dhclient: undefined, agent: undefined, events: join(dir, 'dhcp-events') };
    const hook = this.opts.dhcpHook ? `EO_LAB_HOOK='${join(dir, 'dhcp-hook')}' ` : '';
    writeFileSync(join(dir, 'dhclient-script'), `#!/bin/sh\nEO_LAB_EVENTS='${host.events}' ${hook}exec '${SCRIPT}' "$@"\n`, { mode: 0o755 });
    writeFileSync(join(dir, 'dhclient.conf'), 'request subnet-mask, broadcast-address, routers;\ninitial-interval 1;\nbackoff-cutoff 2;\ntimeout 30;\nretry 1;\n');
    this.hosts.push(host);
    return host;
  }

  private writeReservations(): void {
    const lines = this.hosts.map((h) => `${h.mac},${h.ip}`).join('\n');
    writeFileSync(join(this.dir, 'dhcp-hosts'), `${lines}\n`);
  }

  /** Starts `cmd` in namespace `ns`, output appended to `logFile`; the lab ends it in destroy() (and records its PID for scripts/test.sh). */
  spawnIn(ns: string, cmd: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
    const out = openSync(logFile, 'a');
    const p = spawn('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['ignore', out, out], env });
    closeSync(out);
    // recorded so scripts/test.sh can clean up even if this process dies hard
    if (p.pid !== undefined) appendFileSync(join(this.dir, 'pids'), `${p.pid}\n`);
    this.procs.add(p);
    p.on('exit', () => this.procs.delete(p));
    return p;
  }

  private startDnsmasq(): void {
    const d = this.dir;
    const segments = this.opts.segments ?? 1;
    const perSegment: string[] = [];
    const mask = this.opts.prefixLen === 16 ? '255.255.0.0' : '255.255.255.0';
    for (let k = 0; k < segments; k++) perSegment.push(`--interface=br${k}`, `--dhcp-range=${this.net(k)}.100,${this.net(k)}.250,${mask},10m`);
    this.dnsmasq = this.spawnIn(this.sw, [
      'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', '--bind-interfaces', ...perSegment,
      `--dhcp-hostsfile=${d}/dhcp-hosts`,
      `--dhcp-leasefile=${d}/dnsmasq.leases`, '--dhcp-authoritative', '--no-ping', `--pid-file=${d}/dnsmasq.pid`,
      '--user=root', '--group=root', `--log-facility=${d}/dnsmasq.log`, '--log-dhcp',
    ], join(d, 'dnsmasq.out'));
  }

  /** Starts the host's DHCP client and waits for its reserved address. */
  async startDhcp(h: Host): Promise<void> {
    h.dhclient = this.spawnIn(h.ns, [
      'dhclient', '-d', '-4', '-cf', join(h.dir, 'dhclient.conf'), '-lf', join(h.dir, 'dhclient.leases'),
      '-pf', join(h.dir, 'dhclient.pid'), '-sf', join(h.dir, 'dhclient-script'), 'eth0',
    ], join(h.dir, 'dhclient.log'));
    const want = h.ip;
    await until(`${h.name} to get ${want} by DHCP`, () => this.addressOf(h) === want || undefined, 20_000, 20);
  }

  /** The IPv4 address currently on a host's eth0. */
  addressOf(h: Host): string | undefined {
    const out = this.ipns(h.ns, '-4', '-o', 'addr', 'show', 'dev', 'eth0');
    return /inet (\d+\.\d+\.\d+\.\d+)\//.exec(out)?.[1];
  }

  exec(h: Host, cmd: string[], allowFail = false, input?: string): string {
    return sh('ip', ['netns', 'exec', h.ns, ...cmd], { allowFail, ...(input === undefined ? {} : { input }) });
  }

  runDir(h: Host): string {
    return join(h.dir, 'run');
  }

  /** The command line of the host's agent (to run inside its namespace), as startAgent runs it. */
  agentArgv(h: Host, extra: string[] = [], runDir = this.runDir(h)): string[] {
    // through the shebang, as installed: it carries the agent's V8 flags
    // (EO_AGENT_CPU_PROF=DIR: the same flags plus a CPU profile per agent in DIR)
    return [
      ...agentCommand(), 'agent', '--interface', 'eth0', '--cluster', this.opts.cluster ?? 'lab',
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
    if (!p || p.exitCode !== null) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    await gone;
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
   * Waits until the agents of `hosts` (default: all) each have an address, a
   * ready dataplane, and every other one of them as an alive peer at its
   * current underlay address.
   */
  async converged(timeoutMs = 20_000, hosts: Host[] = this.hosts): Promise<StatusReport[]> {
    return until('the overlay to converge', async () => {
      const all = await Promise.all(hosts.map((h) => this.tryStatus(h)));
      if (all.some((s) => !s || !s.dataplane.ready || !s.node.overlayIp)) return undefined;
      const ok = all.every((s) => s!.peers.filter((p) => p.state === 'alive').length === hosts.length - 1
        && s!.peers.every((p) => hosts.some((h) => h.ip === p.underlayIp)));
      return ok ? (all as StatusReport[]) : undefined;
    }, timeoutMs, 50);
  }

  /** Runs a lab helper script (outsider.mjs, ...) in a host namespace; returns its last stdout line as JSON. */
  helper(h: Host, script: string, args: string[]): unknown {
    const out = this.exec(h, [process.execPath, join(ROOT, 'scripts', 'lab', script), ...args]);
    return JSON.parse(out.trim().split('\n').at(-1) ?? 'null');
  }

  /** Starts tcpdump on a host's interface; stop() returns the lines it printed. */
  async capture(h: Host, iface: string, filter: string): Promise<{ stop: () => Promise<string[]> }> {
    const log = join(h.dir, `tcpdump-${iface}-${randomBytes(2).toString('hex')}.log`);
    const p = this.spawnIn(h.ns, ['tcpdump', '-l', '-n', '-e', '-i', iface, filter], log);
    await until('tcpdump to listen', () => (existsSync(log) && readFileSync(log, 'utf8').includes('listening on')) || undefined, 5000, 20);
    return {
      stop: async () => {
        await sleep(200);
        const gone = new Promise<void>((r) => p.once('exit', () => r()));
        p.kill('SIGINT');
        await gone;
        return readFileSync(log, 'utf8').split('\n').filter((l) => /^\d\d:\d\d/.test(l));
      },
    };
  }

  ping(from: Host, to: string, count = 3, intervalS = 0.2): boolean {
    return this.exec(from, ['ping', '-c', String(count), '-i', String(intervalS), '-W', '1', '-q', to], true).includes(` ${count} received`);
  }

  /** Pings `to` from `from` every `intervalS`; `stop` returns each reply's wall-clock ms and icmp_seq (same order), and how many were sent. */
  pinger(from: Host, to: string, intervalS = 0.01): { stop: () => Promise<{ replies: number[]; seqs: number[]; sent: number }> } {
    const log = join(from.dir, `ping-${Date.now()}-${randomBytes(2).toString('hex')}.log`);
    const p = this.spawnIn(from.ns, ['ping', '-D', '-i', String(intervalS), '-W', '1', to], log);
    return {
      stop: async () => {
        const gone = new Promise<void>((r) => p.once('exit', () => r()));
        p.kill('SIGINT');
        await gone;
        const text = readFileSync(log, 'utf8');
        const lines = [...text.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from .*?icmp_seq=(\d+)/gm)];
        const replies = lines.map((m) => Number(m[1]) * 1000);
        const seqs = lines.map((m) => Number(m[2]));
        const sent = Number(/(\d+) packets transmitted/.exec(text)?.[1] ?? 0);
        return { replies, seqs, sent };
      },
    };
  }

  /** Starts a TCP echo server in `server` and a client in `client` talking over the overlay. */
  async tcp(client: Host, server: Host, serverIp: string, port = 7700): Promise<{ stop: () => Promise<TcpResult> }> {
    const srvOut = join(server.dir, `tcp-server-${Date.now()}.log`);
    const printed = (f: string, what: string) => () => (existsSync(f) && readFileSync(f, 'utf8').includes(what)) || undefined;
    const srv = this.spawnIn(server.ns, [process.execPath, TCP_PROBE, 'server', String(port)], srvOut);
    await until('the TCP probe server to listen', printed(srvOut, '"listening"'), 5000);
    const out = join(client.dir, `tcp-client-${Date.now()}.log`);
    const cli = this.spawnIn(client.ns, [process.execPath, TCP_PROBE, 'client', serverIp, String(port), '20'], out);
    await until('the TCP probe client to connect', printed(out, '"connected"'), 5000);
    const lastLine = (f: string): Record<string, unknown> => JSON.parse(readFileSync(f, 'utf8').trim().split('\n').at(-1) || '{}') as Record<string, unknown>;
    return {
      stop: async () => {
        // the client stops sending and drains its echoes before it reports
        const gone = new Promise<void>((r) => cli.once('exit', () => r()));
        cli.kill('SIGTERM');
        await gone;
        const srvGone = new Promise<void>((r) => srv.once('exit', () => r()));
        srv.kill('SIGTERM');
        await srvGone;
        return { ...(lastLine(out) as Omit<TcpResult, 'received'>), received: Number(lastLine(srvOut).received ?? NaN) };
      },
    };
  }

  /**
   * Renumbers hosts through DHCP, as after a power cut: the DHCP server now
   * reserves a different address for each host's MAC, and each host's DHCP
   * client restarts (its REQUEST for the old lease is NAKed, it DISCOVERs).
   * Resolves with each host's new address and when it appeared (ms epoch).
   */
  async renumber(hs: Host[]): Promise<{ host: Host; old: string | undefined; ip: string; boundAt: number }[]> {
    const olds = hs.map((h) => h.ip);
    for (const h of hs) h.ip = `${this.net(this.segmentOf(h))}.${this.nextIp++}`;
    this.writeReservations();
    const logBefore = readFileSync(join(this.dir, 'dnsmasq.log'), 'utf8').split('\n').length;
    this.dnsmasq!.kill('SIGHUP');
    await until('dnsmasq to reread its host reservations', () => {
      const lines = readFileSync(join(this.dir, 'dnsmasq.log'), 'utf8').split('\n').slice(logBefore - 1);
      return lines.some((l) => l.includes('dhcp-hosts')) || undefined;
    }, 5000, 10);
    await Promise.all(hs.map((h) => this.stopDhcp(h)));
    await Promise.all(hs.map((h) => this.startDhcp(h)));
    // the script appends its event right after `ip addr add`: the address can be seen a moment before it
    const bound = await Promise.all(hs.map((h) => until(`${h.name}'s DHCP script to log ${h.ip}`, () => this.boundAt(h, h.ip!), 2000, 5)));
    return hs.map((h, i) => ({ host: h, old: olds[i], ip: h.ip!, boundAt: bound[i]! }));
  }

  /** Ends the host's DHCP client (SIGTERM releases the lease; SIGKILL is a power cut) and waits for it. */
  async stopDhcp(h: Host, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = h.dhclient;
    h.dhclient = undefined;
    if (p && p.exitCode === null) {
      const gone = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill(signal);
      await gone;
    }
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

  /** When the DHCP script last put `ip` on the host's eth0 (ms since epoch). */
  boundAt(h: Host, ip: string): number | undefined {
    const lines = existsSync(h.events) ? readFileSync(h.events, 'utf8').trim().split('\n') : [];
    const line = lines.reverse().find((l) => l.endsWith(` bound ${ip}`));
    return line === undefined ? undefined : Number(BigInt(line.split(' ')[0]!) / 1000n) / 1000;
  }

  /** Gives a host a static address instead of DHCP (stops its DHCP client). */
  async setStatic(h: Host, cidr: string, gateway?: string): Promise<void> {
    await this.stopDhcp(h);
    this.ipns(h.ns, '-4', 'addr', 'flush', 'dev', 'eth0');
    this.ipns(h.ns, 'addr', 'add', cidr, 'dev', 'eth0');
    if (gateway) this.ipns(h.ns, 'route', 'replace', 'default', 'via', gateway);
    h.ip = cidr.split('/')[0];
  }

  note(text: string): void {
    appendFileSync(join(this.dir, 'notes'), `${new Date().toISOString()} ${text}\n`);
  }

  async destroy(): Promise<void> {
    for (const h of this.hosts) await this.stopAgent(h).catch(() => {});
    const live = [...this.procs];
    for (const p of live) if (p.exitCode === null) p.kill('SIGTERM');
    await Promise.race([Promise.all(live.map((p) => (p.exitCode !== null ? undefined : new Promise((r) => p.once('exit', r))))), sleep(3000)]);
    for (const p of live) if (p.exitCode === null) p.kill('SIGKILL');
    for (const ns of this.namespaces.reverse()) sh('ip', ['netns', 'del', ns], { allowFail: true });
    this.namespaces = [];
    if (!process.env.EO_LAB_KEEP) rmSync(this.dir, { recursive: true, force: true });
  }
}
