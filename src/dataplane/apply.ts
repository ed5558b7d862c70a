// Layer: dataplane (apply). Contract: applyFdb / applyArpFlush / applyNeigh /
// applyHostRoutes execute a plan from plan.ts — additions first, then
// deletions, each phase pipelined — and return what was applied and what
// failed. "Already there" on an add and "already gone" on a delete count as
// done, so a plan may be applied twice.

import { isKernelErrno } from '../errors.js';
import type { FdbEntry, HostRoute, Kernel } from '../kernel/types.js';
import type { FdbPlan, NeighPlan } from './plan.js';
import { formatIpv4 as ip4 } from '../net/ipv4.js';
import { formatIp, isIpv6, type IpAddr } from '../net/ipv6.js';

export interface Applied {
  ops: string[];
  failed: { op: string; err: unknown }[];
}

type Step = [op: string, fn: () => Promise<void>, okErrnos: string[]];

/**
 * Runs the steps of one phase concurrently (the netlink layer bounds how
 * many are in flight: a pipeline, not a burst) and records the outcome in
 * plan order. Phases run one after the other: adds, then deletes.
 */
async function phase(out: Applied, steps: Step[]): Promise<void> {
  const results = await Promise.all(steps.map(async ([op, fn, ok]) => {
    try {
      await fn();
      return { op, err: undefined as unknown, done: true };
    } catch (err) {
      return { op, err, done: isKernelErrno(err, ...ok) }; // ok errnos: already in the desired state
    }
  }));
  for (const r of results) {
    if (r.err === undefined) out.ops.push(r.op);
    else if (!r.done) out.failed.push({ op: r.op, err: r.err });
  }
}

const fdbOp = (verb: string, e: FdbEntry): string =>
  `fdb ${verb} ${e.mac} dst ${formatIp(e.dst)}${e.via === undefined ? '' : ` via ${e.via}`}`;

export async function applyFdb(k: Kernel, vxlanIndex: number, plan: FdbPlan): Promise<Applied> {
  const out: Applied = { ops: [], failed: [] };
  await phase(out, [
    ...plan.append.map((e): Step => [fdbOp('append', e), () => k.fdbAppend(vxlanIndex, e), ['EEXIST']]),
    ...plan.replace.map((e): Step => [fdbOp('replace', e), () => k.fdbReplace(vxlanIndex, e), []]),
  ]);
  await phase(out, plan.del.map((e): Step => [fdbOp('del', e), () => k.fdbDel(vxlanIndex, e), ['ENOENT']]));
  return out;
}

/** After the FDB moved: drop the physical device's ARP (or ND) entries for these underlay IPs (FdbPlan.flushArp). */
export async function applyArpFlush(k: Kernel, physIndex: number, ips: readonly IpAddr[]): Promise<Applied> {
  const out: Applied = { ops: [], failed: [] };
  await phase(out, ips.map((ip): Step => [
    `${isIpv6(ip) ? 'nd' : 'arp'} flush ${formatIp(ip)}`, () => k.neighDel(physIndex, ip), ['ENOENT', 'ESRCH'],
  ]));
  return out;
}

export async function applyNeigh(k: Kernel, bridgeIndex: number, plan: NeighPlan): Promise<Applied> {
  const out: Applied = { ops: [], failed: [] };
  await phase(out, plan.set.map((n): Step => [
    `neigh replace ${ip4(n.dst)} lladdr ${n.mac}`, () => k.neighReplace(bridgeIndex, n.dst, n.mac), [],
  ]));
  await phase(out, plan.del.map((ip): Step => [
    `neigh del ${ip4(ip)}`, () => k.neighDel(bridgeIndex, ip), ['ENOENT', 'ESRCH'],
  ]));
  return out;
}

export async function applyHostRoutes(k: Kernel, plan: { set: HostRoute[]; del: HostRoute[] }): Promise<Applied> {
  const out: Applied = { ops: [], failed: [] };
  await phase(out, plan.set.map((r): Step => [
    `route replace ${ip4(r.dst)}/32 dev ${r.index} src ${ip4(r.src)}`, () => k.hostRouteReplace(r), [],
  ]));
  await phase(out, plan.del.map((r): Step => [
    `route del ${ip4(r.dst)}/32 dev ${r.index}`, () => k.hostRouteDel(r), ['ESRCH', 'ENOENT'],
  ]));
  return out;
}
