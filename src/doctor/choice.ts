// Layer: doctor (which interface the checks look at). Contract: the
// configured one; without it, the one the agent uses or would use — the
// running agent's, the one kept in the state, or the one agent/underlay/iface.ts
// chooses from the kernel's view (the same function the agent uses) — with
// one line saying which. None: `iface` is undefined and the line says why;
// the interface check fails with it and the checks that need one are skipped.

import type { StatusReport } from '../agent/records/status.js';
import { chooseInterface, sourceText, type RouteView } from '../agent/underlay/iface.js';

export interface DoctorInterface {
  iface: string | undefined;
  /** how it was found (undefined when configured) */
  note: string | undefined;
}

export interface DoctorInterfaceInput {
  /** `interface:` / --interface ('' when not given) */
  configured: string;
  /** the running agent's status, if one answers */
  status: StatusReport | undefined;
  /** the interface kept in the state file, if any */
  kept: string | undefined;
  kernel: RouteView;
  /** our bridge and VXLAN device */
  ours: readonly string[];
  stateDir: string;
}

const NONE = 'no interface configured';

export async function doctorInterface(i: DoctorInterfaceInput): Promise<DoctorInterface> {
  if (i.configured) return { iface: i.configured, note: undefined };
  if (i.status) {
    return {
      iface: i.status.node.interface,
      note: `${NONE}: checking ${i.status.node.interface}, the running agent's interface`,
    };
  }
  if (i.kept) {
    return {
      iface: i.kept,
      note: `${NONE}: checking ${i.kept}, kept in ${i.stateDir} since the agent chose it at its first start`,
    };
  }
  let c;
  try {
    c = await chooseInterface(undefined, undefined, i.kernel, i.ours);
  } catch (err) {
    return { iface: undefined, note: `${NONE}, and the default routes cannot be read (${(err as Error).message})` };
  }
  if (!c) {
    return {
      iface: undefined,
      note: `${NONE}, none kept in ${i.stateDir}, no default route and not exactly one NIC: `
        + 'the agent would wait for a default route',
    };
  }
  const what = c.source === 'only-nic' ? sourceText(c.source) : `${sourceText(c.source)} interface`;
  return { iface: c.ifname, note: `${NONE}: checking ${c.ifname}, ${what} (the agent will choose it at first start)` };
}
