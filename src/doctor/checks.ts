// Layer: doctor (preflight checks, policy only). Contract: each check reads the
// host through a DoctorEnv and returns ok / not ok, one line of detail and one
// of advice; with `fix`, repairable ones repair. An error is a failed check;
// without a physical interface the checks that read it are skipped (not ok).

import { formatCidr, formatIpv4, overlaps, parseCidr } from '../net/ipv4.js';
import {
  notChecked, type Check, type CheckResult, type DoctorEnv, type DoctorOptions,
} from './types.js';
import { discovery, filter } from './view.js';
import { ipv6, underlay } from './underlay.js';
import { managers, mtu, offloads } from './nic.js';

export type { Check, CheckResult, DoctorEnv, DoctorOptions } from './types.js';

const kernel: Check = async (env) => {
  const br = await env.link(env.bridge);
  const vx = await env.link(env.vxlanDevice);
  if (br?.kind === 'bridge' && vx?.kind === 'vxlan') {
    return { id: 'kernel', ok: true, detail: `${env.bridge} and ${env.vxlanDevice} exist: bridge and vxlan work` };
  }
  if (env.iface === undefined) return notChecked('kernel');
  const phys = await env.link(env.iface);
  if (!phys) {
    return {
      id: 'kernel', ok: false, detail: 'cannot test vxlan without the physical interface',
      advice: `fix the interface first (${env.iface})`,
    };
  }
  const err = await env.probeDevices(phys.index);
  return err
    ? {
      id: 'kernel', ok: false, detail: `creating test bridge/vxlan devices failed: ${err}`,
      advice: 'load the modules (modprobe bridge vxlan) or use a kernel with CONFIG_BRIDGE and CONFIG_VXLAN',
    }
    : { id: 'kernel', ok: true, detail: 'bridge and vxlan devices can be created' };
};

const CHOOSE = 'set "interface:" in the config file to the NIC that faces the LAN (ip -br link)';

const iface: Check = async (env) => {
  const r = await ifaceState(env);
  return env.ifaceNote && env.iface !== undefined ? { ...r, detail: `${env.ifaceNote}; ${r.detail}` } : r;
};

async function ifaceState(env: DoctorEnv): Promise<CheckResult> {
  const name = env.iface;
  if (name === undefined) {
    return {
      id: 'interface', ok: false, detail: env.ifaceNote ?? 'no interface configured',
      advice: `${CHOOSE}, or give the host a default route`,
    };
  }
  const l = await env.link(name);
  if (!l) return { id: 'interface', ok: false, detail: `${name} does not exist`, advice: CHOOSE };
  if (!l.up) {
    return { id: 'interface', ok: false, detail: `${name} is down`, advice: `bring it up: ip link set ${name} up` };
  }
  const v4 = (await env.addrs(l.index)).filter((a) => (a.address >>> 16) !== 0xa9fe);
  if (v4.length === 0) {
    return {
      id: 'interface', ok: false, detail: `${name} is up but has no IPv4 address`,
      advice: 'check DHCP and cabling; '
        + 'meanwhile raw L2 discovery works, and so does the overlay on a link-local underlay',
    };
  }
  return {
    id: 'interface', ok: true,
    detail: `${name} is up with ${v4.map((a) => `${formatIpv4(a.address)}/${a.prefix}`).join(', ')}`,
  };
}

const broadcast: Check = async (env, opt) => {
  if (env.status) {
    const alive = env.status.peers.filter((p) => p.state === 'alive').length;
    return alive > 0
      ? { id: 'broadcast', ok: true, detail: `the agent hears ${alive} peer${alive === 1 ? '' : 's'}` }
      : {
        id: 'broadcast', ok: false, detail: 'the agent hears no other host',
        advice: 'broadcasts may be blocked (VMware: allow promiscuous mode; switch port isolation), '
          + 'or no other host runs the agent',
      };
  }
  const heard = await env.listen(opt.listenMs);
  return heard.ours > 0
    ? {
      id: 'broadcast', ok: true,
      detail: `heard ${heard.ours} discovery packet${heard.ours === 1 ? '' : 's'} `
        + `of this cluster in ${opt.listenMs / 1000} s`,
    }
    : {
      id: 'broadcast', ok: false, detail: `no discovery packet of this cluster heard in ${opt.listenMs / 1000} s`,
      advice: 'start the agent on the other hosts, '
        + 'or allow broadcasts between them (VMware promiscuous mode, switch isolation)',
    };
};

const cidr: Check = async (env) => {
  const clashes = (await env.routes())
    .filter((r) => r.dev !== env.bridge)
    .filter((r) => {
      const c = parseCidr(r.dst);
      return typeof c !== 'string' && c.prefix > 0 && overlaps(c, env.cidr);
    });
  return clashes.length === 0
    ? { id: 'cidr', ok: true, detail: `${formatCidr(env.cidr)} overlaps no route or address of this host` }
    : {
      id: 'cidr', ok: false,
      detail: `${formatCidr(env.cidr)} overlaps ${clashes.map((r) => `${r.dst} dev ${r.dev}`).join(', ')}`,
      advice: 'choose an overlay CIDR no network on this host uses (before the cluster is created)',
    };
};

const foreign: Check = async (env, opt) => {
  const list = env.status
    ? env.status.security.foreignClusters.map((c) => ({ name: c.name, cidr: c.cidr, overlapping: c.overlapping }))
    : (await env.listen(Math.min(opt.listenMs, 1000))).foreign.map((c) => {
      const p = c.cidr === null ? undefined : parseCidr(c.cidr);
      return { ...c, overlapping: p !== undefined && typeof p !== 'string' && overlaps(p, env.cidr) };
    });
  const bad = list.filter((c) => c.overlapping);
  return bad.length === 0
    ? {
      id: 'other-clusters', ok: true,
      detail: list.length
        ? `other clusters on the LAN (${list.map((c) => c.name).join(', ')}) use other CIDRs`
        : 'no other cluster heard on the LAN',
    }
    : {
      id: 'other-clusters', ok: false,
      detail: `cluster ${bad.map((c) => `"${c.name}" (${c.cidr})`).join(', ')} overlaps ${formatCidr(env.cidr)}`,
      advice: 'give one of the clusters another overlay CIDR',
    };
};

const OUR_TABLES = new Set(['edge_overlay', 'edge_overlay_guard']); // our own tables drop only what is not ours

type NftRule = { rule?: { table: string; expr: unknown[] } };

/**
 * Table by table, not `nft -j list ruleset`: nft 1.0.6 (Debian 12) prints a
 * table with `flags owner` (our guard table; firewalld's) as broken JSON and
 * exits 0, which would spoil the whole listing.
 */
const port: Check = async (env) => {
  const tables = await env.run('nft', ['list', 'tables']);
  if (!tables || tables.code !== 0) return { id: 'vxlan-port', ok: true, detail: 'no nftables ruleset to inspect' };
  const blocking: string[] = [];
  const unread: string[] = [];
  for (const m of tables.stdout.matchAll(/^table (\S+) (\S+)$/gm)) {
    const [, family, name] = m as unknown as [string, string, string];
    if (OUR_TABLES.has(name)) continue;
    const r = await env.run('nft', ['-j', 'list', 'table', family, name]);
    let rules: NftRule[];
    try {
      rules = r && r.code === 0 ? (JSON.parse(r.stdout) as { nftables?: NftRule[] }).nftables ?? [] : [];
    } catch {
      unread.push(`${family} ${name}`);
      continue;
    }
    blocking.push(...rules.filter((x) => x.rule).map((x) => JSON.stringify(x.rule!.expr))
      .filter((e) => e.includes(`"right":${env.vxlanPort}`) && /"(drop|reject)"/.test(e)));
  }
  const note = unread.length ? ` (nft could not print table ${unread.join(', ')} as JSON: not inspected)` : '';
  return blocking.length === 0
    ? { id: 'vxlan-port', ok: true, detail: `no firewall rule outside ours drops UDP ${env.vxlanPort}${note}` }
    : {
      id: 'vxlan-port', ok: false, detail: `${blocking.length} firewall rule(s) drop UDP ${env.vxlanPort}${note}`,
      advice: `allow UDP ${env.vxlanPort} from the LAN (edge-overlay filters it to the cluster's hosts itself)`,
    };
};

const clock: Check = async (env) => {
  const year = new Date(env.now()).getUTCFullYear();
  if (year < 2024) {
    return {
      id: 'clock', ok: false, detail: `the clock says ${new Date(env.now()).toISOString()}`,
      advice: 'set the time (NTP); the overlay does not depend on it, but TLS certificates do',
    };
  }
  const skews = (env.status?.peers ?? []).map((p) => p.clockSkewMs).filter((x): x is number => x !== null);
  const worst = skews.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  if (worst > 300_000) {
    return {
      id: 'clock', ok: false, detail: `a peer's clock is ${Math.round(worst / 1000)} s off ours`,
      advice: 'sync the clocks (NTP); replay protection does not use them, Kubernetes does',
    };
  }
  return {
    id: 'clock', ok: true,
    detail: skews.length ? `peers' clocks within ${Math.round(worst / 1000)} s of ours` : 'the clock looks sane',
  };
};

export const CHECKS: Check[] = [
  kernel, iface, ipv6, underlay, broadcast, discovery, filter, mtu, cidr, foreign, port, offloads, managers, clock,
];

export async function runChecks(env: DoctorEnv, opt: DoctorOptions): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const c of CHECKS) {
    try {
      out.push(await c(env, opt));
    } catch (err) {
      out.push({ id: c.name, ok: false, detail: `check failed: ${(err as Error).message}` });
    }
  }
  return out;
}

export function formatChecks(results: CheckResult[]): string {
  return `${results.map((r) => `${r.ok ? '✓' : r.skipped ? '–' : '✗'} ${r.id}: `
    + `${r.detail}${r.fixed ? ' (fixed)' : ''}`
    + `${!r.ok && r.advice ? `\n    → ${r.advice}` : ''}`).join('\n')}\n`;
}
