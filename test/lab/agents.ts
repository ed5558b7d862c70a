// Lab (the agent under test). Contract: which build runs (dist/edge-overlay.cjs,
// or EO_AGENT_BIN), how it is started (its shebang, or under the profiler),
// whether the lab can run here at all, and when the agents have converged.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StatusReport } from '../../src/agent/records/status.js';
import { ROOT, have, until } from './shell.js';
import type { Host, LabBase } from './types.js';

/**
 * The built agent — the one bundled program the package ships; EO_AGENT_BIN
 * points a run at another build (e.g. a private build of HEAD).
 */
export const AGENT_BIN = process.env.EO_AGENT_BIN ?? join(ROOT, 'dist', 'edge-overlay.cjs');

/**
 * How to run the built agent (`bin`: another build, e.g. an earlier release): via its
 * shebang, or under the profiler when EO_AGENT_CPU_PROF names a directory.
 */
export function agentCommand(bin = AGENT_BIN): string[] {
  const dir = process.env.EO_AGENT_CPU_PROF;
  if (!dir) return [bin];
  const v8flags = (readFileSync(bin, 'utf8').split('\n', 1)[0] ?? '').split(' ').filter((f) => f.startsWith('--'));
  return [process.execPath, '--cpu-prof', `--cpu-prof-dir=${dir}`, ...v8flags, bin];
}

/** Why the lab cannot run here, or undefined if it can. */
export function labUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'integration tests need root (network namespaces); run as root';
  for (const bin of ['ip', 'dnsmasq', 'dhclient', 'ping', 'nft', 'tcpdump']) {
    if (!have(bin)) return `${bin} is not installed (the test command installs it with apt-get)`;
  }
  if (!existsSync(AGENT_BIN)) return `${AGENT_BIN} is missing; run npm run build`;
  return undefined;
}

/**
 * Waits until the agents of `hosts` each have an address, a ready dataplane,
 * and every other one of them as an alive peer at its current underlay address.
 */
export function converged(lab: LabBase, timeoutMs: number, hosts: Host[]): Promise<StatusReport[]> {
  return until('the overlay to converge', async () => {
    const all = await Promise.all(hosts.map((h) => lab.tryStatus(h)));
    if (all.some((s) => !s || !s.dataplane.ready || !s.node.overlayIp)) return undefined;
    const ok = all.every((s) => s!.peers.filter((p) => p.state === 'alive').length === hosts.length - 1
      && s!.peers.every((p) => hosts.some((h) => h.ip === p.underlayIp)));
    return ok ? (all as StatusReport[]) : undefined;
  }, timeoutMs, 50);
}
