// Benchmark report: the console summary table and BENCHMARKS.md, both made
// from one results object, so the document always states what the last full
// run measured. Targets are checked here; a missed one says so with the
// figure (the analysis of why lives in bench/notes.md, included verbatim).

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../test/lab/lab.js';
import { round, summarize } from './stats.js';
import { med, ms, pctl, type Row } from './format.js';
import { familySwitchRows, linkLocalThroughputRows, noDhcpRows, renumberingLossRows } from './report-underlay.js';
import { releaseRows } from './report-release.js';
import { floodRows } from './report-flood.js';
import type { Results } from './results.js';

export function rows(r: Results): Row[] {
  const out: Row[] = [];
  if (r.recovery) {
    const { agent, reference } = r.recovery; // agent: on IPv4 (--underlay ipv4), as the reference
    const a = summarize([...agent.oneMs, ...agent.allMs]);
    const ref = summarize([...reference.oneMs, ...reference.allMs]);
    out.push({ metric: 'recovery, one host renumbered (agent, IPv4)', measured: pctl(agent.oneMs),
      target: 'median ≤ 10 ms', ok: summarize(agent.oneMs).median <= 10 });
    out.push({ metric: 'recovery, all hosts renumbered (agent, IPv4)', measured: pctl(agent.allMs),
      target: 'median ≤ 100 ms', ok: summarize(agent.allMs).median <= 100 });
    out.push({ metric: 'recovery, all trials (agent, IPv4)',
      measured: `p99 ${ms(a.p99)}, ${agent.failures} not recovered`, target: 'p99 ≤ 500 ms',
      ok: a.p99 <= 500 && agent.failures === 0 });
    out.push({ metric: 'recovery, all trials (hand-run reference)',
      measured: `${pctl([...reference.oneMs, ...reference.allMs])}, ${reference.failures} not recovered`, target: '—',
      ok: undefined });
    out.push({ metric: 'agent / reference, IPv4 (medians)', measured: `${round(a.median / ref.median, 2)}×`,
      target: '≤ 1.2×', ok: a.median / ref.median <= 1.2 });
    out.push({ metric: 'TCP across every renumbering (agent, IPv4)',
      measured: `${agent.tcp.survived ? 'survived' : `FAILED (${agent.tcp.error ?? 'closed'})`}, `
        + `longest gap ${agent.tcp.maxGapMs} ms, ${agent.tcp.echoedBytes}/${agent.tcp.sentBytes} B echoed`,
      target: 'never resets', ok: agent.tcp.survived });
    out.push({ metric: 'TCP across every renumbering (reference)',
      measured: `${reference.tcp.survived ? 'survived' : 'FAILED'}, longest gap ${reference.tcp.maxGapMs} ms`,
      target: '—', ok: undefined });
    out.push(...renumberingLossRows(r.recovery));
    out.push(...releaseRows(r.recovery));
  }
  for (const m of r.mesh ?? []) {
    const s = summarize(m.fromLastReadyMs);
    out.push({
      metric: `mesh formation, ${m.hosts} hosts`,
      measured: `${pctl(m.fromLastReadyMs)} after the last ready; ${pctl(m.fromLastStartMs)} after the last `
        + `start; ${m.pairsOk}/${m.pairsTotal} pairs ping`,
      target: m.hosts >= 30 ? '≤ 2 s after the last ready' : '—',
      ok: m.hosts >= 30 ? s.median <= 2000 && m.pairsOk === m.pairsTotal : undefined,
    });
  }
  if (r.meshNoDhcp) out.push(...noDhcpRows(r.meshNoDhcp));
  if (r.footprint) {
    const f = r.footprint;
    out.push({ metric: `idle RSS, ${f.peers} peers`,
      measured: `${round(f.rssMaxMB)} MB max, ${round(f.rssEndMB)} MB at the end`, target: '≤ 64 MB',
      ok: f.rssMaxMB <= 64 });
    out.push({ metric: `idle CPU, ${f.peers} peers, ${f.windowS} s`,
      measured: `${round(f.cpuPercentOfOneCore, 3)} % of one core`, target: '≤ 0.2 %',
      ok: f.cpuPercentOfOneCore <= 0.2 });
    out.push({ metric: 'idle traffic from one agent', measured: `${round(f.announcementsPerS, 2)} `
      + `announcements/s, ${round(f.lanBytesPerS)} B/s (${round(f.lanPacketsPerS, 2)} packets/s) on the LAN`,
      target: '—', ok: undefined });
  }
  if (r.scale) {
    const s = r.scale;
    out.push({ metric: `program ${s.peers} new peers (FDB + neighbours)`, measured: pctl(s.programMs),
      target: '≤ 200 ms', ok: summarize(s.programMs).median <= 200 });
    out.push({ metric: `reprogram after all ${s.peers} renumber at once`, measured: pctl(s.reprogramMs),
      target: '≤ 200 ms', ok: summarize(s.reprogramMs).median <= 200 });
    out.push({ metric: `load generator: ${s.peers} announcements sent in`,
      measured: `${pctl(s.sendMs ?? [])} (counted in both figures above)`, target: '—', ok: undefined });
    // a stranger's first announcement waits for its answer to our
    // challenge (first contact): dropped by design, once each
    const firstContact = s.dropped.unconfirmed ?? 0;
    const drops = Object.entries(s.dropped).filter(([k]) => k !== 'unconfirmed').map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none';
    out.push({
      metric: 'netlink overruns, dropped announcements',
      measured: `${s.kernelResyncs} overruns; drops: ${drops}`
        + `${firstContact ? ` (and ${firstContact} first-contact announcements held for a challenge)` : ''}`,
      target: 'none', ok: s.kernelResyncs === 0 && drops === 'none',
    });
  }
  if (r.datapath) {
    // Paths are measured back to back in each round: ratios are taken per
    // round (same moment, same machine load) and then their median.
    const g = r.datapath.gbps;
    const perRound =
      (a: string, b: string): number => summarize((g[a] ?? []).map((x, i) => x / (g[b]?.[i] ?? NaN))).median;
    const label: Record<string, string> = { agent: 'agent (IPv4)', 'link-local': 'agent (link-local)' };
    for (const k of Object.keys(g)) {
      const gbps = summarize(g[k] ?? []).median;
      out.push({ metric: `iperf3 ${label[k] ?? k}`, measured: `${round(gbps, 2)} `
        + `Gbit/s${k === 'physical' ? '' : `, ${round(perRound(k, 'physical'), 3)} of physical`}`, target: '—',
        ok: undefined });
    }
    const rel = perRound('agent', 'reference');
    out.push({ metric: 'agent / reference throughput (IPv4)', measured: `${round(rel, 3)} (median of per-round ratios)`,
      target: '≥ 0.97', ok: rel >= 0.97 });
    out.push(...linkLocalThroughputRows(r.datapath, perRound));
  }
  if (r.flood) out.push(...floodRows(r.flood));
  if (r.familySwitch) out.push(...familySwitchRows(r.familySwitch));
  if (r.startup) out.push(...startupRows(r.startup));
  return out;
}

/**
 * Start-up: each CLI case beside `node -e 0` of the same rounds; agent
 * restarts, bundle beside tree (0.2.0's layout: "before").
 */
function startupRows(s: NonNullable<Results['startup']>): Row[] {
  const medP90 = (xs: number[]): string => `median ${ms(med(xs))}, p90 ${ms(summarize(xs).p90)}`;
  // ratios within a round (or a pair of restarts), then their median
  const perPair = (a: number[], b: number[]): number => med(a.map((x, i) => x / (b[i] ?? NaN)));
  const c = s.cliMs;
  const vsNode = (xs: number[]): number => perPair(xs, c.node);
  const cli = (metric: string, xs: number[], target: boolean): Row => ({
    metric, measured: `${medP90(xs)}; ${round(vsNode(xs), 2)}× node -e 0`,
    target: target ? '≤ 1.5× node -e 0' : '—', ok: target ? vsNode(xs) <= 1.5 : undefined,
  });
  const { bundle, tree } = s.agent;
  const both = (f: (b: typeof bundle) => number[], unit: (x: number) => string): string =>
    `bundle ${unit(med(f(bundle)))}, before (tree) ${unit(med(f(tree)))}: `
      + `bundle/tree ${round(perPair(f(bundle), f(tree)), 2)} (n=${f(bundle).length}+${f(tree).length})`;
  const mb = (x: number): string => `${round(x)} MB`;
  return [
    { metric: 'CLI start-up: node -e 0 (baseline)', measured: `${medP90(c.node)} (n=${c.node.length} rounds)`,
      target: '—', ok: undefined },
    cli(`CLI start-up: node ${s.shebangFlags.join(' ')} -e 0`, c.nodeFlags, false),
    cli('edge-overlay --version (bundle)', c.bundleVersion, true),
    cli('edge-overlay status, no agent (bundle)', c.bundleStatus, true),
    cli('edge-overlay --version (before: module tree)', c.treeVersion, false),
    cli('edge-overlay status, no agent (before: module tree)', c.treeStatus, false),
    { metric: 'agent restart to READY=1 (overlay up)', measured: both((b) => b.readyMs, ms), target: '—',
      ok: undefined },
    { metric: 'agent restart to "agent started" log line', measured: both((b) => b.startedLogMs, ms), target: '—',
      ok: undefined },
    { metric: `agent RSS ${s.idleS} s after READY=1 (1 peer)`, measured: both((b) => b.idleRssMB, mb), target: '—',
      ok: undefined },
  ];
}


function table(rs: Row[]): string {
  const mark = (ok: boolean | undefined): string => (ok === undefined ? '' : ok ? 'met' : 'MISSED');
  return ['| metric | measured | target | |', '| --- | --- | --- | --- |',
    ...rs.map((x) => `| ${x.metric} | ${x.measured} | ${x.target} | ${mark(x.ok)} |`)].join('\n');
}

function console_(r: Results, rs: Row[]): string {
  const w = Math.max(...rs.map((x) => x.metric.length));
  const lines = rs.map((x) => `${x.ok === undefined ? ' ' : x.ok ? '✓' : '✗'} ${x.metric.padEnd(w)}  `
    + `${x.measured}${x.target !== '—' ? `   [target ${x.target}]` : ''}`);
  return `\nedge-overlay benchmarks${r.quick ? ' (QUICK smoke run: numbers are not meaningful)' : ''} `
    + `— ${r.machine.cores} × ${r.machine.cpu}, Linux ${r.machine.kernel}, `
    + `Node ${r.machine.node}, ${r.durationS} s\n`
    + `\n${lines.join('\n')}\n`;
}

/** Returns the console summary; writes BENCHMARKS.md to `path` when given. */
export function writeReport(r: Results, path: string | undefined): string {
  const rs = rows(r);
  if (path) {
    const notesFile = join(ROOT, 'bench', 'notes.md');
    const notes = existsSync(notesFile) ? readFileSync(notesFile, 'utf8').trim() : '';
    const method = readFileSync(join(ROOT, 'bench', 'method.md'), 'utf8').trim();
    const doc = [
      '# Benchmarks',
      '',
      `Generated by \`npm run bench\` on ${r.startedAt.slice(0, 10)} in ${r.durationS} s — do not edit by hand; `
        + `\`bench/method.md\` and \`bench/notes.md\` are included verbatim, `
        + `and \`bench/results.json\` holds every raw figure.`,
      '',
      `**Machine**: ${r.machine.cores} × ${r.machine.cpu}, Linux ${r.machine.kernel}, `
        + `Node ${r.machine.node}, ${r.machine.iperf3}. All hosts are network namespaces on this one machine, `
        + `so every figure shares the same ${r.machine.cores} cores; compare within a run, never across runs.`,
      '',
      '## Results',
      '',
      table(rs),
      '',
      method,
      '',
      notes,
      '',
    ].join('\n');
    writeFileSync(path, doc);
  }
  return console_(r, rs);
}
