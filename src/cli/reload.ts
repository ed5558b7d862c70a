// Layer: main (SIGHUP). Contract: compares the configuration the agent runs
// with a freshly read one and says what can change live (log level, seeds,
// the key file) and what cannot (everything that names devices, ports, the
// cluster or its addresses), with one line per refused key. Pure.

import { formatCidr } from '../net/ipv4.js';
import type { Resolved } from '../config/config.js';

export interface ReloadPlan {
  logLevel?: Resolved['logLevel'];
  seeds?: Resolved['agent']['seeds'];
  /** always re-read: rotation edits the file, not the setting */
  keyFile: string;
  /** one line per setting that needs a restart (or can never change) */
  refused: string[];
}

const str = (v: unknown): string =>
  (v === undefined ? '(unset)' : typeof v === 'object' ? JSON.stringify(v) : String(v));

export function planReload(cur: Resolved, next: Resolved): ReloadPlan {
  const plan: ReloadPlan = { keyFile: next.keyFile, refused: [] };
  if (next.logLevel !== cur.logLevel) plan.logLevel = next.logLevel;
  if (JSON.stringify(next.agent.seeds) !== JSON.stringify(cur.agent.seeds)) plan.seeds = next.agent.seeds;
  const a = cur.agent;
  const b = next.agent;
  const never = (key: string, x: string, y: string, why: string): void => {
    if (x !== y) plan.refused.push(`${key} cannot change (${x} -> ${y}): ${why}`);
  };
  never('overlayCidr', formatCidr(a.cidr), formatCidr(b.cidr),
    'it is fixed for the life of the cluster; this host keeps its persisted address');
  never('vni', String(a.vni), String(b.vni),
    'every host of the cluster must use the same VNI; change it everywhere and restart');
  never('cluster', a.cluster, b.cluster, 'the state of this host belongs to its cluster');
  const restart: [string, unknown, unknown][] = [
    ['interface', a.interface, b.interface], ['bridge', a.bridge, b.bridge],
    ['vxlanDevice', a.vxlanDevice, b.vxlanDevice], ['vxlanPort', a.vxlanPort, b.vxlanPort],
    ['discoveryPort', a.discoveryPort, b.discoveryPort], ['stateDir', a.stateDir, b.stateDir],
    ['runDir', a.runDir, b.runDir], ['overlayIp', a.pinnedIp, b.pinnedIp],
    ['metricsListen', cur.metricsListen, next.metricsListen], ['underlay', a.underlay, b.underlay],
  ];
  for (const [key, x, y] of restart) {
    if (str(x) !== str(y)) {
      plan.refused.push(`${key} cannot change while the agent runs (${str(x)} -> ${str(y)}); `
        + 'restart the agent to apply it');
    }
  }
  return plan;
}
