// Benchmark 9 (bench layer): start-up, the bundle beside the module tree.
// Contract: startup(plan) measures, in one run, (1) the wall-clock time of
// short CLI processes — `node -e 0`, node with the shebang's V8 flags, and
// `--version` and `status` with no agent of both builds (dist/edge-overlay.cjs,
// the bundle; dist/src/main.js, the tree 0.2.0 shipped: "before") — in rounds,
// each round running every case once in a rotated order, so ratios are taken
// within a round; and (2) in a two-host lab, restarts of h1's agent
// alternating the two builds: spawn to the READY=1 the agent sends to
// $NOTIFY_SOCKET (as systemd would see it), spawn to its "agent started" log
// line (overlay checked and reconciled; the control socket and READY=1
// follow), and its RSS after `idleS` s up and idle. Throws if a command does not behave
// as expected (a broken build must not yield a figure). Deletes what it makes.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, ROOT, sleep, until, type Host } from '../test/lab/lab.js';
import { VERSION } from '../src/version.js';

export const BUILDS =
  { bundle: join(ROOT, 'dist', 'edge-overlay.cjs'), tree: join(ROOT, 'dist', 'src', 'main.js') } as const;
export type Build = keyof typeof BUILDS;

/** the CLI cases, in the order of the first round */
export const CLI_CASES = ['node', 'nodeFlags', 'bundleVersion', 'bundleStatus', 'treeVersion', 'treeStatus'] as const;
export type CliCase = (typeof CLI_CASES)[number];

export interface StartupPlan {
  /** CLI rounds (each runs every case once) */
  rounds: number;
  /** agent restarts per build */
  restarts: number;
  /** seconds each restarted agent idles before its RSS is read */
  idleS: number;
}

export interface StartupRun {
  rounds: number;
  /** ms from spawn to exit; index = round (one untimed warm-up round ran first) */
  cliMs: Record<CliCase, number[]>;
  /** the shebang's V8 flags (what `nodeFlags` runs node with) */
  shebangFlags: string[];
  idleS: number;
  /** per build, one entry per restart (restarts alternate tree, bundle, tree, ...) */
  agent: Record<Build, { readyMs: number[]; startedLogMs: number[]; idleRssMB: number[] }>;
}

const shebangFlags = (file: string): string[] =>
  (readFileSync(file, 'utf8').split('\n', 1)[0] ?? '').split(' ').filter((f) => f.startsWith('--'));

interface Expect { code: number; check: (stdout: string, stderr: string) => boolean; what: string }

function cliCases(runDir: string, flags: string[]): Record<CliCase, { cmd: string; args: string[]; expect: Expect }> {
  const ok: Expect = { code: 0, check: () => true, what: 'exit 0' };
  const version: Expect = { code: 0, check: (out) => out.trim() === VERSION, what: `exit 0 printing ${VERSION}` };
  // no agent: exit 1 and exactly one line on stderr (the measured case)
  const noAgent: Expect = {
    code: 1, check: (out, err) => out === '' && /^edge-overlay: no edge-overlay agent[^\n]*\n$/.test(err),
    what: 'exit 1 with one "no agent" line',
  };
  return {
    node: { cmd: 'node', args: ['-e', '0'], expect: ok },
    nodeFlags: { cmd: 'node', args: [...flags, '-e', '0'], expect: ok },
    // each build executed as installed: through its shebang
    bundleVersion: { cmd: BUILDS.bundle, args: ['--version'], expect: version },
    bundleStatus: { cmd: BUILDS.bundle, args: ['status', '--run-dir', runDir], expect: noAgent },
    treeVersion: { cmd: BUILDS.tree, args: ['--version'], expect: version },
    treeStatus: { cmd: BUILDS.tree, args: ['status', '--run-dir', runDir], expect: noAgent },
  };
}

/** CLI start-up: `rounds` timed rounds after one warm-up round; the order rotates each round. */
function cli(rounds: number, flags: string[]): Record<CliCase, number[]> {
  const cwd = mkdtempSync(join(tmpdir(), 'edge-overlay-startup-'));
  const runDir = join(cwd, 'run'); // never created: --run-dir given, the CLI reads no config file
  try {
    const cases = cliCases(runDir, flags);
    const out = Object.fromEntries(CLI_CASES.map((c) => [c, [] as number[]])) as Record<CliCase, number[]>;
    for (let r = -1; r < rounds; r++) {
      const k = Math.max(0, r) % CLI_CASES.length;
      for (const name of [...CLI_CASES.slice(k), ...CLI_CASES.slice(0, k)]) {
        const { cmd, args, expect } = cases[name];
        const t0 = process.hrtime.bigint();
        const p = spawnSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (p.error || p.status !== expect.code || !expect.check(p.stdout, p.stderr)) {
          throw new Error(`startup: ${cmd} ${args.join(' ')}: expected ${expect.what}, `
            + `got ${p.error?.message ?? `exit ${p.status ?? p.signal}`}: ${(p.stderr || p.stdout).trim()}`);
        }
        if (r >= 0) out[name].push(ms);
      }
    }
    return out;
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

// $NOTIFY_SOCKET for the agent: one JSON line per datagram, with its arrival time
const LISTENER = [
  'import json, socket, sys, time',
  's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
  's.bind(sys.argv[1])',
  'print(json.dumps({"listening": True}), flush=True)',
  'while True:',
  '    m = s.recv(65536).decode()',
  '    print(json.dumps({"t": time.time() * 1000, "msg": m}), flush=True)',
].join('\n');

const lines =
  (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** One restart of h1's agent on `build`: spawn to READY=1, spawn to its "agent started" log line, RSS after idleS. */
async function restart(lab: Lab, h: Host, build: Build, socket: string, notifyLog: string,
  idleS: number): Promise<{ readyMs: number; startedLogMs: number; rssMB: number }> {
  await lab.stopAgent(h); // SIGTERM: the overlay stays up
  const seen = lines(notifyLog).length;
  h.bin = BUILDS[build];
  const t0 = Date.now();
  const p = lab.startAgent(h, [], { NOTIFY_SOCKET: socket });
  const ready = await until(`READY=1 from the ${build} agent`, () => lines(notifyLog).slice(seen)
    .map((l) => JSON.parse(l) as { t?: number; msg?: string })
      .find((x) => x.msg?.split('\n').includes('READY=1')), 30_000, 5);
  const pid = p.pid!;
  // `ip netns exec` and `env -S` exec, so the spawned PID is the agent's node process
  if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'node') {
    throw new Error(`startup: PID ${pid} is not the agent's node process`);
  }
  const s = await lab.status(h);
  if (!s.dataplane.ready || !s.node.overlayIp) {
    throw new Error(`startup: the ${build} agent sent READY=1 without a ready overlay`);
  }
  await sleep(Math.max(0, ready.t! + idleS * 1000 - Date.now())); // idle: S s after READY=1
  const log = lines(join(h.dir, 'agent.log'));
  if (p.exitCode !== null || p.signalCode !== null) {
    throw new Error(`startup: the ${build} agent (PID ${pid}) ended while idle (${p.exitCode ?? p.signalCode}); `
      + `its log ends:\n${log.slice(-5).join('\n')}`);
  }
  const started = log.map(
    (l) => { try { return JSON.parse(l) as { pid?: number; time?: string; msg?: string }; } catch { return {}; } })
    .find((x) => x.pid === pid && x.time && x.msg?.startsWith('agent started'));
  return { readyMs: ready.t! - t0, startedLogMs: started ? Date.parse(started.time!) - t0 : NaN, rssMB: rssMB(pid) };
}

/** Agent restarts in a two-host lab (h2 runs the bundle), alternating the builds on h1. */
async function restarts(n: number, idleS: number): Promise<StartupRun['agent']> {
  const out: StartupRun['agent'] = { bundle: { readyMs: [], startedLogMs: [], idleRssMB: [] },
    tree: { readyMs: [], startedLogMs: [], idleRssMB: [] } };
  const lab = await Lab.create({ hosts: 2, cluster: 'bench' });
  try {
    const [h1, h2] = lab.hosts as [Host, Host];
    h1.bin = BUILDS.bundle;
    h2.bin = BUILDS.bundle;
    await lab.startAll(60_000); // the first start (fresh state: claims its address) is not measured
    const socket = join(h1.dir, 'notify.sock');
    const notifyLog = join(h1.dir, 'notify.log');
    lab.spawnIn(h1.ns, ['python3', '-c', LISTENER, socket], notifyLog);
    await until('the notify listener', () => lines(notifyLog).length > 0 || undefined);
    for (let i = 0; i < 2 * n; i++) {
      const build: Build = i % 2 === 0 ? 'tree' : 'bundle';
      const r = await restart(lab, h1, build, socket, notifyLog, idleS);
      out[build].readyMs.push(r.readyMs);
      out[build].startedLogMs.push(r.startedLogMs);
      out[build].idleRssMB.push(r.rssMB);
    }
    return out;
  } finally {
    await lab.destroy();
  }
}

export async function startup(plan: StartupPlan): Promise<StartupRun> {
  for (const f of Object.values(BUILDS)) {
    if (!existsSync(f)) throw new Error(`startup: ${f} is missing; run npm run build`);
  }
  const flags = shebangFlags(BUILDS.bundle);
  const cliMs = cli(plan.rounds, flags);
  const agent = await restarts(plan.restarts, plan.idleS);
  return { rounds: plan.rounds, cliMs, shebangFlags: flags, idleS: plan.idleS, agent };
}
