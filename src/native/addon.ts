// Layer: seam to the native addon (flock, AF_PACKET, sd_notify, ethtool).
// Contract: the only module that loads build/Release/edge_overlay.node, lazily
// (status and keygen work without it); errno returns become E_NATIVE errors.

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants as osConstants } from 'node:os';
import { EdgeError, errnoName } from '../errors.js';

interface NativePacketSocket {
  send(frame: Buffer): number;
  setFilter(program: Buffer): number;
  pause(): void;
  resume(): void;
  close(): void;
}

export interface EthtoolFeature {
  name: string;
  available: boolean;
  requested: boolean;
  active: boolean;
  fixed: boolean;
}

interface NativeAddon {
  flock(fd: number): number;
  notify(socketPath: string, message: string): number;
  ethtoolDriver(ifname: string): string | number;
  ethtoolFeatures(ifname: string): EthtoolFeature[] | number;
  ethtoolSetFeatures(ifname: string, names: string[], on: boolean): number;
  PacketSocket: new (
    ifindex: number, ethertype: number, onFrame: (frame: Buffer | null, srcOrErrno: string | number) => void,
  ) => NativePacketSocket;
}

let cached: NativeAddon | undefined;

function load(): NativeAddon {
  if (cached) return cached;
  const here = dirname(fileURLToPath(import.meta.url));
  // the bundle (dist/edge-overlay.mjs, or the package's) has it beside it;
  // src/native (tests) or dist/src/native (built) → <root>/build/Release
  const candidates = [
    resolve(here, 'edge_overlay.node'), resolve(here, '../../build/Release/edge_overlay.node'),
    resolve(here, '../../../build/Release/edge_overlay.node'),
  ];
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    throw new EdgeError('E_NATIVE', 'native addon build/Release/edge_overlay.node is missing; run: npm run build');
  }
  cached = createRequire(import.meta.url)(path) as NativeAddon;
  return cached;
}

/** Takes an exclusive, non-blocking flock on fd; returns false if another process holds it. */
export function tryLock(fd: number): boolean {
  const errno = load().flock(fd);
  if (errno === 0) return true;
  if (errno === osConstants.errno.EWOULDBLOCK) return false;
  throw new EdgeError('E_NATIVE', `flock failed: ${errnoName(errno)}`);
}

export interface PacketSocket {
  /** Broadcasts one frame; returns 0 or a positive errno. */
  send(frame: Buffer): number;
  /** Attaches a classic BPF program (struct sock_filter[] as bytes; empty: none); returns 0 or a positive errno. */
  setFilter(program: Buffer): number;
  /** Stops reading: frames wait in the kernel, which drops what does not fit. */
  pause(): void;
  resume(): void;
  close(): void;
}

/**
 * Opens an AF_PACKET socket on one interface for one EtherType. onFrame gets
 * each received frame's payload and source MAC; onError a positive errno.
 */
export function openPacketSocket(
  ifindex: number, ethertype: number, onFrame: (frame: Buffer, srcMac: string) => void,
  onError: (errno: number) => void,
): PacketSocket {
  const Native = load().PacketSocket;
  try {
    return new Native(ifindex, ethertype, (frame, x) => {
      if (frame) onFrame(frame, String(x));
      else onError(Number(x));
    });
  } catch (err) {
    const errno = (err as { errno?: number }).errno;
    throw new EdgeError('E_NATIVE',
      `cannot open a packet socket on ifindex ${ifindex}: ${errno ? errnoName(errno) : (err as Error).message}`);
  }
}

/** sd_notify: one datagram to $NOTIFY_SOCKET ("@name" for abstract sockets); returns 0 or an errno name. */
export function sdNotify(socketPath: string, message: string): string | undefined {
  const errno = load().notify(socketPath, message);
  return errno === 0 ? undefined : errnoName(errno);
}

function ethtoolError(ifname: string, what: string, errno: number): EdgeError {
  return new EdgeError('E_NATIVE', `${what} on ${ifname}: ${errnoName(errno)}`);
}

/** The NIC driver's name (ETHTOOL_GDRVINFO). */
export function ethtoolDriver(ifname: string): string {
  const r = load().ethtoolDriver(ifname);
  if (typeof r === 'number') throw ethtoolError(ifname, 'reading the driver', r);
  return r;
}

/** Offload features and their state (what `ethtool -k` prints). */
export function ethtoolFeatures(ifname: string): EthtoolFeature[] {
  const r = load().ethtoolFeatures(ifname);
  if (typeof r === 'number') throw ethtoolError(ifname, 'reading offload features', r);
  return r;
}

/** Switches features by name (what `ethtool -K IF NAME on|off` does). */
export function ethtoolSetFeatures(ifname: string, names: string[], on: boolean): void {
  const errno = load().ethtoolSetFeatures(ifname, names, on);
  if (errno !== 0) throw ethtoolError(ifname, `switching ${names.join(', ')} ${on ? 'on' : 'off'}`, errno);
}
