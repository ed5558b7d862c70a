// Lab (an earlier release of the agent). Contract: ensureRelease() returns a
// built copy of the previous release — tag v0.1.0, else commit ca0b24a of
// this repository's history — for version-skew tests: exported from git
// (git archive, no work tree touched), installed with `npm ci` and built with
// `npm run build` once, cached under /var/cache/edge-overlay-test
// (EO_RELEASE_CACHE) as release-<commit>-node-abi<N>/. A build goes to a temporary
// directory renamed into place only when complete, so a killed build never
// leaves a half tree behind. Without the git history it fails with one line
// saying how to get it.

import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, sh } from './shell.js';

export const RELEASE_CACHE = process.env.EO_RELEASE_CACHE ?? '/var/cache/edge-overlay-test';
/** the release before link-local underlays: its tag, and its commit where the tag is missing */
export const PREVIOUS_RELEASE = { tag: 'v0.1.0', commit: 'ca0b24a', version: '0.1.0' } as const;

export interface Release {
  /** the full commit it was built from */
  commit: string;
  /** its root directory */
  dir: string;
  /** its agent (dist/src/main.js) */
  bin: string;
  /** false when it came from the cache */
  built: boolean;
  ms: number;
}

/** The full commit of `rel` in this repository's history; throws one line if the history lacks it. */
export function releaseCommit(rel: { tag: string; commit: string } = PREVIOUS_RELEASE): string {
  for (const ref of [`refs/tags/${rel.tag}`, rel.commit]) {
    const out =
      sh('git', ['-C', ROOT, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { allowFail: true }).trim();
    if (/^[0-9a-f]{40}$/.test(out)) return out;
  }
  throw new Error(`the previous release (tag ${rel.tag} or commit ${rel.commit}) is not in the git history of ${ROOT}; `
    + `a shallow or exported checkout lacks it: run git fetch --tags --unshallow, or clone the repository`);
}

async function run(cmd: string, args: string[], cwd: string, log: string): Promise<void> {
  const out = openSync(log, 'a');
  const env = { ...process.env };
  delete env.NODE_ENV; // npm ci must install the dev dependencies (TypeScript, node-gyp)
  // not this run's npm settings
  for (const k of Object.keys(env)) if (k.startsWith('npm_') && k !== 'npm_config_nodedir') delete env[k];
  const code = await new Promise<number | null>((resolve) => {
    const p = spawn(cmd, args, { cwd, env, stdio: ['ignore', out, out] });
    p.on('error', () => resolve(-1));
    p.on('exit', (c) => resolve(c));
  });
  closeSync(out);
  if (code !== 0) {
    const tail = readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' / ');
    throw new Error(`${cmd} ${args.join(' ')} in ${cwd} failed (exit ${code}): ${tail} (full log: ${log})`);
  }
}

/**
 * The built previous release, from the cache or built now (git archive,
 * npm ci from the npm registry, npm run build: a minute or two). The build's
 * output goes to `<dir>.log`.
 */
export async function ensureRelease(rel: { tag: string; commit: string } = PREVIOUS_RELEASE): Promise<Release> {
  const t0 = Date.now();
  const commit = releaseCommit(rel);
  // keyed by the Node ABI too: its native addons are built for the Node that runs the build
  const dir = join(RELEASE_CACHE, `release-${commit.slice(0, 12)}-node-abi${process.versions.modules}`);
  const bin = join(dir, 'dist', 'src', 'main.js');
  const done = (): boolean => existsSync(bin) && existsSync(join(dir, 'build', 'Release', 'edge_overlay.node'));
  if (done()) return { commit, dir, bin, built: false, ms: Date.now() - t0 };
  mkdirSync(RELEASE_CACHE, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  const log = `${dir}.log`;
  rmSync(tmp, { recursive: true, force: true });
  rmSync(log, { force: true });
  mkdirSync(tmp);
  try {
    await run('sh', ['-c', `git -C '${ROOT}' archive --format=tar ${commit} | tar -x -C '${tmp}'`], tmp, log);
    await run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], tmp, log);
    await run('npm', ['run', 'build'], tmp, log);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  try {
    renameSync(tmp, dir);
  } catch (err) {
    // another run finished the same release first: use that one
    rmSync(tmp, { recursive: true, force: true });
    if (!done()) throw err;
  }
  return { commit, dir, bin, built: true, ms: Date.now() - t0 };
}
