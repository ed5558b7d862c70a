// Integration helper for the attack tests (test/integration/attacks-*.test.ts).
// Contract: "the attack changed nothing", taken the same way in every case —
// tcpdump on each victim's scbr-100 for frames from the outsider's inner MAC,
// before/after snapshots of each agent host's kernel (the agent's FDB
// entries, permanent neighbours, main routing table, overlay address, the
// filter's allowed set)
// and of its agent's view (its claim, its peers and their state, the filter),
// and the agents' PIDs. check() asserts all of it.
import { expect } from 'vitest';
import type { Lab, Host } from '../../scripts/lab/lab.js';

/** Source MAC of every Ethernet frame the outsider puts inside VXLAN (scripts/lab/outsider*.{mjs,py}). */
export const OUTSIDER_MAC = '02:de:ad:be:ef:01';


/** The agent's FDB entries (and anything naming the outsider); not what the bridge learns from ordinary traffic. */
const fdb = (text: string): string => text.split('\n')
  .filter((l) => l.includes(OUTSIDER_MAC) || !/^\S+ master scbr-100\s*$/.test(l)).join('\n');

/**
 * The agent's nftables table on `h` (family inet or ip: releases differ):
 * every set's elements as JSON text, by "family set"; sets the kernel fills
 * from traffic (dynamic or timed-out elements: rate meters) left out.
 * undefined: no table.
 */
export function filterSets(lab: Lab, h: Host): Record<string, string> | undefined {
  for (const family of ['inet', 'ip']) {
    const out = lab.exec(h, ['nft', '-j', 'list', 'table', family, 'edge_overlay'], true);
    if (!out) continue;
    const doc = JSON.parse(out) as { nftables: { set?: { name: string; flags?: string | string[]; timeout?: number; elem?: unknown[] } }[] };
    const fromTraffic = (x: { flags?: string | string[]; timeout?: number; elem?: unknown[] }): boolean =>
      x.timeout !== undefined || [x.flags ?? []].flat().some((f) => f === 'dynamic' || f === 'timeout') || JSON.stringify(x.elem ?? []).includes('"expires"');
    const sets = doc.nftables.flatMap((x) => (x.set && !fromTraffic(x.set) ? [x.set] : []));
    return Object.fromEntries(sets.map((x) => [`${family} ${x.name}`, JSON.stringify(x.elem ?? [])]));
  }
  return undefined;
}

/** Does the agent's filter name `ip` in one of its sets (an address allowed to send)? */
export const filterAllows = (lab: Lab, h: Host, ip: string): boolean =>
  Object.values(filterSets(lab, h) ?? {}).some((elems) => elems.includes(`"${ip}"`));

/** What each host's kernel and agent hold, as comparable text. */
export async function snapshot(lab: Lab, hosts: Host[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const h of hosts) {
    const s = await lab.status(h);
    out[h.name] = [
      `fdb: ${fdb(lab.exec(h, ['bridge', 'fdb', 'show', 'dev', 'scvx-100']))}`,
      `neigh: ${lab.exec(h, ['ip', 'neigh', 'show', 'dev', 'scbr-100', 'nud', 'permanent'])}`,
      `routes: ${lab.exec(h, ['ip', '-4', 'route', 'show'])}`,
      `addr: ${lab.exec(h, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'scbr-100']).replace(/valid_lft.*$/gm, '')}`,
      `filter sets: ${JSON.stringify(filterSets(lab, h) ?? '(no table)')}`,
      `self: ${s.node.overlayIp} ${s.node.addressState} pinned=${s.node.pinned} filter=${s.filter.mode}/${s.filter.allowed}`,
      ...s.peers.map((p) => `peer: ${p.id} ${p.overlayIp} ${p.underlayIp} ${p.mac} ${p.state}`),
    ].join('\n');
  }
  return out;
}

export interface Watch {
  /** Stops the captures and asserts: nothing reached scbr-100, every snapshot equal, every agent still the same process. */
  check(what: string): Promise<void>;
  /** The frames each victim's scbr-100 saw from the outsider (stops the captures). */
  reached(): Promise<string[]>;
}

/**
 * Starts watching: tcpdump on the victims' scbr-100, a snapshot of every
 * agent host (default: the victims), their agents' PIDs.
 */
export async function watch(lab: Lab, victims: Host[], agents: Host[] = victims): Promise<Watch> {
  const pids = agents.map((h) => h.agent?.pid);
  const before = await snapshot(lab, agents);
  const dumps = await Promise.all(victims.map((h) => lab.capture(h, 'scbr-100', `ether src ${OUTSIDER_MAC}`)));
  let frames: string[] | undefined;
  const reached = async (): Promise<string[]> => {
    frames ??= (await Promise.all(dumps.map(async (d, i) => (await d.stop()).map((l) => `${victims[i]!.name}: ${l}`)))).flat();
    return frames;
  };
  return {
    reached,
    async check(what: string): Promise<void> {
      expect(await reached(), `${what}: frames from the outsider on scbr-100`).toEqual([]);
      expect(agents.map((h) => h.agent?.pid), `${what}: the agents are the same processes`).toEqual(pids);
      for (const h of agents) expect(h.agent?.exitCode ?? null, `${what}: ${h.name}'s agent still runs`).toBeNull();
      expect(await snapshot(lab, agents), `${what}: FDB, neighbours, routes, address, allowed set and the agents' view`).toEqual(before);
    },
  };
}
