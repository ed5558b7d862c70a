// Benchmark report (renumbering under floods). Contract: the rows of
// flood.ts's results — recovery, CPU and what reached the victim under each
// attack, beside the quiet trials of the same run.

import { round, summarize } from './stats.js';
import { med, medMax, pct, pctl, type Row } from './format.js';
import { ATTACKS, type Attack, type FloodRun } from './flood.js';

/** Renumbering under a flood: the flooded trials beside the quiet ones of the same run. */
export function floodRows(f: FloodRun): Row[] {
  const q = summarize(f.quiet.recoveryMs);
  const fl = summarize(f.flooded.recoveryMs);
  const cpu = summarize(f.flooded.cpuPercent);
  const busy = summarize(f.flooded.busyPercent);
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
        + `median ${round(busy.median)} % of the time); quiet: median ${pct(med(f.quiet.cpuPercent))}`,
      // a starved agent uses little CPU but never idles: a saturated event loop misses the target too
      target: '≤ 30 % (event loop busy ≤ 50 %)', ok: cpu.max <= 30 && busy.max <= 50,
    },
    {
      metric: 'forged flood offered',
      measured: `median ${Math.round(med(f.flooded.offeredPps))} packets/s `
        + `sent, ${Math.round(med(f.flooded.reachedPps))}/s reached the victim's NIC`,
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
      measured: `${pctl(a.recoveryMs)}, ${a.failures} not recovered; agent CPU ${medMax(a.cpuPercent, pct)}; `
        + `${Math.round(med(a.offeredPps))} packets/s sent, `
        + `${Math.round(med(a.reachedPps))}/s reached the victim's NIC`,
      target: 'median ≤ quiet + 20 ms', ok: s.median <= quiet + 20 && a.failures === 0,
    }];
  });
}
