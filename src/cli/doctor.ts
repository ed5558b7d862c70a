// Layer: main (CLI). Contract: `edge-overlay doctor` works before anything
// is configured. It builds the real doctor environment (netlink kernel, the
// running agent's status if one answers, the keyring if readable, the
// interface the agent uses or would use: doctor/choice.ts), runs the checks
// and prints ✓/✗ lines or — with --json, always, whatever fails — JSON. A
// configuration that cannot be read is one failed `config` check. Returns the
// exit code: 0 all passed (or fixed), 1 something failed.

import { systemClock } from '../clock.js';
import { NetlinkKernel } from '../kernel/netlink/kernel.js';
import { ask } from '../control/client.js';
import { loadKeyring } from '../wire/keyfile.js';
import { nodeStateFs, peekState } from '../state/store.js';
import { realDoctorEnv } from '../doctor/system.js';
import { doctorInterface } from '../doctor/choice.js';
import { formatChecks, runChecks, type CheckResult } from '../doctor/checks.js';
import type { StatusReport } from '../agent/records/status.js';
import type { Resolved } from '../config/config.js';
import { keyFs, loadConfig } from './agent.js';

/** Longer than one announce period (5 s ± 10 %), so a running cluster is always heard. */
const DOCTOR_LISTEN_MS = 6000;

export interface DoctorReport {
  ok: boolean;
  agentRunning: boolean;
  /** the physical interface checked (null: none configured and none to choose) */
  interface: string | null;
  checks: CheckResult[];
}

/** A configuration file or flag that cannot be used: the one failed check (its message is the one line). */
export function configFailed(err: unknown): CheckResult {
  return {
    id: 'config', ok: false, detail: (err as Error).message ?? String(err),
    advice: 'fix the setting it names (edge-overlay config check FILE checks a file without running anything)',
  };
}

export function renderReport(r: Omit<DoctorReport, 'ok'>, json: boolean): { text: string; code: number } {
  const ok = r.checks.every((c) => c.ok);
  return { text: json ? `${JSON.stringify({ ok, ...r }, null, 2)}\n` : formatChecks(r.checks), code: ok ? 0 : 1 };
}

async function check(cfg: Resolved, opts: Record<string, unknown>): Promise<Omit<DoctorReport, 'ok'>> {
  const a = cfg.agent;
  const status = (await ask(a.runDir, 'status', 1500).catch(() => undefined)) as StatusReport | undefined;
  const keys = await loadKeyring(cfg.keyFile, keyFs).catch(() => undefined);
  const kernel = new NetlinkKernel(systemClock);
  try {
    const choice = await doctorInterface({
      configured: a.interface, status, kept: peekState(a.stateDir, nodeStateFs)?.interface, kernel,
      ours: [a.bridge, a.vxlanDevice], stateDir: a.stateDir,
    });
    const env = realDoctorEnv(a, kernel, keys, status, choice);
    const checks = await runChecks(env, {
      fix: Boolean(opts.fix), disableTunnelOffloads: Boolean(opts.disableTunnelOffloads), listenMs: DOCTOR_LISTEN_MS,
    });
    return { agentRunning: status !== undefined, interface: choice.iface ?? null, checks };
  } finally {
    kernel.close();
  }
}

export async function runDoctor(
  opts: Record<string, unknown>, flags: Record<string, string | undefined>,
): Promise<number> {
  let report: Omit<DoctorReport, 'ok'>;
  try {
    const cfg = loadConfig(opts.config as string | undefined, flags);
    try {
      report = await check(cfg, opts);
    } catch (err) {
      report = {
        agentRunning: false, interface: null,
        checks: [{ id: 'doctor', ok: false, detail: `the checks could not run: ${(err as Error).message}` }],
      };
    }
  } catch (err) {
    report = { agentRunning: false, interface: null, checks: [configFailed(err)] };
  }
  const { text, code } = renderReport(report, Boolean(opts.json));
  process.stdout.write(text);
  return code;
}
