// Layer: seam to the native addon. Contract: the only module that loads
// build/Release/edge_overlay.node; it turns the addon's errno returns into
// EdgeErrors. Loaded lazily, so commands that need no syscall (status,
// keygen) work even where the addon was not built.

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants as osConstants } from 'node:os';
import { EdgeError } from '../errors.js';

interface NativeAddon {
  flock(fd: number): number;
}

let cached: NativeAddon | undefined;

function load(): NativeAddon {
  if (cached) return cached;
  const here = dirname(fileURLToPath(import.meta.url));
  // src/native (tests) or dist/src/native (built) → <root>/build/Release
  const candidates = [resolve(here, '../../build/Release/edge_overlay.node'), resolve(here, '../../../build/Release/edge_overlay.node')];
  const path = candidates.find((p) => existsSync(p));
  if (!path) throw new EdgeError('E_NATIVE', 'native addon build/Release/edge_overlay.node is missing; run: npm run build');
  cached = createRequire(import.meta.url)(path) as NativeAddon;
  return cached;
}

function errname(errno: number): string {
  const entry = Object.entries(osConstants.errno).find(([, v]) => v === errno);
  return entry ? entry[0] : `errno ${errno}`;
}

/** Takes an exclusive, non-blocking flock on fd; returns false if another process holds it. */
export function tryLock(fd: number): boolean {
  const errno = load().flock(fd);
  if (errno === 0) return true;
  if (errno === osConstants.errno.EWOULDBLOCK) return false;
  throw new EdgeError('E_NATIVE', `flock failed: ${errname(errno)}`);
}
