// Lab (root file systems for booted test machines). Contract: ensureRootfs()
// returns the directory of a minimal Debian 12 root file system holding the
// given packages, built once with mmdebstrap and cached under
// /var/cache/edge-overlay-test (EO_BOX_CACHE), keyed by suite and package
// list; a build goes to a temporary directory renamed into place only when
// complete, so a killed build never leaves a half tree behind. Callers must
// not change the tree: boxes boot it read-only with a tmpfs overlay.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const SUITE = 'bookworm';
/**
 * What a Debian 12 cloud image brings that the system test relies on:
 * systemd as PID 1, cloud-init and curl (the example user-data fetches and
 * installs the package), the package's Depends (nftables, iproute2) so that
 * `apt-get install ./edge-overlay.deb` needs no mirror (mmdebstrap leaves no
 * package lists; apt installs a local .deb whose dependencies are installed
 * without them), and ping. No Node.js: the package brings its own runtime.
 */
export const BOX_PACKAGES =
  ['systemd', 'systemd-sysv', 'dbus', 'iproute2', 'nftables', 'ca-certificates', 'cloud-init', 'curl', 'iputils-ping'];
/**
 * mmdebstrap customize hooks ($1 is the new tree), part of the cache key:
 * the locale Debian's cloud images set (cloud-init's locale module otherwise
 * tries en_US.UTF-8, which minbase cannot generate, and reports an error).
 */
export const BOX_HOOKS = ['echo LANG=C.UTF-8 > "$1/etc/default/locale"'];
export const CACHE_DIR = process.env.EO_BOX_CACHE ?? '/var/cache/edge-overlay-test';

export class BoxError extends Error {
  constructor(readonly code: 'E_BOX_ROOTFS' | 'E_BOX_BOOT' | 'E_BOX_EXEC', message: string) {
    super(message);
    this.name = 'BoxError';
  }
}

/** Where the tree for `packages` lives (whether or not it is built yet). */
export function rootfsDir(packages: readonly string[] = BOX_PACKAGES): string {
  const key = createHash('sha256')
    .update(JSON.stringify({ suite: SUITE, variant: 'minbase', packages: [...packages].sort(), hooks: BOX_HOOKS }))
    .digest('hex').slice(0, 12);
  return join(CACHE_DIR, `debian12-${key}`);
}

export interface Rootfs {
  dir: string;
  /** false when it came from the cache */
  built: boolean;
  ms: number;
}

/**
 * The cached tree for `packages`, built first if missing (mmdebstrap, from
 * Debian's default mirror plus updates and security, or EO_BOX_MIRROR; a few
 * minutes). The build's output goes to `<dir>.log`.
 */
export async function ensureRootfs(packages: readonly string[] = BOX_PACKAGES): Promise<Rootfs> {
  const t0 = Date.now();
  const dir = rootfsDir(packages);
  if (existsSync(join(dir, 'sbin', 'init'))) return { dir, built: false, ms: Date.now() - t0 };
  mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  const log = `${dir}.log`;
  rmSync(tmp, { recursive: true, force: true });
  const mirror = process.env.EO_BOX_MIRROR ? [process.env.EO_BOX_MIRROR] : [];
  const args = ['--variant=minbase', `--include=${packages.join(',')}`,
    ...BOX_HOOKS.map((h) => `--customize-hook=${h}`), SUITE, tmp, ...mirror];
  const out = openSync(log, 'w');
  const code = await new Promise<number | null>((resolve) => {
    const p = spawn('mmdebstrap', args, { stdio: ['ignore', out, out] });
    p.on('error', () => resolve(-1));
    p.on('exit', (c) => resolve(c));
  });
  closeSync(out);
  if (code !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    const tail = readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' / ');
    throw new BoxError('E_BOX_ROOTFS',
      `mmdebstrap ${args.join(' ')} failed (exit ${code}): ${tail} (full log: ${log})`);
  }
  try {
    renameSync(tmp, dir);
  } catch (err) {
    // another run finished the same tree first: use that one
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(join(dir, 'sbin', 'init'))) throw err;
  }
  return { dir, built: true, ms: Date.now() - t0 };
}
