// Benchmark report (IPv4 renumbering against the previous release). Contract:
// the rows that set the agent on IPv4 beside release 0.1.0 and the hand-run
// reference, all three measured in the same run with interleaved trials:
// recovery, the outage a 5 ms ping sees when every host renumbers (from the
// last answer before to the first after), and the longest TCP silence. No
// rows for results of a run made before the release was measured.

import { round } from './stats.js';
import { med, ms, pctl, type Row } from './format.js';
import type { RecoveryResults } from './recovery.js';

export function releaseRows(rec: RecoveryResults): Row[] {
  const { agent, reference, release } = rec;
  if (!release) return [];
  const v = release.version;
  const outage = { agent: med(agent.maxGapMs?.all), release: med(release.maxGapMs?.all),
    reference: med(reference.maxGapMs?.all) };
  const ratio = (x: number): string => `${round(x / outage.reference, 2)}×`;
  return [
    { metric: `recovery, IPv4 (release ${v}, same run)`,
      measured: `one host ${pctl(release.oneMs)}; all hosts ${pctl(release.allMs)}; ${release.failures} not recovered`,
      target: '—', ok: undefined },
    { metric: 'outage seen by a 5 ms ping, all hosts renumbered (IPv4)',
      measured: `agent ${ms(outage.agent)} (${ratio(outage.agent)} the reference's); release ${v} `
        + `${ms(outage.release)} (${ratio(outage.release)}); reference ${ms(outage.reference)} (medians)`,
      target: 'agent ≤ 0.6× the reference\'s', ok: outage.agent / outage.reference <= 0.6 },
    { metric: 'TCP longest gap across every renumbering (IPv4)',
      measured: `agent ${ms(agent.tcp.maxGapMs)}; release ${v} ${ms(release.tcp.maxGapMs)}; `
        + `reference ${ms(reference.tcp.maxGapMs)}`,
      target: 'agent ≤ reference', ok: agent.tcp.maxGapMs <= reference.tcp.maxGapMs },
  ];
}
