// Benchmark report (renumbering under floods). Contract: the rows of
// flood.ts's results — recovery, CPU and what reached the victim under each
// attack, beside the quiet trials of the same run.

import { round, summarize } from './stats.js';
import { pctl, type Row } from './format.js';
import { ATTACKS, type Attack, type FloodRun } from './flood.js';

/** Renumbering under a flood: the flooded trials beside the quiet ones of the same run. */
export function floodRows(f: FloodRun): Row[] {
  const q = summarize(f.quiet.recoveryMs);
  const fl = summarize(f.flooded.recoveryMs);
  const cpu = summarize(f.flooded.cpuPercent);
  const lost = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
  return [
    {
      metric: 'recovery under a forged-announcement flood (one host renumbered)',
      measured: `flooded ${pctl(f.flooded.recoveryMs)}, ${f.flooded.failures} not recovered; `
        + `quiet ${pctl(f.quiet.recoveryMs)}, ${f.quiet.failures} not recovered`,
      target: 'as without the flood (median ≤ quiet + 20 ms)',
      ok: fl.median <= q.median + 20 && f.flooded.failures === 0,
    },
    {
      metric: 'flooded agent CPU',
      measured: `median ${round(cpu.median)} %, max ${round(cpu.max)} % of one core (event loop busy: `
        + `median ${round(summarize(f.flooded.busyPercent).median)} % of the time); quiet: `
        + `median ${round(summarize(f.quiet.cpuPercent).median)} %`,
      // a starved agent uses little CPU but never idles: a saturated event loop misses the target too
      target: '≤ 30 % (event loop busy ≤ 50 %)', ok: cpu.max <= 30 && summarize(f.flooded.busyPercent).max <= 50,
    },
    {
      metric: 'forged flood offered',
      measured: `median ${Math.round(summarize(f.flooded.offeredPps).median)} packets/s `
        + `sent, ${Math.round(summarize(f.flooded.reachedPps).median)}/s reached the victim's NIC`,
      target: '—', ok: undefined,
    },
    {
      metric: 'announcements lost during renumbering',
      measured: `flooded ${lost(f.flooded.lostAnnouncements)}, quiet ${lost(f.quiet.lostAnnouncements)} `
        + `(over ${f.trials} trials each)`,
      target: '—', ok: undefined,
    },
    ...attackRows(f, q.median),
  ];
}

/** The other attacks, each beside the same quiet trials: recovery, the victim's CPU, what reached it. */
function attackRows(f: FloodRun, quiet: number): Row[] {
  return Object.entries(f.attacks ?? {}).flatMap(([kind, a]) => {
    if (!a?.recoveryMs.length && !a?.failures) return [];
    const s = summarize(a.recoveryMs);
    return [{
      metric: `recovery under a flood: ${ATTACKS[kind as Attack]}`,
      measured: `${pctl(a.recoveryMs)}, ${a.failures} not recovered; agent CPU median `
        + `${round(summarize(a.cpuPercent).median)} % (max ${round(summarize(a.cpuPercent).max)} %); `
        + `${Math.round(summarize(a.offeredPps).median)} packets/s sent, `
        + `${Math.round(summarize(a.reachedPps).median)}/s reached the victim's NIC`,
      target: 'median ≤ quiet + 20 ms', ok: s.median <= quiet + 20 && a.failures === 0,
    }];
  });
}
