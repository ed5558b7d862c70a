// Layer: main (CLI). Contract: `edge-overlay doctor` builds the real doctor
// environment (netlink kernel, the running agent's status if one answers,
// the keyring if readable), runs the checks, prints ✓/✗ lines or JSON, and
// returns the exit code: 0 all passed (or fixed), 1 something failed.

import { systemClock } from '../clock.js';
import { NetlinkKernel } from '../kernel/netlink/kernel.js';
import { ask } from '../control/client.js';
import { loadKeyring } from '../wire/keyfile.js';
import { realDoctorEnv } from '../doctor/system.js';
import { formatChecks, runChecks } from '../doctor/checks.js';
import type { StatusReport } from '../agent/status.js';
import { keyFs, loadConfig, requireInterface } from './agent.js';

/** Longer than one announce period (5 s ± 10 %), so a running cluster is always heard. */
const DOCTOR_LISTEN_MS = 6000;

export async function runDoctor(opts: Record<string, unknown>, flags: Record<string, string | undefined>): Promise<number> {
  const cfg = loadConfig(opts.config as string | undefined, flags);
  requireInterface(cfg, opts.config as string | undefined);
  const status = (await ask(cfg.agent.runDir, 'status', 1500).catch(() => undefined)) as StatusReport | undefined;
  const keys = await loadKeyring(cfg.keyFile, keyFs).catch(() => undefined);
  const kernel = new NetlinkKernel(systemClock);
  try {
    const env = realDoctorEnv(cfg.agent, kernel, keys, status);
    const results = await runChecks(env, { fix: Boolean(opts.fix), disableTunnelOffloads: Boolean(opts.disableTunnelOffloads), listenMs: DOCTOR_LISTEN_MS });
    const ok = results.every((r) => r.ok);
    if (opts.json) process.stdout.write(`${JSON.stringify({ ok, agentRunning: status !== undefined, checks: results }, null, 2)}\n`);
    else process.stdout.write(formatChecks(results));
    return ok ? 0 : 1;
  } finally {
    kernel.close();
  }
}
