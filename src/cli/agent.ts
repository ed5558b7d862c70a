// Layer: main (where the agent's real dependencies are built). Contract:
// `edge-overlay agent` — resolve the configuration, take the state-dir lock,
// build the kernel, read the state and settle the physical interface
// (configured, kept in the state, or chosen now and kept: agent/underlay/iface.ts),
// build the transport (its UDP and raw L2 channels), firewall, clock and
// filesystem, run the Agent, the control socket, the systemd notifier and (if asked) the metrics
// endpoint until SIGTERM/SIGINT, then stop without touching the dataplane.
// SIGHUP re-reads the config and key files and applies what can change live.
// Failures before start print one line and exit non-zero.

import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgeError } from '../errors.js';
import { createLogger, errFields, type Logger } from '../log.js';
import { systemClock } from '../clock.js';
import { Agent } from '../agent/agent.js';
import { NetlinkKernel } from '../kernel/netlink/kernel.js';
import { NftMonitor, NftSetWriter } from '../kernel/netlink/nftables.js';
import { UdpChannel } from '../discovery/udp.js';
import { RawChannel } from '../discovery/raw.js';
import { LanTransport } from '../discovery/lan.js';
import { StateStore, nodeStateFs } from '../state/store.js';
import type { PersistedState } from '../state/schema.js';
import { settleFromState } from '../agent/underlay/iface.js';
import { loadKeyring, type KeyFileSystem } from '../wire/keyfile.js';
import { NftFirewall } from '../firewall/nft.js';
import { NftGuard } from '../firewall/guard.js';
import { sdNotify, tryLock } from '../native/addon.js';
import { ControlServer } from '../control/server.js';
import { ServiceNotifier } from '../service/notify.js';
import {
  DEFAULT_CONFIG_FILE, parseConfigFile, parseFlags, resolve, type ConfigInput, type Resolved,
} from '../config/config.js';
import { planReload } from './reload.js';

const SHUTDOWN_LIMIT_MS = 2000;
/** the startup doctor runs once peers had time to answer */
const DOCTOR_DELAY_MS = 10_000;

export type Flags = Record<string, string | string[] | undefined>;

export function loadConfig(configPath: string | undefined, flags: Flags): Resolved {
  const path = configPath ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  let file: ConfigInput = {};
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new EdgeError('E_CONFIG',
        `config file ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    file = parseConfigFile(text, path);
  }
  return resolve(file, parseFlags(flags), path);
}

function lockStateDir(stateDir: string): number {
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new EdgeError('E_STATE',
      `cannot create state directory ${stateDir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const fd = openSync(join(stateDir, 'lock'), 'a', 0o600);
  if (!tryLock(fd)) {
    closeSync(fd);
    throw new EdgeError('E_LOCKED',
      `another edge-overlay agent is using state directory ${stateDir}; refusing to start a second one`);
  }
  return fd; // held (and the lock with it) until the process exits
}

export const keyFs: KeyFileSystem = { stat: (p) => stat(p), readFile: (p) => readFile(p, 'utf8') };

/** SIGHUP: re-read config and keys; apply what may change, refuse the rest with one line each. */
async function reload(
  cur: Resolved, configPath: string | undefined, flags: Flags, agent: Agent, log: Logger,
): Promise<Resolved> {
  let next: Resolved;
  try {
    next = loadConfig(configPath, flags);
  } catch (err) {
    log.error({ ...errFields(err) }, `SIGHUP: ${(err as Error).message}; keeping the running configuration`);
    return cur;
  }
  // none configured: the chosen one stands
  if (!next.agent.interface) next = { ...next, agent: { ...next.agent, interface: cur.agent.interface } };
  const plan = planReload(cur, next);
  for (const line of plan.refused) log.warn({ code: 'E_CONFIG' }, `SIGHUP: ${line}`);
  if (plan.logLevel) {
    log.level = plan.logLevel;
    log.info({ level: plan.logLevel }, 'SIGHUP: log level changed');
  }
  if (plan.seeds) agent.setSeeds(plan.seeds);
  try {
    agent.setKeys(await loadKeyring(plan.keyFile, keyFs));
  } catch (err) {
    log.error({ ...errFields(err) }, `SIGHUP: ${(err as Error).message}; keeping the current keyring`);
  }
  return {
    ...cur, logLevel: plan.logLevel ?? cur.logLevel, keyFile: next.keyFile,
    agent: { ...cur.agent, seeds: plan.seeds ?? cur.agent.seeds },
  };
}

export async function runAgent(configPath: string | undefined, flags: Flags): Promise<void> {
  let cfg = loadConfig(configPath, flags);
  const log: Logger = createLogger(cfg.logLevel);
  const keys = await loadKeyring(cfg.keyFile, keyFs);
  lockStateDir(cfg.agent.stateDir);
  const store = new StateStore(cfg.agent.stateDir, nodeStateFs);
  // EDGE_OVERLAY_EVENT_RCVBUF: netlink event buffer in bytes (tuning; tests shrink it to force overruns)
  const rcvbuf = Number(process.env.EDGE_OVERLAY_EVENT_RCVBUF) || undefined;
  const kernel = new NetlinkKernel(systemClock, { eventRcvbuf: rcvbuf });
  let doc: PersistedState;
  try {
    const settled = await settleFromState(cfg.agent, store, {
      kernel, clock: systemClock, log, configFile: configPath ?? DEFAULT_CONFIG_FILE,
    });
    cfg = { ...cfg, agent: settled.config };
    doc = settled.doc;
  } catch (err) {
    kernel.close();
    throw err;
  }
  let transport: LanTransport;
  try {
    const udp = await UdpChannel.open(cfg.agent.discoveryPort, systemClock);
    transport = new LanTransport(udp, new RawChannel({ clock: systemClock, log }));
  } catch (err) {
    kernel.close();
    throw new EdgeError('E_PORT', `cannot listen on UDP port ${cfg.agent.discoveryPort} for discovery: `
      + `${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const setWriter = new NftSetWriter();
  let breached = (_guarded: boolean): void => undefined; // set once the agent exists
  const a = cfg.agent;
  const options = { iface: a.interface, vxlanPort: a.vxlanPort, vni: a.vni, discoveryPort: a.discoveryPort };
  const firewall = cfg.filter ? new NftFirewall({
    options, fast: setWriter, monitor: new NftMonitor(systemClock),
    guard: new NftGuard({ options, clock: systemClock, log }), clock: systemClock,
    onBreach: (guarded) => breached(guarded),
  }) : undefined;
  if (!firewall) {
    log.warn({ code: 'E_FILTER' }, 'filter: off — VXLAN from anyone on the LAN reaches the overlay; set filter: on');
  }
  const release = async (): Promise<void> => {
    kernel.close();
    setWriter.close();
    firewall?.close();
    await transport.close();
  };
  let agent: Agent;
  try {
    agent = Agent.create(cfg.agent, {
      kernel, transport, clock: systemClock, store, log, keys, random: Math.random, firewall,
    }, doc);
    breached = (guarded) => agent.filterBreached(guarded);
  } catch (err) {
    await release();
    throw err;
  }
  const control = new ControlServer(cfg.agent.runDir, async (req) => {
    if (req.cmd === 'status') {
      await agent.refresh(); // the filter's drop counter, read now (throttled)
      return agent.status();
    }
    if (req.cmd === 'forget') return agent.forget(String(req.node ?? ''), req.force === true);
    throw new EdgeError('E_CONTROL', `unknown command ${req.cmd}`);
  });

  process.on('uncaughtException', (err) => {
    log.fatal({ ...errFields(err), stack: err.stack },
      'uncaught exception; exiting so the service manager restarts the agent');
    process.exit(1);
  });

  // nothing to tell without a service manager
  const notifySocket = process.env.NOTIFY_SOCKET;
  const notifier = notifySocket ? new ServiceNotifier((msg) => {
    const err = sdNotify(notifySocket, msg);
    if (err) log.warn({ err, socket: notifySocket }, 'sd_notify failed');
  }, systemClock, Number(process.env.WATCHDOG_USEC) || undefined) : undefined;

  let metrics: import('node:http').Server | undefined;
  try {
    await agent.start();
    await control.listen();
    if (cfg.metricsListen) {
      // loaded only when asked for: prom-client is a few MB of an agent that targets 64
      const m = await import('../metrics/metrics.js');
      metrics = await m.serveMetrics(cfg.metricsListen, m.buildRegistry(agent));
    }
  } catch (err) {
    await agent.stop().catch(() => undefined);
    await release();
    throw err;
  }
  notifier?.start(() => agent.status());
  const doctorTimer = setTimeout(() => {
    // the same preflight checks as `edge-overlay doctor`, answered from the agent's own view
    void (async () => {
      const { realDoctorEnv } = await import('../doctor/system.js');
      const { runChecks } = await import('../doctor/checks.js');
      const results = await runChecks(realDoctorEnv(cfg.agent, kernel, keys, agent.status()), {
        fix: false, disableTunnelOffloads: false, listenMs: 0,
      });
      for (const r of results.filter((x) => !x.ok)) {
        log.warn({ check: r.id, advice: r.advice }, `preflight: ${r.detail}`);
      }
    })().catch(() => undefined);
  }, DOCTOR_DELAY_MS);
  doctorTimer.unref();

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping; the overlay stays up');
    notifier?.stopping();
    setTimeout(() => process.exit(0), SHUTDOWN_LIMIT_MS).unref();
    void (async () => {
      try {
        await agent.stop();
        await control.close();
        metrics?.close();
        await release();
      } catch (err) {
        log.error(errFields(err), 'error while stopping');
      }
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  let reloading = Promise.resolve();
  process.on('SIGHUP', () => {
    reloading = reloading.then(async () => { cfg = await reload(cfg, configPath, flags, agent, log); });
  });
}
