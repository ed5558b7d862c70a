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

interface NativePacketSocket {
  send(frame: Buffer): number;
  close(): void;
}

interface NativeAddon {
  flock(fd: number): number;
  PacketSocket: new (ifindex: number, ethertype: number, onFrame: (frame: Buffer | null, srcOrErrno: string | number) => void) => NativePacketSocket;
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

export interface PacketSocket {
  /** Broadcasts one frame; returns 0 or a positive errno. */
  send(frame: Buffer): number;
  close(): void;
}

/**
 * Opens an AF_PACKET socket on one interface for one EtherType. onFrame gets
 * each received frame's payload and source MAC; onError a positive errno.
 */
export function openPacketSocket(ifindex: number, ethertype: number, onFrame: (frame: Buffer, srcMac: string) => void, onError: (errno: number) => void): PacketSocket {
  const Native = load().PacketSocket;
  try {
    return new Native(ifindex, ethertype, (frame, x) => {
      if (frame) onFrame(frame, String(x));
      else onError(Number(x));
    });
  } catch (err) {
    const errno = (err as { errno?: number }).errno;
    throw new EdgeError('E_NATIVE', `cannot open a packet socket on ifindex ${ifindex}: ${errno ? errname(errno) : (err as Error).message}`);
  }
}

export { errname };
