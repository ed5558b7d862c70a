// `npm run bench [-- --quick] [-- --only NAME,...] [-- --report-only]`: the benchmarks of
// BENCHMARKS.md, in one run on this machine (root; network namespaces, real
// dnsmasq DHCP, the real agent). Prints one summary table, writes
// bench/results.json and regenerates BENCHMARKS.md. --quick is a smoke run
// (about two minutes) that keeps the scripts working; its numbers mean little.
// NAME: recovery, mesh, mesh-nodhcp, footprint, scale, datapath, flood, family-switch, startup.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { ROOT, labUnavailable, sh } from '../test/lab/lab.js';
import { recovery } from './recovery.js';
import { mesh } from './mesh.js';
import { meshNoDhcp } from './mesh-nodhcp.js';
import { footprint } from './footprint.js';
import { scale } from './scale.js';
import { datapath } from './datapath.js';
import { flood } from './flood.js';
import { familySwitch } from './family-switch.js';
import { startup } from './startup.js';
import { writeReport } from './report.js';
import type { Results } from './results.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.includes('--only') ? (args[args.indexOf('--only') + 1] ?? '').split(',') : undefined;
const want = (name: string): boolean => !only || only.includes(name);
const BENCHMARKS =
  ['recovery', 'mesh', 'mesh-nodhcp', 'footprint', 'scale', 'datapath', 'flood', 'family-switch', 'startup'];

const plan = quick
  ? { trials: 2, meshSizes: [[3, 1], [5, 1]] as [number, number][], footprintS: 5, settleS: 1, scalePeers: 50,
    scaleRounds: 1, iperfS: 1, iperfRounds: 1, floodTrials: 1,
    noDhcpTrials: 1, noDhcpIpv4TimeoutMs: 3000, switchTrials: 1,
    startup: { rounds: 5, restarts: 2, idleS: 3 } }
  : { trials: 15, meshSizes: [[3, 3], [10, 3], [30, 3], [50, 3]] as [number, number][], footprintS: 60, settleS: 13,
    scalePeers: 200, scaleRounds: 5, iperfS: 2, iperfRounds: 7, floodTrials: 10,
    noDhcpTrials: 5, noDhcpIpv4TimeoutMs: 10_000, switchTrials: 7,
    startup: { rounds: 30, restarts: 7, idleS: 20 } };

async function main(): Promise<void> {
  if (args.includes('--report-only')) {
    // bench/notes.md changed: rebuild BENCHMARKS.md from the last full run's figures
    const last = JSON.parse(readFileSync(join(ROOT, 'bench', 'results.json'), 'utf8')) as Results;
    process.stdout.write(writeReport(last, join(ROOT, 'BENCHMARKS.md')));
    return;
  }
  const unknown = (only ?? []).filter((n) => !BENCHMARKS.includes(n));
  if (unknown.length) throw new Error(`unknown benchmark ${unknown.join(', ')}; --only takes ${BENCHMARKS.join(',')}`);
  const why = labUnavailable();
  if (why) throw new Error(`cannot benchmark here: ${why}`);
  const t0 = Date.now();
  const results: Results = {
    quick, startedAt: new Date().toISOString(), durationS: 0,
    machine: { cpu: cpus()[0]?.model ?? '?', cores: cpus().length, kernel: release(), node: process.version,
      iperf3: sh('sh', ['-c', 'iperf3 --version 2>/dev/null | head -1']).trim() || 'not installed' },
  };
  const step =
    (s: string): void => { process.stderr.write(`[bench ${Math.round((Date.now() - t0) / 1000)}s] ${s}\n`); };
  if (want('recovery')) {
    step(`recovery after renumbering: agent on IPv4, agent on link-local, release 0.1.0 and hand-run `
      + `reference interleaved, ${plan.trials} trials each x (one host, all hosts)`);
    results.recovery = await recovery(plan.trials);
  }
  if (want('mesh')) {
    results.mesh = [];
    for (const [n, trials] of plan.meshSizes) {
      step(`mesh formation: ${n} hosts x ${trials}`);
      results.mesh.push(await mesh(n, trials));
    }
  }
  if (want('mesh-nodhcp')) {
    step(`mesh formation without DHCP: 3 hosts, link-local x ${plan.noDhcpTrials}, `
      + `IPv4 once (${plan.noDhcpIpv4TimeoutMs / 1000} s timeout)`);
    results.meshNoDhcp = await meshNoDhcp(3, plan.noDhcpTrials, plan.noDhcpIpv4TimeoutMs);
  }
  if (want('footprint')) {
    step(`footprint: idle agent with 10 peers for ${plan.footprintS} s`);
    results.footprint = await footprint(plan.footprintS, 10, plan.settleS);
  }
  if (want('scale')) {
    step(`scale: ${plan.scalePeers} peers from a load generator x ${plan.scaleRounds}`);
    results.scale = await scale(plan.scalePeers, plan.scaleRounds);
  }
  if (want('datapath')) {
    if (results.machine.iperf3 === 'not installed') step('data path: skipped, iperf3 is not installed');
    else {
      step(`data path: iperf3 ${plan.iperfS} s x ${plan.iperfRounds} rounds (physical, `
        + `agent on IPv4 and on link-local, reference and variants)`);
      results.datapath = await datapath(plan.iperfS, plan.iperfRounds);
    }
  }
  if (want('flood')) {
    step(`renumbering under floods (forged, as a peer, replayed, raw L2): ${plan.floodTrials} quiet trials `
      + `and as many per attack, interleaved`);
    results.flood = await flood(plan.floodTrials);
  }
  if (want('family-switch')) {
    step(`underlay family switch: link-local -> IPv4 -> link-local x ${plan.switchTrials}`);
    results.familySwitch = await familySwitch(plan.switchTrials);
  }
  if (want('startup')) {
    const p = plan.startup;
    step(`start-up: CLI (node -e 0, --version, status with no agent; bundle and tree) x ${p.rounds} rounds; `
      + `agent restarts to READY=1, ${p.restarts} per build, RSS after ${p.idleS} s idle`);
    results.startup = await startup(p);
  }
  results.durationS = Math.round((Date.now() - t0) / 1000);
  mkdirSync(join(ROOT, 'bench'), { recursive: true });
  // only a complete full run is the record (results.json, BENCHMARKS.md)
  const record = !quick && !only;
  writeFileSync(join(ROOT, 'bench', record ? 'results.json' : quick ? 'results-quick.json' : 'results-partial.json'),
    `${JSON.stringify(results, null, 2)}\n`);
  const summary = writeReport(results, record ? join(ROOT, 'BENCHMARKS.md') : undefined);
  process.stdout.write(summary);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
