// Layer: agent (kernel events). Contract: what a kernel event asks of the
// agent, as Actions: an event about the physical interface has it read
// again; one that touches what the dataplane keeps has the kernel repaired
// against the value already given; lost events (a receive overrun) have
// both, with a fresh Desired value. Most events ask nothing. A breach of our
// ingress filter holds the overlay down unless the guard table covers it.

import type { Logger } from '../log.js';
import type { KernelEvent } from '../kernel/types.js';
import { NOTHING, type Actions } from './actions.js';
import type { Counters } from './records/counters.js';

export interface EventJudges {
  underlay: { concerns(e: KernelEvent): boolean };
  loop: { relevant(e: KernelEvent): boolean };
  counters: Counters;
}

export function kernelEventActions(e: KernelEvent, j: EventJudges, log: Logger): Actions {
  if (e.type === 'resync') {
    j.counters.kernelResyncs++;
    log.warn({ reason: e.reason }, 'kernel events lost; resyncing from a full dump');
    return { reread: true, reprogram: 'full' };
  }
  const reread = j.underlay.concerns(e);
  const repair = j.loop.relevant(e);
  return reread || repair ? { reread, reprogram: repair ? 'repair' : undefined } : NOTHING;
}

/**
 * Someone deleted or changed our ingress filter. Unless the guard table
 * drops unvetted VXLAN meanwhile, the overlay is held down now; the repair
 * puts the filter back, then the overlay.
 */
export function filterBreach(guarded: boolean, log: Logger): 'repair' | 'hold-down' {
  log.warn({ code: 'E_FILTER', guarded }, guarded
    ? 'the VXLAN ingress filter was changed by someone else; restoring it (the guard table holds meanwhile)'
    : 'the VXLAN ingress filter was changed by someone else; overlay held down while it is restored');
  return guarded ? 'repair' : 'hold-down';
}
