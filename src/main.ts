#!/usr/bin/env -S node --max-semi-space-size=1 --lite-mode --no-expose-wasm
// Layer: main (CLI entry). Contract: parses the command line and dispatches;
// any failure prints exactly one line, "edge-overlay: …", on stderr. Exit
// codes: 0 success, 1 runtime failure, 2 bad usage or configuration. The V8
// flags in the shebang keep the long-running agent small (BENCHMARKS.md).

import { Command, CommanderError, Option } from 'commander';
import { userMessage } from './errors.js';
import { VERSION } from './version.js';
import { DEFAULTS, DEFAULT_CONFIG_FILE } from './config/defaults.js';
import { existsSync, readFileSync, writeSync } from 'node:fs';

// Everything else is imported inside the command that needs it — status
// from control/ and cli/format, the rest from cli/commands — so `--version`
// and `status` do not pay for the agent, the validator or netlink.

/**
 * Writes to fd 1 or 2 at once, without creating process.stdout (for a pipe
 * that loads Node's net and stream modules: ~20 ms of a CLI call). A reader
 * that went away (EPIPE) ends the output; a non-blocking, full descriptor
 * falls back to the stream.
 */
function out(fd: 1 | 2, text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  try {
    while (off < buf.length) off += writeSync(fd, buf, off);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EPIPE') return;
    if (code !== 'EAGAIN') throw err;
    (fd === 1 ? process.stdout : process.stderr).write(buf.subarray(off));
  }
}

const USAGE_CODES = new Set(['E_CONFIG', 'E_KEYFILE']);

function fail(err: unknown): never {
  out(2, `edge-overlay: ${userMessage(err)}\n`);
  // by code, not class: the bundle's commands half has its own copy of EdgeError
  const code = (err as { code?: unknown } | undefined)?.code;
  process.exit(typeof code === 'string' && USAGE_CODES.has(code) ? 2 : 1);
}

/** The run dir a CLI command talks to: --run-dir, else the config file's, else the default. */
async function runDirFor(opt: { runDir?: string; config?: string }): Promise<string> {
  if (opt.runDir) return opt.runDir;
  const path = opt.config ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  if (path) {
    try {
      const text = readFileSync(path, 'utf8');
      if (!text.includes('runDir')) return DEFAULTS.runDir; // nothing to parse for
      const { parseConfigFile } = await import('./cli/commands.js');
      return parseConfigFile(text, path).runDir ?? DEFAULTS.runDir;
    } catch {
      return DEFAULTS.runDir; // a broken config must not stop `status` from finding the agent
    }
  }
  return DEFAULTS.runDir;
}

const AGENT_FLAGS = [
  ['interface', '--interface <ifname>',
    'physical (underlay) interface (default: the default route\'s, chosen at first start and kept in the state)'],
  ['overlayCidr', '--overlay-cidr <cidr>',
    `overlay CIDR; its first address is the cluster VIP (default ${DEFAULTS.overlayCidr})`],
  ['cluster', '--cluster <name>', `cluster name (default ${DEFAULTS.cluster})`],
  ['clusterKeyFile', '--cluster-key-file <file>', `file holding the cluster key (default ${DEFAULTS.clusterKeyFile})`],
  ['stateDir', '--state-dir <dir>', `persistent state (default ${DEFAULTS.stateDir})`],
  ['runDir', '--run-dir <dir>', `runtime files, status socket (default ${DEFAULTS.runDir})`],
  ['vni', '--vni <n>', `VXLAN network identifier (default ${DEFAULTS.vni})`],
  ['bridge', '--bridge <name>', `overlay bridge name (default ${DEFAULTS.bridge})`],
  ['vxlanDevice', '--vxlan-device <name>', 'VXLAN device name (default scvx-<vni>)'],
  ['vxlanPort', '--vxlan-port <port>', `VXLAN UDP port (default ${DEFAULTS.vxlanPort})`],
  ['discoveryPort', '--discovery-port <port>', `discovery UDP port (default ${DEFAULTS.discoveryPort})`],
  ['logLevel', '--log-level <level>', `trace, debug, info, warn, error (default ${DEFAULTS.logLevel})`],
  ['overlayIp', '--overlay-ip <ip>', 'pin this host\'s overlay IP (refuses to start if another host holds it)'],
  ['metricsListen', '--metrics-listen <host:port>', 'serve Prometheus metrics, e.g. 127.0.0.1:9478 (default off)'],
  ['underlay', '--underlay <mode>',
    'what carries VXLAN: auto (IPv6 link-local when every host can), ipv4, ipv6-link-local (default auto)'],
] as const;

function pick(opts: Record<string, unknown>, keys: readonly string[]): Record<string, string | undefined> {
  return Object.fromEntries(keys.map((k) => [k, opts[k] === undefined ? undefined : String(opts[k])]));
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

async function showStatus(
  opts: { json?: boolean; runDir?: string; config?: string; watch?: boolean }, peersOnly: boolean,
): Promise<void> {
  const runDir = await runDirFor(opts);
  const { ask } = await import('./control/client.js');
  const once = async (): Promise<string> => {
    const s = (await ask(runDir, 'status')) as import('./agent/records/status.js').StatusReport;
    const { formatPeers, formatStatus } = await import('./cli/format.js');
    if (opts.json) return `${JSON.stringify(peersOnly ? s.peers : s, null, 2)}\n`;
    return peersOnly ? formatPeers(s) : formatStatus(s);
  };
  if (!opts.watch) {
    out(1, await once());
    return;
  }
  for (;;) { // --watch: redraw every second until Ctrl-C; a vanished agent ends it with the usual error
    const text = await once();
    out(1, `\x1b[H\x1b[2J${new Date().toISOString()}  (Ctrl-C to stop)\n\n${text}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const program = new Command();
program
  .name('edge-overlay')
  .description('VXLAN overlay (bridge scbr-100) with stable overlay IPs for edge Kubernetes hosts')
  .version(VERSION)
  .showHelpAfterError()
  .configureOutput({ writeOut: (t) => out(1, t), writeErr: (t) => out(2, t) })
  .exitOverride()
  .addHelpText('after', '\nExit status (every command): 0 success; '
    + '1 runtime failure (no agent, kernel error, refused);\n'
    + '2 bad usage or configuration. Errors are one line on stderr.\n\n'
    + 'Start here:\n'
    + '  edge-overlay doctor          is this host ready for the overlay?\n'
    + '  edge-overlay status          this host, the VIP, every peer')

const agentCmd = program.command('agent')
  .description('run the overlay agent (normally started by systemd)')
  .option('--config <file>', `YAML config file; flags override it (default ${DEFAULT_CONFIG_FILE} if present)`);
for (const [, flag, help] of AGENT_FLAGS) agentCmd.addOption(new Option(flag, help));
agentCmd.option('--peer <host[:port]>',
  'also send announcements by unicast to this host (repeatable; for routed underlays)', collect, []);
agentCmd.addHelpText('after', `
Signals: SIGTERM/SIGINT stop the agent (the overlay stays up); SIGHUP reloads the config and key files
(log level, peers, keyring; other changes need a restart).

Examples:
  edge-overlay agent --interface eth0 --cluster-key-file /etc/edge-overlay/cluster.key
  edge-overlay agent --config /etc/edge-overlay/config.yaml --log-level debug
  edge-overlay agent --interface eth0 --peer 192.168.20.11 --peer edge-b.example:9477`);
agentCmd.action(async (opts: Record<string, unknown>) => {
  const { runAgent } = await import('./cli/commands.js');
  await runAgent(opts.config as string | undefined, {
    ...pick(opts, AGENT_FLAGS.map(([k]) => k)), peers: opts.peer as string[],
  });
});

for (const [name, peersOnly, desc] of [
  ['status', false, 'show this host, the cluster and its peers'],
  ['peers', true, 'list the peers this host knows'],
] as const) {
  program.command(name)
    .description(desc)
    .option('--json', 'machine-readable output')
    .option('--watch', 'refresh every second')
    .option('--run-dir <dir>', `run dir of the agent to ask (default: from the config file, else ${DEFAULTS.runDir})`)
    .option('--config <file>', 'config file naming the run dir')
    .addHelpText('after', '\nExit status: 0 on success, 1 when no agent answers.\n'
      + `Examples:\n  edge-overlay ${name}\n  edge-overlay ${name} --watch\n  edge-overlay ${name} --json | jq .`)
    .action(async (opts: { json?: boolean; runDir?: string; config?: string; watch?: boolean }) =>
      showStatus(opts, peersOnly));
}

program.command('keygen')
  .description('print a fresh random cluster key (32 bytes, hex)')
  .addHelpText('after', '\nExample:\n  (umask 077; edge-overlay keygen > /etc/edge-overlay/cluster.key)')
  .action(async () => {
    const { generateKey } = await import('./cli/commands.js');
    out(1, `${generateKey()}\n`);
  });

const doctorCmd = program.command('doctor')
  .description('run the preflight checks an operator needs, each with one line of advice')
  .option('--config <file>', `config file (default ${DEFAULT_CONFIG_FILE} if present); the agent's flags work too`);
for (const [, flag, help] of AGENT_FLAGS) doctorCmd.addOption(new Option(flag, help).hideHelp());
doctorCmd
  .option('--fix', 'repair what can be repaired (VMXNET3 tunnel offloads, network manager drop-ins)')
  .option('--disable-tunnel-offloads', 'switch tx-udp_tnl-(csum-)segmentation off whatever the NIC driver')
  .option('--json', 'machine-readable output')
  .addHelpText('after', '\nExit status: 0 when every check passes (or was fixed), '
    + '1 otherwise (a bad configuration is a failed\n'
    + '"config" check; --json always prints JSON). '
    + 'Without an interface configured it checks the one the agent would use.\n\n'
    + 'Examples:\n  edge-overlay doctor\n  edge-overlay doctor --fix\n'
    + '  edge-overlay doctor --json | jq \'.checks[] | select(.ok == false)\'')
  .action(async (opts: Record<string, unknown>) => {
    const { runDoctor } = await import('./cli/commands.js');
    process.exitCode = await runDoctor(opts, pick(opts, AGENT_FLAGS.map(([k]) => k)));
  });

const configCmd = program.command('config').description('configuration helpers');
configCmd.command('check')
  .description('validate a config file (and the key file it names) without running anything')
  .argument('[file]', `config file (default ${DEFAULT_CONFIG_FILE})`)
  .addHelpText('after', '\nExit status: 0 valid, 2 invalid (one line says which key and why).\n\n'
    + 'Example:\n  edge-overlay config check /etc/edge-overlay/config.yaml')
  .action(async (file: string | undefined) => {
    const path = file ?? DEFAULT_CONFIG_FILE;
    const { loadConfig, keyFs, loadKeyring, formatCidr } = await import('./cli/commands.js');
    const r = loadConfig(path, {});
    const keys = await loadKeyring(r.keyFile, keyFs);
    const a = r.agent;
    const iface = a.interface || 'the default route\'s (chosen at first start, then kept)';
    out(1, `config file ${path} is valid: interface ${iface}, cluster ${a.cluster}, overlay ${formatCidr(a.cidr)}, `
      + `VNI ${a.vni}, bridge ${a.bridge}, key file ${r.keyFile} `
      + `(${keys.length} key${keys.length === 1 ? '' : 's'}, signing with ${keys[0]!.label})\n`);
  });

program.command('forget')
  .description("release a dead host's overlay address on every host of the cluster")
  .argument('<node>', 'node id, a unique prefix of it (4+ hex digits), or its overlay IP')
  .option('--force', 'forget it even though it is alive (it will give up its address and claim a new one)')
  .option('--run-dir <dir>', `run dir of the local agent (default: from the config file, else ${DEFAULTS.runDir})`)
  .option('--config <file>', 'config file naming the run dir')
  .addHelpText('after', '\nThe forget is signed with the cluster key and broadcast; '
    + 'peers that were down learn it when the\n'
    + 'forgotten host comes back. Exit status: 0 done, 1 refused (alive, unknown, ambiguous) or no agent.\n\n'
    + 'Example:\n  edge-overlay forget 3f2a9c1e')
  .action(async (node: string, opts: { force?: boolean; runDir?: string; config?: string }) => {
    const { ask } = await import('./control/client.js');
    const r = (await ask(await runDirFor(opts), 'forget', 3000, { node, force: Boolean(opts.force) })) as {
      id: string; overlayIp: string;
    };
    out(1, `forgot node ${r.id}; ${r.overlayIp} is free again\n`);
  });

program.command('down')
  .description('remove the overlay bridge, the VXLAN device, our on-link routes and our nftables table '
    + '(stop the agent first)')
  .option('--config <file>', 'config file naming the devices')
  .option('--bridge <name>', 'bridge name')
  .option('--vni <n>', 'VNI (names the default VXLAN device)')
  .option('--vxlan-device <name>', 'VXLAN device name')
  .option('--run-dir <dir>', 'run dir of the agent that must not be running')
  .option('--force', 'remove even if an agent still answers (it will recreate them)')
  .addHelpText('after', '\nThe persisted overlay address stays in the state dir; '
    + 'remove that dir to give the address up.\n'
    + 'Exit status: 0 done, 1 an agent still runs (or a kernel error).\n\n'
    + 'Example:\n  systemctl stop edge-overlay && edge-overlay down')
  .action(async (opts: Record<string, unknown>) => {
    const { loadConfig, runDown } = await import('./cli/commands.js');
    const cfg = loadConfig(opts.config as string | undefined, pick(opts, ['bridge', 'vni', 'vxlanDevice', 'runDir']));
    await runDown(cfg.agent, Boolean(opts.force));
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  fail(err);
});
