// Integration support (the system test's fixtures). Contract: the NoCloud
// seed made from the project's cloud-init example with exactly the two
// substitutions its header tells the reader to make (each must happen
// exactly once, or this throws); the package built by scripts/build-deb.sh
// (asynchronously, so a build can run while the machine boots) and its
// agent unpacked for the lab's other hosts; pings through an operation, with
// the replies lost meanwhile; the unit's journal read from a mark; what the
// machine's agent, cloud-init, file system and kernel log say.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse } from 'yaml';
import { ROOT, sh, until, type Host, type Lab } from '../../scripts/lab/lab.js';
import type { Box } from '../../scripts/lab/box.js';
import type { StatusReport } from '../../src/agent/status.js';

export const EXAMPLE = join(ROOT, 'scripts', 'cloud-init', 'user-data.yaml');
export const UNIT = 'edge-overlay.service';
/** where NoCloud looks for a seed on the machine's own disk (ds-identify checks it) */
export const SEED_DIR = '/var/lib/cloud/seed/nocloud';

/** The version scripts/build-deb.sh gives the package by default. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * The example user-data with the two values its header asks for: the value
 * of the `EDGE_OVERLAY_DEB=` line and the `REPLACE-WITH-THE-CLUSTER-KEY`
 * line. Nothing else is touched.
 */
export function exampleUserData(debUrl: string, key: string): string {
  const text = readFileSync(EXAMPLE, 'utf8');
  const debLines = [...text.matchAll(/^(\s+)EDGE_OVERLAY_DEB=\S+$/gm)];
  if (debLines.length !== 1) throw new Error(`${EXAMPLE}: expected exactly one "EDGE_OVERLAY_DEB=" line to set, found ${debLines.length}`);
  const keyCount = text.split('REPLACE-WITH-THE-CLUSTER-KEY').length - 1;
  if (keyCount !== 1) throw new Error(`${EXAMPLE}: expected "REPLACE-WITH-THE-CLUSTER-KEY" exactly once, found ${keyCount}`);
  const m = debLines[0]!;
  const withDeb = text.slice(0, m.index) + `${m[1]}EDGE_OVERLAY_DEB=${debUrl}` + text.slice(m.index! + m[0].length);
  return withDeb.replace('REPLACE-WITH-THE-CLUSTER-KEY', key.trim());
}

/** The content of each `write_files` entry of a cloud-config, by path. */
export function writeFilesOf(userData: string): Record<string, string> {
  const doc = parse(userData) as { write_files?: { path: string; content?: string }[] };
  return Object.fromEntries((doc.write_files ?? []).map((f) => [f.path, f.content ?? '']));
}

/**
 * A NoCloud seed directory: user-data, meta-data (instance-id and hostname)
 * and a network-config that leaves the network alone (the lab's DHCP client
 * has configured eth0 already).
 */
export function writeSeed(dir: string, userData: string, name: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'user-data'), userData);
  writeFileSync(join(dir, 'meta-data'), `instance-id: ${name}\nlocal-hostname: ${name}\n`);
  writeFileSync(join(dir, 'network-config'), 'config: disabled\n');
}

/** `bash scripts/build-deb.sh OUTDIR --fast [--version V]` (--fast: xz -1): the path of the .deb it built. */
export function buildDeb(outDir: string, version?: string): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const args = [join(ROOT, 'scripts', 'build-deb.sh'), outDir, '--fast', ...(version ? ['--version', version] : [])];
  return new Promise((resolve, reject) => {
    const p = spawn('bash', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => {
      const deb = out.trim().split('\n').at(-1)?.trim() ?? '';
      if (code === 0 && deb.endsWith('.deb') && existsSync(deb)) return resolve(deb);
      reject(new Error(`bash ${args.join(' ')} exited ${code}, printed "${deb}": ${(err || out).trim().split('\n').slice(-8).join(' / ')}`));
    });
  });
}

/**
 * The agent of a built package, runnable in a lab host: the .deb extracted
 * into `dir` (dpkg-deb -x) and a wrapper that starts the program
 * /usr/bin/edge-overlay points to with the package's runtime and the V8
 * flags of the program's shebang. Lab hosts given it as `bin` run the build
 * the machine installs, whatever happens to dist/ meanwhile.
 */
export function packagedAgent(deb: string, dir: string): string {
  sh('dpkg-deb', ['-x', deb, dir]);
  const program = resolve(join(dir, 'usr', 'bin'), readlinkSync(join(dir, 'usr', 'bin', 'edge-overlay')));
  const shebang = readFileSync(program, 'utf8').split('\n', 1)[0] ?? '';
  const flags = shebang.split(' ').filter((f) => f.startsWith('--'));
  const wrapper = join(dir, 'edge-overlay');
  writeFileSync(wrapper, `#!/bin/sh\nexec ${join(dir, 'usr', 'lib', 'edge-overlay', 'node')} ${flags.join(' ')} ${program} "$@"\n`, { mode: 0o755 });
  return wrapper;
}

export interface Reply { at: number; seq: number }

/** ping every `intervalS` from a lab host; replies() can be read while it runs, stop() ends it (SIGINT). */
export function pingProbe(lab: Lab, from: Host, to: string, intervalS = 0.01): { replies: () => Reply[]; stop: () => Promise<{ replies: Reply[]; sent: number }> } {
  const log = join(from.dir, `ping-probe-${randomBytes(3).toString('hex')}.log`);
  const p = lab.spawnIn(from.ns, ['ping', '-D', '-i', String(intervalS), '-W', '1', to], log);
  const text = (): string => (existsSync(log) ? readFileSync(log, 'utf8') : '');
  const replies = (): Reply[] => [...text().matchAll(/^\[(\d+\.\d+)\] \d+ bytes from .*?icmp_seq=(\d+)/gm)]
    .map((m) => ({ at: Number(m[1]) * 1000, seq: Number(m[2]) }));
  return {
    replies,
    stop: async () => {
      if (p.exitCode === null && p.signalCode === null) {
        const gone = new Promise<void>((r) => p.once('exit', () => r()));
        p.kill('SIGINT');
        await gone;
      }
      return { replies: replies(), sent: Number(/(\d+) packets transmitted/.exec(text())?.[1] ?? 0) };
    },
  };
}

/**
 * Echo requests lost between the first and the last reply (the last request,
 * still in flight when ping stopped, is not a loss), whether the replies
 * bracket [from, to], and the longest silence between two replies.
 */
export function lossBetween(replies: Reply[], from: number, to: number): { lost: number[]; covered: boolean; maxGapMs: number; replies: number } {
  const seqs = new Set(replies.map((r) => r.seq));
  const lo = Math.min(...seqs);
  const hi = Math.max(...seqs);
  const lost: number[] = [];
  for (let s = lo; s <= hi; s++) if (!seqs.has(s)) lost.push(s);
  const at = replies.map((r) => r.at).sort((a, b) => a - b);
  let maxGapMs = 0;
  for (let i = 1; i < at.length; i++) maxGapMs = Math.max(maxGapMs, at[i]! - at[i - 1]!);
  return { lost, covered: at.length > 0 && at[0]! < from && at.at(-1)! > to, maxGapMs: Math.round(maxGapMs), replies: at.length };
}

/**
 * Pings `to` from a lab host every 10 ms while `during()` runs — from the
 * first reply before it to 200 ms after it resolved — and returns its value,
 * how long it took and what was lost meanwhile.
 */
export async function pingThrough<T>(lab: Lab, from: Host, to: string, during: () => Promise<T>): Promise<{ value: T; ms: number; sent: number } & ReturnType<typeof lossBetween>> {
  const probe = pingProbe(lab, from, to);
  try {
    await until(`a first reply from ${to}`, () => probe.replies().length > 0 || undefined, 5000, 10);
    const t0 = Date.now();
    const value = await during();
    const t1 = Date.now();
    await until(`replies from ${to} afterwards`, () => probe.replies().some((x) => x.at > t1 + 200) || undefined, 5000, 20);
    const { replies, sent } = await probe.stop();
    return { value, ms: t1 - t0, sent, ...lossBetween(replies, t0, t1) };
  } finally {
    await probe.stop();
  }
}

/** The unit's journal this boot, one line per message (the agent's JSON lines, systemd's own). */
export async function unitJournal(box: Box, unit = UNIT): Promise<string[]> {
  return (await box.exec(['journalctl', '-u', unit, '-b', '--no-pager', '-o', 'cat'])).split('\n').filter(Boolean);
}

/** Waits until the unit's journal after line `mark` has a line matching each of `patterns`, in that order; the lines after the mark. */
export async function journalAfter(box: Box, mark: number, patterns: RegExp[], timeoutMs = 10_000): Promise<string[]> {
  const what = patterns.map(String).join(' then ');
  return until(`the journal to show ${what}`, async () => {
    const lines = (await unitJournal(box)).slice(mark);
    let i = 0;
    for (const p of patterns) {
      while (i < lines.length && !p.test(lines[i]!)) i++;
      if (i++ >= lines.length) return undefined;
    }
    return lines;
  }, timeoutMs, 100).catch(async (err: Error) => {
    throw new Error(`${err.message}; after the mark:\n${(await unitJournal(box)).slice(mark).slice(-15).join('\n')}`);
  });
}

/** The last lines of the unit's journal (for failure messages). */
export async function journalTail(box: Box, n = 15): Promise<string> {
  return (await unitJournal(box).catch(() => [])).slice(-n).join('\n');
}

export async function statusIn(box: Box): Promise<StatusReport> {
  return JSON.parse(await box.exec(['edge-overlay', 'status', '--json'])) as StatusReport;
}

/** Waits until the machine's agent sees two peers alive; on timeout says what it sees and what it logged. */
export function bothPeersAlive(box: Box, when: string): Promise<StatusReport> {
  return until(`both peers alive ${when}`, async () => {
    const s = await statusIn(box);
    return s.peers.filter((p) => p.state === 'alive').length === 2 ? s : undefined;
  }, 20_000, 200).catch(async (err: Error) => {
    const peers = (await statusIn(box).catch(() => undefined))?.peers.map((p) => `${p.underlayIp} ${p.overlayIp} ${p.state} ${p.lastSeenMs}ms`);
    throw new Error(`${err.message}; peers: ${JSON.stringify(peers)}; journal:\n${await journalTail(box)}`);
  });
}

/** Which of `paths` exist in the machine (dangling symlinks count; `dirs`: only directories, symlinks not). */
export async function existing(box: Box, paths: string[], dirs = false): Promise<string[]> {
  const test = dirs ? '[ -d "$p" ] && [ ! -L "$p" ]' : '[ -e "$p" ] || [ -L "$p" ]';
  const out = await box.exec(['sh', '-c', `for p; do { ${test}; } && echo "$p"; done; true`, 'sh', ...paths], 10_000);
  return out.split('\n').filter(Boolean);
}

/** Errors cloud-init recorded, by stage (result.json and status.json). */
export async function cloudInitErrors(box: Box): Promise<string[]> {
  const result = JSON.parse(await box.exec(['cat', '/run/cloud-init/result.json'])) as { v1: { errors: string[] } };
  const stages = (JSON.parse(await box.exec(['cat', '/run/cloud-init/status.json'])) as { v1: Record<string, { errors?: string[] } | string | null> }).v1;
  return [...result.v1.errors, ...Object.entries(stages).flatMap(([k, v]) => (v && typeof v === 'object' ? (v.errors ?? []).map((e) => `${k}: ${e}`) : []))];
}

/** What to read when cloud-init did not finish cleanly: its status, the end of its output log, pending jobs, the unit's journal. */
export async function cloudInitReport(box: Box, status: { stdout: string; stderr: string }): Promise<string> {
  const more = await box.run(['sh', '-c', 'tail -n 25 /var/log/cloud-init-output.log; systemctl list-jobs --no-pager']);
  return `cloud-init: ${status.stdout}${status.stderr}\n${more.stdout}\nunit journal:\n${await journalTail(box)}`;
}

/**
 * Kernel audit records (type=1326, SECCOMP) of processes a seccomp filter
 * killed since `sinceMs` (wall clock), from the kernel log: with
 * SystemCallErrorNumber=kill, a child the agent runs that makes a denied
 * call dies this way without a word in the unit's journal.
 */
export function seccompKills(sinceMs: number): string[] {
  return sh('dmesg', [], { allowFail: true }).split('\n')
    .filter((l) => l.includes('type=1326') && Number(/audit\((\d+\.\d+):/.exec(l)?.[1] ?? 0) * 1000 >= sinceMs - 1000)
    .map((l) => l.replace(/^\[[^\]]*\]\s*/, ''));
}

/** A harmless nft rule in a lab host (VXLAN to a TEST-NET address dropped) that the agent's startup checks report. */
export const PLANTED_TABLE = 'eo_probe';
export const PLANTED = /"msg":"preflight: 1 firewall rule\(s\) drop UDP 4789"/;
export function plantRule(lab: Lab, h: Host): void {
  lab.exec(h, ['nft', `add table inet ${PLANTED_TABLE}; add chain inet ${PLANTED_TABLE} out { type filter hook output priority 0; }; `
    + `add rule inet ${PLANTED_TABLE} out ip daddr 192.0.2.1 udp dport 4789 drop`]);
}

/** The startup checks' failure lines (one per failed check) other than the planted rule's. */
export function failedChecks(lines: string[]): string[] {
  return lines.filter((l) => l.includes('"msg":"preflight:') && !PLANTED.test(l));
}

/** From systemd's monotonic timestamps (CLOCK_MONOTONIC, as process.hrtime here): READY after the boot began, and after the agent started. */
export async function readyTimings(box: Box, bootedAt: bigint): Promise<Record<string, number>> {
  const t = await box.show(UNIT, ['InactiveExitTimestampMonotonic', 'ActiveEnterTimestampMonotonic']);
  const ready = BigInt(t.ActiveEnterTimestampMonotonic ?? '0');
  return {
    readyAfterBootMs: Number((ready * 1000n - bootedAt) / 1_000_000n),
    agentStartToReadyMs: Number((ready - BigInt(t.InactiveExitTimestampMonotonic ?? '0')) / 1000n),
  };
}
