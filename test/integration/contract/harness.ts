// Test helper (integration, kernel contract): what the contract cases in
// cases.ts and cases6.ts share — the Env a runner gives each case (eth0, and
// the things another program or the far end of eth0's cable does), the Case
// signature, the devices and constants they use, and the assertion helpers
// (refused, reports). Kernel-neutral: only the Kernel seam, so every case runs
// unchanged against FakeKernel and the real NetlinkKernel.
import { expect } from 'vitest';
import { isKernelErrno } from '../../../src/errors.js';
import { formatIpv4, parseIpv4, type Ipv4 } from '../../../src/net/ipv4.js';
import { formatIp, linkLocalFromMac, parseIpv6, type Ipv6 } from '../../../src/net/ipv6.js';
import type { Kernel, KernelEvent } from '../../../src/kernel/types.js';
import { until } from '../../lab/lab.js';

export const ip = (s: string): Ipv4 => parseIpv4(s)!;
export const ip6 = (s: string): Ipv6 => parseIpv6(s)!;
export const MTU = 9000; // eth0's
export const BR_MAC = '02:aa:bb:cc:dd:ee';
export const VX = { vni: 100, port: 4789, mtu: MTU - 50 };
export const VX6 = { ...VX, mtu: MTU - 70 };

export interface Env {
  eth0: number;
  /** pulls eth0's cable (false) or plugs it back in (true): the far end of the link goes down or up */
  cable(on: boolean): Promise<void>;
  /**
   * another program: `ip -6 addr add|del A/64 dev eth0`; `taken`: a host
   * on the link holds it already, so DAD runs and fails
   */
  addr6(op: 'add' | 'del', a: Ipv6, opts?: { taken?: boolean }): Promise<void>;
  /**
   * accept_dad on eth0 (off between cases), then eth0 down and up: its
   * link-local address comes back, tentative while DAD runs
   */
  relink(dad: boolean): Promise<void>;
  /** sysctl net.ipv6.conf.eth0.disable_ipv6 */
  disableIpv6(on: boolean): Promise<void>;
  /** eth0's ND entries as "address lladdr" (`ip -6 neigh show dev eth0`) */
  nd(): Promise<string[]>;
  /**
   * another program (DHCP, RA, the administrator): `ip -4|-6 route
   * add|del default via 10.5.0.1|fe80::1 dev eth0 metric M`
   */
  defaultRoute(op: 'add' | 'del', family: 4 | 6, metric: number): Promise<void>;
}
export type Case = (k: Kernel, env: Env) => Promise<void>;

export async function refused(p: Promise<unknown>, errname: string): Promise<void> {
  const err = await p.then(() => 'resolved', (e: unknown) => e);
  expect(isKernelErrno(err, errname), `expected ${errname}, got ${String(err)}`).toBe(true);
}

export async function overlay(k: Kernel, env: Env): Promise<{ br: number; vx: number }> {
  await k.createBridge('scbr-100', VX.mtu, BR_MAC);
  await k.createVxlan('scvx-100', { ...VX, link: env.eth0 });
  return { br: (await k.linkByName('scbr-100'))!.index, vx: (await k.linkByName('scvx-100'))!.index };
}

export const addrsOf = async (k: Kernel, i: number): Promise<string[]> =>
  (await k.addrs(i)).map((a) => `${formatIpv4(a.address)}/${a.prefix}${a.secondary ? ' secondary' : ''}`).sort();
export const fdbOf = async (k: Kernel, i: number): Promise<string[]> =>
  (await k.fdb(i)).map((e) => `${e.mac} ${formatIp(e.dst)}${e.via === undefined ? '' : ` via ${e.via}`}`).sort();
/** eth0's link-local address: the EUI-64 one of its MAC (addrgenmode eui64) */
export async function linkLocal(k: Kernel, env: Env): Promise<Ipv6> {
  const ll = linkLocalFromMac((await k.linkByName('eth0'))!.mac);
  expect(await k.addrs6(env.eth0))
    .toEqual([{ index: env.eth0, address: ll, prefix: 64, linkLocal: true, tentative: false, dadFailed: false }]);
  return ll;
}

export type Fields = Record<string, unknown>;
/**
 * Runs `act` while watching k, then waits for an event with the fields
 * of each of `want` (both kernels report asynchronously).
 */
export async function reports<T>(k: Kernel, act: () => Promise<T>, want: (r: T) => Fields[]): Promise<void> {
  const events: KernelEvent[] = [];
  const stop = k.watch((e) => events.push(e));
  try {
    const r = await act();
    for (const w of want(r)) {
      const match = (e: KernelEvent): boolean => Object.entries(w).every(([f, v]) => (e as Fields)[f] === v);
      await until(`event ${JSON.stringify(w)}`, () => events.some(match) || undefined, 3000, 5);
    }
  } finally {
    stop();
  }
}
