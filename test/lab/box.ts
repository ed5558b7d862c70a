// Lab (a booted systemd machine in a lab host). Contract: Box.boot() starts
// systemd-nspawn --boot on a cached Debian root file system (rootfs.ts),
// read-only under a tmpfs overlay (--volatile=overlay: nothing it does
// survives it), inside an existing network namespace (a lab host's), and
// waits until its systemd has finished booting (with wait: 'answering',
// only until its systemd answers, so the caller can watch slow boot jobs
// such as cloud-init's itself); a BoxError from boot() means the machine
// could not boot here, never that a unit in it failed. exec() runs a
// command in it (nsenter into PID 1's namespaces); destroy() powers it off,
// ends what is left by PID and removes what it made. Not registered with
// machined (--register=no --keep-unit): it needs no systemd or D-Bus on the
// host.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync,
  rmSync } from 'node:fs';
import { join } from 'node:path';
import { have, sleep, until } from './shell.js';
import { BoxError } from './rootfs.js';

export { BOX_PACKAGES, BoxError, ensureRootfs, rootfsDir } from './rootfs.js';

export interface BoxOptions {
  /** machine name (hostname inside; nspawn's lock and propagation directories) */
  name: string;
  rootfs: string;
  /** network namespace name (/run/netns/<netns>) the machine lives in */
  netns: string;
  /** directory for the console log; created */
  dir: string;
  /** host path -> path inside, mounted read-only */
  bindRo?: Record<string, string>;
  /** file the machine's PIDs are appended to (a lab's `pids`, so a hard-killed run is still cleaned up) */
  pidsFile?: string;
  bootTimeoutMs?: number;
  /**
   * 'running' (default): until the boot job queue is empty; 'answering':
   * until its systemd answers (boot jobs may still run)
   */
  wait?: 'running' | 'answering';
}

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Why a box cannot boot here, or undefined if it can. */
export function boxUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'booting a machine needs root';
  for (const [bin, pkg] of [['systemd-nspawn', 'systemd-container'], ['mmdebstrap', 'mmdebstrap'],
    ['nsenter', 'util-linux']]) {
    if (!have(bin!)) return `${bin} is not installed (Debian package ${pkg}; scripts/setup.sh installs it as root)`;
  }
  return undefined;
}

export class Box {
  /** PID of systemd-nspawn and of the machine's PID 1 (as seen from here) */
  private constructor(readonly opts: BoxOptions, readonly nspawn: ChildProcess, readonly leader: number,
    readonly bootMs: number) {}

  get console(): string {
    return readFileSync(join(this.opts.dir, 'console.log'), 'utf8');
  }

  static async boot(opts: BoxOptions): Promise<Box> {
    const t0 = Date.now();
    mkdirSync(opts.dir, { recursive: true });
    const log = join(opts.dir, 'console.log');
    const out = openSync(log, 'a');
    const args = [
      '--quiet', '--boot', `--directory=${opts.rootfs}`, '--volatile=overlay', `--machine=${opts.name}`,
      '--register=no', '--keep-unit', '--link-journal=no', '--resolv-conf=off', '--timezone=off',
      `--network-namespace-path=/run/netns/${opts.netns}`, '--capability=CAP_NET_ADMIN,CAP_NET_RAW',
      ...Object.entries(opts.bindRo ?? {}).map(([host, inside]) => `--bind-ro=${host}:${inside}`),
    ];
    const p = spawn('systemd-nspawn', args, { stdio: ['ignore', out, out] });
    closeSync(out);
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    if (p.pid !== undefined && opts.pidsFile) appendFileSync(opts.pidsFile, `${p.pid}\n`);
    let leader: number | undefined;
    try {
      leader = await until('the machine\'s PID 1', () => {
        if (p.exitCode !== null || p.signalCode !== null) {
          throw new BoxError('E_BOX_BOOT', `systemd-nspawn exited (${p.exitCode ?? p.signalCode}): ${tail(log)}`);
        }
        return leaderOf(p.pid!);
      }, 10_000, 20);
      if (opts.pidsFile) appendFileSync(opts.pidsFile, `${leader}\n`);
      const box = new Box(opts, p, leader, 0);
      // --wait: until the boot job queue is empty ("running" or "degraded");
      // before systemd has set up /run/systemd, systemctl says "offline" or cannot connect
      const deadline = Date.now() + (opts.bootTimeoutMs ?? 60_000);
      const state = await until('systemd in the machine to answer', async () => {
        const wait = opts.wait === 'answering' ? [] : ['--wait'];
        const r = await box.run(['systemctl', 'is-system-running', ...wait], Math.max(1000, deadline - Date.now()));
        const early = /Failed to connect to bus/.test(r.stderr) || /^(offline|unknown)$/.test(r.stdout.trim());
        return early && Date.now() < deadline ? undefined : r;
      }, opts.bootTimeoutMs ?? 60_000, 50);
      const s = state.stdout.trim();
      if (opts.wait === 'answering' && /^(initializing|starting|running|degraded)$/.test(s)) {
        return new Box(opts, p, leader, Date.now() - t0);
      }
      if (s !== 'running' && s !== 'degraded') {
        throw new BoxError('E_BOX_BOOT',
          `the machine did not boot: systemctl is-system-running says "${s || state.stderr.trim()}"; ${tail(log)}`);
      }
      return new Box(opts, p, leader, Date.now() - t0);
    } catch (err) {
      await stop(p, exited, leader, opts.name);
      throw err instanceof BoxError ? err
        : new BoxError('E_BOX_BOOT', `the machine did not boot: ${(err as Error).message}; ${tail(log)}`);
    }
  }

  /** Runs `cmd` in the machine (all of PID 1's namespaces); never throws on a failed command. */
  async run(cmd: string[], timeoutMs = 30_000, input?: string): Promise<Run> {
    return new Promise((resolve) => {
      const c = spawn('nsenter', [`--target=${this.leader}`, '--all', '--', ...cmd],
        { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      c.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      const timer = setTimeout(() => { c.kill('SIGKILL'); stderr += `\n(killed after ${timeoutMs} ms)`; }, timeoutMs);
      c.on('error', (err) => { stderr += String(err); });
      c.stdin.on('error', () => {}); // EPIPE: it ended before reading its input (its status says why)
      c.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
      c.stdin.end(input ?? '');
    });
  }

  /** Runs `cmd` in the machine; its stdout, or a BoxError with its stderr. */
  async exec(cmd: string[], timeoutMs?: number, input?: string): Promise<string> {
    const r = await this.run(cmd, timeoutMs, input);
    if (r.status !== 0) {
      throw new BoxError('E_BOX_EXEC',
        `in ${this.opts.name}: ${cmd.join(' ')} exited ${r.status}: ${r.stderr.trim() || r.stdout.trim()}`);
    }
    return r.stdout;
  }

  /** Writes a file in the machine (root:root, `mode`), making its directory. */
  async write(path: string, content: string, mode = '0644'): Promise<void> {
    await this.exec(['sh', '-c', 'umask 077 && mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"', 'write',
      path, mode], 10_000, content);
  }

  /** `systemctl show -p ...` of a unit, as an object. */
  async show(unit: string, props: string[]): Promise<Record<string, string>> {
    const text = await this.exec(['systemctl', 'show', unit, ...props.flatMap((p) => ['-p', p])]);
    return Object.fromEntries(text.trim().split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  }

  /**
   * Powers the machine off (SIGTERM to nspawn), SIGKILLs what is left after
   * 15 s, removes nspawn's leftovers and the box's directory.
   */
  async destroy(): Promise<void> {
    const p = this.nspawn;
    const exited = p.exitCode !== null || p.signalCode !== null ? Promise.resolve()
      : new Promise<void>((r) => p.once('exit', () => r()));
    await stop(p, exited, this.leader, this.opts.name);
    rmSync(this.opts.dir, { recursive: true, force: true });
  }
}

async function stop(p: ChildProcess, exited: Promise<void>, leader: number | undefined, name: string): Promise<void> {
  if (p.exitCode === null && p.signalCode === null) {
    p.kill('SIGTERM'); // nspawn asks the machine's systemd to power off
    await Promise.race([exited, sleep(15_000)]);
  }
  if (p.exitCode === null && p.signalCode === null) {
    p.kill('SIGKILL');
    await exited;
  }
  // its PID 1 dies with nspawn (parent-death signal); make sure, by PID
  if (leader !== undefined && isAlive(leader)) {
    process.kill(leader, 'SIGKILL');
    await until('the machine\'s PID 1 to end', () => !isAlive(leader) || undefined, 5000).catch(() => {});
  }
  // nspawn's per-machine directories on the host (empty after a clean exit)
  for (const d of ['/run/systemd/nspawn/propagate', '/run/systemd/nspawn/unix-export']) {
    if (existsSync(join(d, name))) rmSync(join(d, name), { recursive: true, force: true });
  }
}

/**
 * The machine's PID 1: nspawn's child in another PID namespace that has
 * become systemd (an intermediate child comes and goes first).
 */
function leaderOf(nspawnPid: number): number | undefined {
  const ours = readlinkSync('/proc/self/ns/pid');
  const kids = spawnSync('pgrep', ['-P', String(nspawnPid)], { encoding: 'utf8' }).stdout.trim().split('\n')
    .filter(Boolean).map(Number);
  return kids.find((k) => {
    try {
      return readlinkSync(`/proc/${k}/ns/pid`) !== ours && readFileSync(`/proc/${k}/comm`, 'utf8').trim() === 'systemd';
    } catch {
      return false; // gone meanwhile
    }
  });
}

function isAlive(pid: number): boolean {
  try {
    // a zombie still answers kill(0): look at its state
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

function tail(log: string): string {
  const lines = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) : [];
  return lines.length ? `console: ${lines.slice(-5).join(' / ')}` : 'no console output';
}

/** Machine names nspawn still holds locks or directories for (for a leak check). */
export function nspawnLeftovers(name: string): string[] {
  return ['/run/systemd/nspawn/propagate', '/run/systemd/nspawn/unix-export', '/run/systemd/nspawn/locks']
    .flatMap((d) => (existsSync(d) ? readdirSync(d).filter((f) => f.includes(name)).map((f) => join(d, f)) : []));
}
