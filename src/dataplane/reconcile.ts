// Layer: dataplane (reconcile steps). Contract: reconcileFull() makes the
// kernel match `desired` from fresh dumps — the ingress filter, devices, our
// address, then the peers' part; reconcileFast() does only the peers' part,
// diffed against the model the last run left. Fail closed: the VXLAN device
// is up only while the filter is in force (when there is one). Both log and
// schedule nothing: they return what they did, the new model (undefined: dump
// the kernel next time) and the status, as values.

import type { Clock } from '../clock.js';
import { contains, type Cidr, type Ipv4 } from '../net/ipv4.js';
import type { Ipv6 } from '../net/ipv6.js';
import type { Family } from '../policy/family.js';
import type { FdbEntry, HostRoute, Kernel, Neigh } from '../kernel/types.js';
import type { Firewall } from '../firewall/types.js';
import { ensureBridge, ensureOverlayAddress, ensureVxlan, VXLAN_OVERHEAD, VXLAN_OVERHEAD_V6 } from './devices.js';
import { desiredFdb, planFdb, planHostRoutes, planNeigh } from './plan.js';
import { applyArpFlush, applyFdb, applyHostRoutes, applyNeigh, type Applied } from './apply.js';
import type { Desired } from './desired.js';

export interface DataplaneSpec {
  iface: string;
  bridge: string;
  vxlanDevice: string;
  vni: number;
  vxlanPort: number;
  mac: string;
  cidr: Cidr;
  vip: Ipv4;
}

interface Devices {
  phys: number;
  bridge: number;
  vxlan: number;
}

/** What the kernel holds after a successful run (the fast path diffs against it). */
export interface Model extends Devices {
  ownIp: Ipv4 | undefined;
  family: Family;
  linkLocal: Ipv6 | undefined;
  fdb: FdbEntry[];
  neigh: Neigh[];
  routes: HostRoute[];
}

export interface DataplaneStatus {
  ready: boolean;
  physIndex: number | undefined;
  bridgeIndex: number | undefined;
  vxlanIndex: number | undefined;
  mtu: number | undefined;
  /** what the VXLAN device carries VXLAN over (undefined: no device yet) */
  family: Family | undefined;
  /** wall time and duration (ms) of the last finished run */
  lastAt: number | undefined;
  lastMs: number | undefined;
  /** wall time the dataplane last became ready */
  readySince: number | undefined;
  /** wall time of the last run that changed anything in the kernel */
  lastChangeAt: number | undefined;
  fdbEntries: number;
  neighEntries: number;
  lastError: string | undefined;
  /** the cluster VIP is on the bridge (kube-vip put it here: this host is its leader) */
  holdsVip: boolean;
}

export const INITIAL_STATUS: DataplaneStatus = {
  ready: false, physIndex: undefined, bridgeIndex: undefined, vxlanIndex: undefined, mtu: undefined, family: undefined,
  lastAt: undefined, lastMs: undefined, readySince: undefined, lastChangeAt: undefined, fdbEntries: 0, neighEntries: 0,
  lastError: undefined, holdsVip: false,
};

/** Something a run did or found that an operator should read about. */
export type Note =
  | { kind: 'no-interface' }
  | { kind: 'no-link-local'; ifname: string }
  | { kind: 'device'; ifname: string; changes: string[] }
  | { kind: 'address'; ifname: string; ip: Ipv4; changes: string[] }
  | { kind: 'address-removed'; ifname: string; ip: Ipv4 }
  | { kind: 'vip'; ifname: string; held: boolean }
  | { kind: 'filter-failed'; err: unknown };

export interface RunResult {
  notes: Note[];
  /** kernel operations applied (or failed), by device */
  applied: (Applied & { ifname: string })[];
  model: Model | undefined;
  status: DataplaneStatus;
}

export interface RunEnv {
  kernel: Kernel;
  spec: DataplaneSpec;
  clock: Clock;
  /** the VXLAN ingress filter, if any: updated before the FDB */
  firewall: Firewall | undefined;
}

/** The full run: devices and address checked, everything diffed against fresh dumps. */
export async function reconcileFull(env: RunEnv, desired: Desired, prev: DataplaneStatus): Promise<RunResult> {
  const { kernel: k, spec, clock } = env;
  const t0 = clock.monotonic();
  const phys = await k.linkByName(spec.iface);
  if (!phys) {
    const status = { ...prev, ready: false, readySince: undefined, physIndex: undefined };
    return { notes: [{ kind: 'no-interface' }], applied: [], model: undefined, status };
  }
  const ll = desired.family === 'link-local';
  if (ll && desired.linkLocal === undefined) { // nothing to send from yet: leave the devices as they are
    const status = {
      ...prev, ready: false, readySince: undefined, physIndex: phys.index,
      lastError: `waiting for an IPv6 link-local address on ${spec.iface}`,
    };
    return { notes: [{ kind: 'no-link-local', ifname: spec.iface }], applied: [], model: undefined, status };
  }
  const notes: Note[] = [];
  // The filter before the VXLAN device comes up: VXLAN from strangers must never reach the bridge, not even at boot.
  const filtered = await applyFilter(env, desired, notes);
  const mtu = phys.mtu - (ll ? VXLAN_OVERHEAD_V6 : VXLAN_OVERHEAD);
  const br = await ensureBridge(k, { name: spec.bridge, mtu, mac: spec.mac });
  if (br.changes.length) notes.push({ kind: 'device', ifname: spec.bridge, changes: br.changes });
  const vx = await ensureVxlan(k, {
    name: spec.vxlanDevice, vni: spec.vni, port: spec.vxlanPort, link: phys.index, mtu, master: br.index, up: filtered,
    local6: ll ? desired.linkLocal : undefined,
  });
  if (vx.changes.length) notes.push({ kind: 'device', ifname: spec.vxlanDevice, changes: vx.changes });

  const own = desired.ownIp;
  const owned = (ip: Ipv4): boolean => contains(spec.cidr, ip) && ip !== spec.vip && ip !== own;
  const addr = await ensureOverlayAddress(k, { index: br.index, name: spec.bridge }, own, spec.cidr.prefix, owned);
  if (own !== undefined && addr.changes.length) {
    notes.push({ kind: 'address', ifname: spec.bridge, ip: own, changes: addr.changes });
  }
  for (const ip of addr.removed) notes.push({ kind: 'address-removed', ifname: spec.bridge, ip });
  const holdsVip = addr.addrs.some((a) => a.address === spec.vip);
  if (holdsVip !== prev.holdsVip) notes.push({ kind: 'vip', ifname: spec.bridge, held: holdsVip });

  const devices = { phys: phys.index, bridge: br.index, vxlan: vx.index };
  const actual = { fdb: await k.fdb(vx.index), neigh: await k.neighs(br.index), routes: await k.hostRoutes() };
  const status = {
    ...prev, physIndex: phys.index, bridgeIndex: br.index, vxlanIndex: vx.index, mtu, family: desired.family, holdsVip,
  };
  const r = await reconcilePeers(env, devices, desired, actual, status, t0, filtered);
  return { ...r, notes: [...notes, ...r.notes] };
}

/**
 * The fast path: only the peers changed; diff against what the last run left.
 * Undefined: a full run's job (our own address or the family moved, or the filter failed).
 */
export async function reconcileFast(
  env: RunEnv, model: Model, desired: Desired, prev: DataplaneStatus,
): Promise<RunResult | undefined> {
  if (desired.ownIp !== model.ownIp || desired.family !== model.family || desired.linkLocal !== model.linkLocal) {
    return undefined;
  }
  // The filter first: a peer's new underlay address must be let in before
  // the FDB sends it traffic whose replies come from there.
  const notes: Note[] = [];
  if (!(await applyFilter(env, desired, notes))) return undefined;
  const r = await reconcilePeers(env, model, desired, model, prev, env.clock.monotonic(), true);
  return { ...r, notes: [...notes, ...r.notes] };
}

/** Applies the filter; true when it is in force (or there is none). */
async function applyFilter(env: RunEnv, want: Desired, notes: Note[]): Promise<boolean> {
  if (!env.firewall) return true;
  try {
    await env.firewall.apply(want.filter);
  } catch (err) {
    notes.push({ kind: 'filter-failed', err });
  }
  return env.firewall.working;
}

/** On-link routes, FDB and neighbour entries: the part that follows the peers. */
async function reconcilePeers(
  env: RunEnv, dev: Devices, want: Desired, actual: { fdb: FdbEntry[]; neigh: Neigh[]; routes: HostRoute[] },
  prev: DataplaneStatus, t0: number, filtered: boolean,
): Promise<RunResult> {
  const { kernel: k, spec, clock } = env;
  const notes: Note[] = [];
  // On-link /32 routes before the FDB: VXLAN to a peer in another subnet of
  // our segment needs them (and its answers pass rp_filter thanks to its own).
  const under = want.underlayIp;
  const hostWant: HostRoute[] = under === undefined
    ? []
    : want.onLink.map((dst) => ({ dst, index: dev.phys, src: under }));
  const routesDone = await applyHostRoutes(k, planHostRoutes(hostWant, actual.routes));
  const fdbWant = desiredFdb(want.routes,
    want.family === 'ipv4' ? { family: 'ipv4' } : { family: 'link-local', via: dev.phys });
  const fdbPlan = planFdb(fdbWant, actual.fdb);
  const fdbDone = await applyFdb(k, dev.vxlan, fdbPlan);
  const arpDone = await applyArpFlush(k, dev.phys, fdbPlan.flushArp);
  const neighWant = want.neigh;
  const neighDone = await applyNeigh(k, dev.bridge, planNeigh(want.routes, actual.neigh, spec.cidr, spec.vip));

  const applied = [
    { ifname: spec.iface, ...routesDone },
    { ifname: spec.vxlanDevice, ...fdbDone },
    { ifname: spec.iface, ...arpDone },
    { ifname: spec.bridge, ...neighDone },
  ];
  const now = clock.now();
  const failed = applied.reduce((n, a) => n + a.failed.length, 0);
  const changed = applied.some((a) => a.ops.length > 0);
  const ready = failed === 0 && want.ownIp !== undefined && filtered;
  const status: DataplaneStatus = {
    ...prev, ready, readySince: ready === prev.ready ? prev.readySince : ready ? now : undefined,
    lastAt: now, lastMs: clock.monotonic() - t0, lastChangeAt: changed ? now : prev.lastChangeAt,
    fdbEntries: fdbWant.length, neighEntries: neighWant.size,
    lastError: !filtered ? 'the VXLAN ingress filter is not in force: the VXLAN device is held down (fail closed)'
      : failed > 0 ? `${failed} dataplane operation(s) failed` : undefined,
  };
  const model = failed > 0 || !filtered ? undefined : { // the kernel is not what we think: the next run dumps it
    ...dev, ownIp: want.ownIp, family: want.family, linkLocal: want.linkLocal, fdb: fdbWant, routes: hostWant,
    neigh: [...neighWant].map(([dst, mac]) => ({ index: dev.bridge, dst, mac, permanent: true })),
  };
  return { notes, applied, model, status };
}
