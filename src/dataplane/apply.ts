// Layer: dataplane. Contract: applyFdb / applyNeigh execute a plan from
// plan.ts — additions first, then deletions, then ARP flushes — and return
// what was really applied and what failed. "Already there" on an add and
// "already gone" on a delete count as done, so a plan may be applied twice.

import { isKernelErrno } from '../errors.js';
import type { FdbEntry, HostRoute, Kernel } from '../kernel/types.js';
import type { FdbPlan, NeighPlan } from './plan.js';
import { formatIpv4 as ip4 } from '../net/ipv4.js';

export interface Applied {
  ops: string[];
  failed: { op: string; err: unknown }[];
}

async function run(out: Applied, op: string, fn: () => Promise<void>, okErrnos: string[]): Promise<void> {
  try {
    await fn();
    out.ops.push(op);
  } catch (err) {
    if (isKernelErrno(err, ...okErrnos)) return; // already in the desired state
    out.failed.push({ op, err });
  }
}

const fdbOp = (verb: string, e: FdbEntry): string => `fdb ${verb} ${e.mac} dst ${ip4(e.dst)}`;

export async function applyFdb(k: Kernel, vxlanIndex: number, physIndex: number | undefined, plan: FdbPlan): Promise<Applied> {
  const out: Applied = { ops: [], failed: [] };
  for (const e of plan.append) await run(out, fdbOp('append', e), () => k.fdbAppend(vxlanIndex, e), ['EEXIST']);
  for (const e of plan.replace) await run(out, fdbOp('replace', e), () => k.fdbReplace(vxlanIndex, e), []);
  for (const e of plan.del) await run(out, fdbOp('del', e), () => k.fdbDel(vxlanIndex, e), ['ENOENT']);
  if (physIndex !== undefined) {
    for (const ip of plan.flushArp) await run(out, `arp flush ${ip4(ip)}`, () => k.neighDel(physIndex, ip), ['ENOENT', 'ESRCH']);
  }
  return out;
}

export async function applyNeigh(k: Kernel, bridgeIndex: number, plan: NeighPlan): Promise<Applied> {
  const out: Applied = { ops: [], failed: [] };
  for (const n of plan.set) await run(out, `neigh replace ${ip4(n.dst)} lladdr ${n.mac}`, () => k.neighReplace(bridgeIndex, n.dst, n.mac), []);
  for (const ip of plan.del) await run(out, `neigh del ${ip4(ip)}`, () => k.neighDel(bridgeIndex, ip), ['ENOENT', 'ESRCH']);
  return out;
}

export async function applyHostRoutes(k: Kernel, plan: { set: HostRoute[]; del: HostRoute[] }): Promise<Applied> {
  const out: Applied = { ops: [], failed: [] };
  for (const r of plan.set) await run(out, `route replace ${ip4(r.dst)}/32 dev ${r.index} src ${ip4(r.src)}`, () => k.hostRouteReplace(r), []);
  for (const r of plan.del) await run(out, `route del ${ip4(r.dst)}/32 dev ${r.index}`, () => k.hostRouteDel(r), ['ESRCH', 'ENOENT']);
  return out;
}
