// Layer: agent (the physical interface, decided before the agent is built).
// Contract: the one place that decides which interface carries the overlay.
// The configuration (`interface:`, --interface) always wins and is never
// persisted. Without it: the interface kept in the state (chosen at an
// earlier start), else the device of the IPv4 default route with the lowest
// metric, else the IPv6 one's, else the only NIC; none of them yet: wait,
// re-checking every second on the Clock. A new choice is persisted before
// anything uses it and kept from then on, so a reboot with DHCP down (no
// default route) or another NIC's default route picks no other interface.
// chooseInterface() is shared with `doctor`; settleFromState() is the agent's.

import type { Clock } from '../../clock.js';
import { errFields, type Logger } from '../../log.js';
import { ZERO_MAC } from '../../net/ipv4.js';
import type { DefaultRoute, Kernel, Link } from '../../kernel/types.js';
import type { PersistedState } from '../../state/schema.js';
import type { StateStore } from '../../state/store.js';
import type { AgentConfig, InterfaceSource } from '../config.js';
import { readState } from '../records/persistence.js';

export type { InterfaceSource } from '../config.js';

export interface InterfaceChoice {
  ifname: string;
  source: InterfaceSource;
}

/** What the choice reads from the kernel. */
export type RouteView = Pick<Kernel, 'links' | 'defaultRoutes'>;

/** re-check period while there is nothing to choose */
export const RECHECK_MS = 1000;

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** An Ethernet device: a MAC of its own (lo's is all zeros; tun, WireGuard and PPP devices have none). */
const ethernet = (l: Link): boolean => MAC.test(l.mac) && l.mac !== ZERO_MAC;

/**
 * A NIC the agent may take when it is the only one: an Ethernet device with
 * no link kind (real hardware) or a veth (a VM's or container's NIC, as in the
 * test lab), not a port of a bridge or bond, not our own bridge or VXLAN
 * device. Bridges, VXLAN, VLAN, bond, dummy and tunnel devices never count.
 */
export function isLoneNic(l: Link, ours: readonly string[]): boolean {
  return ethernet(l) && (l.kind === undefined || l.kind === 'veth') && l.master === undefined && !ours.includes(l.name);
}

/**
 * Pure: the default route's device (IPv4 first, lowest metric), else the only NIC; undefined: nothing to choose
 * yet.
 */
export function pickFromKernel(
  routes: readonly DefaultRoute[], links: readonly Link[], ours: readonly string[],
): InterfaceChoice | undefined {
  const byIndex = new Map(links.map((l) => [l.index, l]));
  for (const family of [4, 6] as const) {
    const usable = routes
      .filter((r) => r.family === family)
      .map((r) => ({ r, l: byIndex.get(r.index) }))
      .filter((x): x is { r: DefaultRoute; l: Link } => x.l !== undefined && ethernet(x.l) && !ours.includes(x.l.name))
      .sort((a, b) => a.r.metric - b.r.metric || a.r.index - b.r.index);
    if (usable.length > 0) {
      return { ifname: usable[0]!.l.name, source: family === 4 ? 'default-route' : 'default-route6' };
    }
  }
  const nics = links.filter((l) => isLoneNic(l, ours));
  return nics.length === 1 ? { ifname: nics[0]!.name, source: 'only-nic' } : undefined;
}

/** The decision, in order: configured, kept in the state, then what the kernel shows now. */
export async function chooseInterface(configured: string | undefined, kept: string | undefined, kernel: RouteView,
  ours: readonly string[]): Promise<InterfaceChoice | undefined> {
  if (configured) return { ifname: configured, source: 'config' };
  if (kept) return { ifname: kept, source: 'state' };
  const [routes, links] = await Promise.all([kernel.defaultRoutes(), kernel.links()]);
  return pickFromKernel(routes, links, ours);
}

/** "the default route's" — why the kernel's view gave this interface. */
export function sourceText(source: InterfaceSource): string {
  switch (source) {
    case 'default-route': return 'the default route\'s';
    case 'default-route6': return 'the IPv6 default route\'s';
    case 'only-nic': return 'the only network interface';
    case 'state': return 'kept in the state';
    case 'config': return 'configured';
  }
}

export interface SettleDeps {
  kernel: RouteView;
  clock: Clock;
  log: Logger;
  /** the config file messages point to */
  configFile: string;
  stateDir: string;
  /** our bridge and VXLAN device: never the physical interface */
  ours: readonly string[];
  /** persists a new choice; throws (E_STATE) if it cannot */
  keep(ifname: string): void;
}

/**
 * The agent's interface: configured, kept, or chosen now (waiting for a
 * default route or a lone NIC if there is none yet) and persisted at once.
 * The interface itself may be absent or down: the agent waits for it.
 */
export async function settleInterface(
  configured: string, kept: string | undefined, d: SettleDeps,
): Promise<InterfaceChoice> {
  if (configured) return { ifname: configured, source: 'config' };
  if (kept) {
    d.log.info({ ifname: kept, stateDir: d.stateDir },
      `interface ${kept} (chosen at first start, kept in ${d.stateDir}; set interface: to change it)`);
    return { ifname: kept, source: 'state' };
  }
  let said = false;
  let failed = false;
  for (;;) {
    let c: InterfaceChoice | undefined;
    try {
      c = await chooseInterface(undefined, undefined, d.kernel, d.ours);
    } catch (err) {
      if (!failed) {
        d.log.warn(errFields(err), `cannot read the default routes: ${(err as Error).message}; retrying every second`);
      }
      failed = true;
    }
    if (c) {
      d.keep(c.ifname);
      d.log.info({ ifname: c.ifname, source: c.source, stateDir: d.stateDir },
        `interface ${c.ifname} chosen (${sourceText(c.source)}); kept in ${d.stateDir}; set interface: to change it`);
      return c;
    }
    if (!said && !failed) {
      d.log.info({ config: d.configFile },
        'no interface configured and no default route yet: '
          + `waiting for one (set interface: in ${d.configFile} to choose)`);
      said = true;
    }
    await new Promise<void>((resolve) => d.clock.setTimeout(resolve, RECHECK_MS));
  }
}

/**
 * Reads the state file (refusing a bad one, as Agent.create would) and
 * settles the interface: the config with it filled in, and the document for
 * Agent.create (a new choice is already written to disk).
 */
export async function settleFromState(
  config: AgentConfig, store: StateStore, d: Pick<SettleDeps, 'kernel' | 'clock' | 'log' | 'configFile'>,
): Promise<{ config: AgentConfig; doc: PersistedState }> {
  const doc = readState(config, store, d.log);
  const choice = await settleInterface(config.interface, doc.interface, {
    ...d, stateDir: config.stateDir, ours: [config.bridge, config.vxlanDevice],
    keep: (ifname) => {
      doc.interface = ifname;
      store.save(doc);
    },
  });
  return { config: { ...config, interface: choice.ifname, interfaceSource: choice.source }, doc };
}
