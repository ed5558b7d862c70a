// Benchmark report (underlay rows). Contract: the rows that set IPv6
// link-local beside IPv4 — probes lost and silences during renumbering, mesh
// formation without DHCP, throughput, the family-switch interruption — from
// the results of recovery.ts, mesh-nodhcp.ts, datapath.ts and
// family-switch.ts. Each returns no rows for results of a run made before
// link-local existed.

import { round } from './stats.js';
import { medMax, ms, pctl, type Row } from './format.js';
import type { RecoveryResults, RecoveryRun } from './recovery.js';
import type { NoDhcpMeshRun } from './mesh-nodhcp.js';
import type { DatapathRun } from './datapath.js';
import type { FamilySwitchRun, SwitchTrials } from './family-switch.js';

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const count = (x: number): string => String(round(x));

/**
 * Probes lost and the longest silence, link-local beside the IPv4
 * agent and the reference (same run, interleaved trials).
 */
export function renumberingLossRows(rec: RecoveryResults): Row[] {
  const ll = rec.linkLocal;
  if (!ll?.lost || !ll.maxGapMs) return [];
  const others: [string, RecoveryRun][] = [['agent IPv4', rec.agent], ['reference', rec.reference]];
  const out: Row[] = [];
  for (const [kind, what] of [['one', 'one host renumbered'], ['all', 'all hosts renumbered']] as const) {
    const lost = ll.lost[kind];
    out.push({
      metric: `probes lost, ${what} (5 ms ping)`,
      measured: `link-local ${sum(lost)} in ${lost.length} probed trials; `
        + `${others.map(([name, r]) => `${name} ${medMax(r.lost?.[kind], count)} per trial`).join('; ')}`,
      target: 'link-local: 0 lost', ok: lost.length > 0 && sum(lost) === 0,
    });
    out.push({
      metric: `longest gap between answers, ${what}`,
      measured: `link-local ${medMax(ll.maxGapMs[kind], ms)}; `
        + `${others.map(([name, r]) => `${name} ${medMax(r.maxGapMs?.[kind], ms)}`).join('; ')}`,
      target: '—', ok: undefined,
    });
  }
  out.push({
    metric: 'TCP across every renumbering (agent, link-local)',
    measured: `${ll.tcp.survived ? 'survived' : `FAILED (${ll.tcp.error ?? 'closed'})`}, `
      + `longest gap ${ll.tcp.maxGapMs} ms, ${ll.tcp.echoedBytes}/${ll.tcp.sentBytes} B echoed`,
    target: 'never resets', ok: ll.tcp.survived,
  });
  return out;
}

/** Mesh formation with no DHCP server: link-local forms one; IPv4 cannot (no address to send from or to). */
export function noDhcpRows(m: NoDhcpMeshRun): Row[] {
  const ll = m.linkLocal;
  const v4 = m.ipv4;
  const llText = ll.meshMs.length
    ? `${pctl(ll.meshMs)} from the last agent start until all ${m.pairsTotal} pairs had answered (last kernel `
      + `change: ${medMax(ll.kernelMs, ms)})`
      + `${ll.noMesh ? `; ${ll.noMesh} trials formed no mesh` : ''}`
    : `no mesh in ${ll.noMesh} trials`;
  const v4Text = v4.noMesh
    ? `no mesh (no IPv4 address): ${v4.pairsAtTimeout.join(', ')}/${m.pairsTotal} pairs answered `
      + `within ${round(m.ipv4TimeoutMs / 1000)} s; `
      + (v4.metAtTimeout.every(Boolean) ? 'the agents had met over raw L2 and claimed their overlay addresses'
        : 'not every agent had met the others')
    : pctl(v4.meshMs);
  return [
    { metric: `mesh without DHCP, ${m.hosts} hosts (link-local)`, measured: llText, target: '—', ok: undefined },
    { metric: `mesh without DHCP, ${m.hosts} hosts (IPv4)`, measured: v4Text, target: '—', ok: undefined },
  ];
}

/** The link-local overlay's throughput against the IPv4 agent's, per round. */
export function linkLocalThroughputRows(d: DatapathRun, perRound: (a: string, b: string) => number): Row[] {
  if (!d.gbps['link-local']?.length || !d.gbps.agent?.length) return [];
  return [{
    metric: 'link-local / IPv4 agent throughput',
    measured: `${round(perRound('link-local', 'agent'), 3)} (median of per-round ratios; `
      + `overlay MTU 1430 against 1450)`,
    target: '—', ok: undefined,
  }];
}

const switchText = (t: SwitchTrials): string =>
  `${medMax(t.lost, count)} probes lost, longest gap ${medMax(t.maxGapMs, ms)} (n=${t.lost.length}); `
    + `the hosts decided within ${medMax(t.spreadMs, ms)} of each other`;

/** The interruption while every host rebuilds its VXLAN device for the other family. */
export function familySwitchRows(f: FamilySwitchRun): Row[] {
  return [
    { metric: 'family switch link-local → IPv4 (a host without IPv6 joins), ping every 5 ms',
      measured: switchText(f.toIpv4), target: '—', ok: undefined },
    { metric: 'family switch IPv4 → link-local (that host forgotten), ping every 5 ms',
      measured: switchText(f.toLinkLocal), target: '—', ok: undefined },
  ];
}
