// Layer: dataplane policy (pure). Contract: does a kernel event touch what
// the dataplane manages — our devices, our address, the FDB and neighbour
// entries we keep? Events that merely confirm our own changes do not.

import { contains } from '../net/ipv4.js';
import type { KernelEvent } from '../kernel/types.js';
import type { Wanted } from './desired.js';
import type { DataplaneSpec, DataplaneStatus } from './reconcile.js';
import { fdbKey } from './plan.js';

export function touchesDataplane(e: KernelEvent, s: DataplaneStatus, spec: DataplaneSpec, wanted: Wanted): boolean {
  switch (e.type) {
    case 'resync':
      return true;
    case 'link':
      return e.index === s.physIndex || e.index === s.bridgeIndex || e.index === s.vxlanIndex
        || e.name === spec.iface || e.name === spec.bridge || e.name === spec.vxlanDevice;
    case 'addr':
      return e.index === s.bridgeIndex && contains(spec.cidr, e.address);
    case 'addr6':
      return false; // our link-local address is the underlay watcher's (agent/underlay/watcher.ts)
    case 'fdb': {
      if (e.index !== s.vxlanIndex || !e.self || e.dst === undefined) return false;
      const kept = wanted.fdb.has(fdbKey({ mac: e.mac, dst: e.dst }));
      return e.op === 'del' ? kept : !kept;
    }
    case 'neigh': {
      if (e.index !== s.bridgeIndex) return false;
      const want = wanted.neigh.get(e.dst);
      if (want === undefined) return e.op === 'new' && e.permanent && contains(spec.cidr, e.dst) && e.dst !== spec.vip;
      return e.op === 'del' || e.mac !== want || !e.permanent;
    }
  }
}
