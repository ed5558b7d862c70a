// Layer: configuration. Contract: merges defaults, the YAML config file and
// flags (flags win) into an AgentConfig, validating each with one zod schema;
// a bad value stops with one E_CONFIG line naming its source and key.

import * as z from 'zod';
import { parse as parseYaml } from 'yaml';
import { EdgeError } from '../errors.js';
import {
  MAX_OVERLAY_PREFIX, broadcastOf, contains, formatCidr, isHostAddress, parseCidr, parseIpv4, vipOf, type Cidr,
} from '../net/ipv4.js';
import { LOG_LEVELS, type LogLevel } from '../log.js';
import { DEFAULT_TIMINGS, type AgentConfig } from '../agent/config.js';
import { MAX_CLUSTER_NAME } from '../wire/codec.js';
import { UNDERLAY_SETTINGS } from '../policy/family.js';

import { DEFAULTS, DEFAULT_CONFIG_FILE } from './defaults.js';

export { DEFAULTS, DEFAULT_CONFIG_FILE } from './defaults.js';

const ifname = (what: string) => z.string({ error: `must be a ${what} name` }).superRefine((s, ctx) => {
  if (!/^[^\s/:]{1,15}$/.test(s) || s === '.' || s === '..') {
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(s)} is not a valid ${what} name (1-15 characters, no spaces, "/" or ":")`,
    });
  }
});
const port = z.number({ error: 'must be a number' }).int('must be a whole number')
  .min(1, 'must be 1-65535').max(65535, 'must be 1-65535');

const cidr = z.string({ error: 'must be a CIDR such as 100.64.192.0/24' }).superRefine((s, ctx) => {
  const c = parseCidr(s);
  if (typeof c === 'string') ctx.addIssue({ code: 'custom', message: c });
  else if (c.prefix > MAX_OVERLAY_PREFIX) {
    ctx.addIssue({
      code: 'custom',
      message: `${s} leaves no address for a host after the VIP (use /${MAX_OVERLAY_PREFIX} or a shorter prefix)`,
    });
  }
  else if (c.prefix < 8) {
    ctx.addIssue({ code: 'custom', message: `${s} is implausibly large for an overlay (use /8 or a longer prefix)` });
  }
});

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** "HOST[:PORT]" → { host, port? }, or a reason. */
export function parseSeed(text: string): { host: string; port: number | undefined } | string {
  const m = /^([^:\s]+)(?::(\d{1,5}))?$/.exec(text.trim());
  if (!m) return `${JSON.stringify(text)} is not HOST or HOST:PORT`;
  const host = m[1]!;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return `${text}: port must be 1-65535`;
  if (parseIpv4(host) === undefined && (/^[\d.]+$/.test(host) || !HOSTNAME.test(host))) {
    return `${JSON.stringify(host)} is not an IPv4 address or host name`;
  }
  return { host, port };
}

const seed = z.string({ error: 'must be HOST or HOST:PORT' }).superRefine((s, ctx) => {
  const r = parseSeed(s);
  if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
});

export const fileSchema = z.strictObject({
  cluster: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/,
    'must start with a letter or digit and use only letters, digits, ".", "_" and "-"')
    .max(MAX_CLUSTER_NAME, `must be at most ${MAX_CLUSTER_NAME} characters`),
  interface: ifname('interface'),
  overlayCidr: cidr,
  clusterKeyFile: z.string().min(1, 'must not be empty'),
  stateDir: z.string().min(1, 'must not be empty'),
  runDir: z.string().min(1, 'must not be empty'),
  vni: z.number({ error: 'must be a number' }).int('must be a whole number')
    .min(1, 'must be 1-16777215').max(16777215, 'must be 1-16777215'),
  bridge: ifname('bridge'),
  vxlanDevice: ifname('VXLAN device'),
  vxlanPort: port,
  discoveryPort: port,
  logLevel: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
  overlayIp: z.string({ error: 'must be an IPv4 address' })
    .refine((v) => parseIpv4(v) !== undefined, {
      error: (iss) => `${JSON.stringify(iss.input)} is not an IPv4 address`,
    }),
  peers: z.array(seed, { error: 'must be a list of HOST or HOST:PORT' }).max(64, 'at most 64 peers'),
  metricsListen: z.string({ error: 'must be HOST:PORT' }).superRefine((s, ctx) => {
    const r = parseListen(s);
    if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
  }),
  /** the VXLAN ingress filter; "off" runs the overlay open to anyone on the LAN, and says so loudly */
  filter: z.enum(['on', 'off'], { error: 'must be "on" or "off"' }),
  /** what carries VXLAN: auto (link-local when every host can), ipv4, ipv6-link-local */
  underlay: z.enum(UNDERLAY_SETTINGS, { error: `must be one of ${UNDERLAY_SETTINGS.join(', ')}` }),
}).partial();

/** "HOST:PORT" for the metrics endpoint, or a reason. */
export function parseListen(text: string): { host: string; port: number } | string {
  const m = /^(.+):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) return `${JSON.stringify(text)} is not HOST:PORT (e.g. 127.0.0.1:9478)`;
  return { host: m[1]!, port };
}

export type ConfigInput = z.infer<typeof fileSchema>;
export type ConfigKey = keyof ConfigInput;


const NUMERIC: ConfigKey[] = ['vni', 'vxlanPort', 'discoveryPort'];

export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

function validate(input: unknown, where: (key: string) => string): ConfigInput {
  const r = fileSchema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    throw new EdgeError('E_CONFIG', `${where(issue.keys[0] ?? '?')}: unknown setting`);
  }
  const key = String(issue.path[0] ?? '');
  throw new EdgeError('E_CONFIG', `${where(key)}: ${issue.message}`);
}

/** Parses the text of a config file; `path` names it in messages. */
export function parseConfigFile(text: string, path: string): ConfigInput {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    const line = (err as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    throw new EdgeError('E_CONFIG', `config file ${path}: not valid YAML${line ? ` (line ${line})` : ''}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new EdgeError('E_CONFIG', `config file ${path}: expected a mapping of settings`);
  }
  return validate(doc, (key) => `config file ${path}: ${key}`);
}

/** Validates command-line flags (strings from the parser; lists for repeatable ones) under config keys. */
export function parseFlags(flags: Record<string, string | string[] | undefined>): ConfigInput {
  const input: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(flags)) {
    if (v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    input[k] = typeof v === 'string' && NUMERIC.includes(k as ConfigKey) && /^\d+$/.test(v) ? Number(v) : v;
  }
  return validate(input, (key) => (key === 'peers' ? '--peer' : flagName(key)));
}

export interface Resolved {
  agent: AgentConfig;
  /** the VXLAN ingress filter is wanted (default); false only with `filter: off` */
  filter: boolean;
  metricsListen: string | undefined;
  keyFile: string;
  logLevel: LogLevel;
}

/** Merges the sources; `interface` may be empty here (only the agent needs it). */
export function resolve(file: ConfigInput, flags: ConfigInput, filePath = DEFAULT_CONFIG_FILE): Resolved {
  const m = { ...DEFAULTS, ...file, ...flags };
  const c = parseCidr(m.overlayCidr) as Cidr; // validated above
  let pinnedIp: number | undefined;
  if (m.overlayIp !== undefined) {
    const where = flags.overlayIp !== undefined ? '--overlay-ip' : `config file ${filePath}: overlayIp`;
    const ip = parseIpv4(m.overlayIp)!;
    if (!contains(c, ip)) {
      throw new EdgeError('E_CONFIG', `${where}: ${m.overlayIp} is outside the overlay CIDR ${formatCidr(c)}`);
    }
    if (ip === vipOf(c)) {
      throw new EdgeError('E_CONFIG', `${where}: ${m.overlayIp} is the cluster VIP `
        + `(the first address of ${formatCidr(c)}) and is never given to a host`);
    }
    if (!isHostAddress(c, ip)) {
      throw new EdgeError('E_CONFIG', `${where}: ${m.overlayIp} is the `
        + `${ip === broadcastOf(c) ? 'broadcast' : 'network'} address of ${formatCidr(c)}`);
    }
    pinnedIp = ip;
  }
  const seeds = (m.peers ?? []).map((p) => {
    const r = parseSeed(p) as { host: string; port: number | undefined };
    return { host: r.host, port: r.port ?? m.discoveryPort };
  });
  return {
    agent: {
      cluster: m.cluster, interface: m.interface ?? '', cidr: c, vni: m.vni, vxlanPort: m.vxlanPort, bridge: m.bridge,
      vxlanDevice: m.vxlanDevice ?? `scvx-${m.vni}`.slice(0, 15), discoveryPort: m.discoveryPort,
      stateDir: m.stateDir, runDir: m.runDir, timings: { ...DEFAULT_TIMINGS }, pinnedIp,
      // host names are resolved by dgram at send time (a seed may not resolve at boot)
      seeds: seeds.map((x) => ({ address: x.host, port: x.port })),
      underlay: m.underlay,
    },
    filter: m.filter !== 'off',
    metricsListen: m.metricsListen,
    keyFile: m.clusterKeyFile,
    logLevel: m.logLevel,
  };
}
