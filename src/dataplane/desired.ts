// Layer: dataplane policy (pure). Contract: the state the dataplane should
// have, from the peers (contested addresses already given to one winner),
// our own claim, our underlay addresses and the underlay family in use.
// Nothing here reads the kernel.

import { maskOf, sameSubnet, type Ipv4 } from '../net/ipv4.js';
import type { Ipv6 } from '../net/ipv6.js';
import type { FilterSpec } from '../firewall/types.js';
import type { Family } from '../policy/family.js';
import { fdbKey, desiredFdb, type PeerRoute } from './plan.js';

export interface UnderlayAddress {
  ip: Ipv4;
  prefix: number;
}

export interface DesiredInput {
  /** every peer, one winner per contested overlay address (PeerTable.routes) */
  routes: readonly PeerRoute[];
  /** ids of the peers heard over raw L2 recently: they share our Ethernet segment */
  adjacent: ReadonlySet<string>;
  /** ids of the peers whose underlay address may send VXLAN: alive, or stale but heard lately */
  trusted: ReadonlySet<string>;
  /** the unicast seeds' addresses */
  seeds: readonly Ipv4[];
  ownIp: Ipv4 | undefined;
  underlay: UnderlayAddress | undefined;
  /**
   * our address as last known (kept while there is none): the LAN whose hosts may send discovery, so that a
   * renumbering within the LAN changes nothing there
   */
  lastUnderlay?: UnderlayAddress | undefined;
  /** what carries VXLAN, and our link-local address (current or last known) */
  family: Family;
  linkLocal: Ipv6 | undefined;
}

export interface Desired {
  ownIp: Ipv4 | undefined;
  routes: PeerRoute[];
  /** neighbour entries on the bridge: overlay IP -> bridge MAC (the contested address's winner only) */
  neigh: ReadonlyMap<Ipv4, string>;
  /** underlay IPs of peers on our L2 segment but outside our subnet: on-link /32 routes */
  onLink: Ipv4[];
  underlayIp: Ipv4 | undefined;
  family: Family;
  /** our link-local address: the VXLAN device's source with the link-local family */
  linkLocal: Ipv6 | undefined;
  /** the ingress filter: applied before the FDB points anywhere new */
  filter: FilterSpec;
}

export function desiredState(i: DesiredInput): Desired {
  const own = i.underlay?.ip;
  const ll = i.family === 'link-local';
  const routes = i.routes
    // no underlay address yet (raw L2 only), or claiming our own (misconfiguration): no FDB entries
    .filter((r) => (ll
      ? r.linkLocal !== undefined && r.linkLocal !== i.linkLocal
      : r.underlayIp !== 0 && r.underlayIp !== own))
    // a peer that claims our overlay address gets FDB entries but no neighbour entry
    .map((r) => (r.overlayIp === i.ownIp ? { ...r, overlayIp: undefined } : r));
  const onLan = (ip: Ipv4): boolean => i.underlay !== undefined && sameSubnet(ip, i.underlay.ip, i.underlay.prefix);
  // on-link routes serve VXLAN over IPv4 only (link-local needs none)
  const onLink = ll ? [] : routes.filter((r) => !onLan(r.underlayIp) && i.adjacent.has(r.id)).map((r) => r.underlayIp);
  const u = i.underlay ?? i.lastUnderlay;
  const inLan = (ip: Ipv4): boolean => u !== undefined && sameSubnet(ip, u.ip, u.prefix);
  const trusted = i.routes.filter((r) => i.trusted.has(r.id));
  const filter: FilterSpec = {
    // both families: VXLAN keeps flowing from a peer still on the other one while a switch spreads
    peers: [...new Set(trusted.filter((r) => r.underlayIp !== 0 && r.underlayIp !== own).map((r) => r.underlayIp))],
    peers6: [...new Set(trusted.flatMap((r) =>
      (r.linkLocal === undefined || r.linkLocal === i.linkLocal ? [] : [r.linkLocal])))],
    lan: u === undefined ? undefined : { network: (u.ip & maskOf(u.prefix)) >>> 0, prefix: u.prefix },
    senders: [...new Set([
      ...i.seeds,
      ...i.routes
        .filter((r) => r.underlayIp !== 0 && r.underlayIp !== own && !inLan(r.underlayIp))
        .map((r) => r.underlayIp),
    ])],
  };
  const neigh = new Map(routes.filter((r) => r.overlayIp !== undefined).map((r) => [r.overlayIp!, r.mac]));
  return { ownIp: i.ownIp, routes, neigh, onLink, underlayIp: own, family: i.family, linkLocal: i.linkLocal, filter };
}

/**
 * The FDB entries ("mac/dst") and neighbour entries (overlay IP -> MAC) we keep: kernel events are judged against
 * them.
 */
export interface Wanted {
  fdb: ReadonlySet<string>;
  neigh: ReadonlyMap<Ipv4, string>;
}

export function wantedEntries(d: Desired): Wanted {
  // `via` left out: an event is judged by MAC and destination
  const target = d.family === 'ipv4' ? { family: 'ipv4' as const } : { family: 'link-local' as const, via: 0 };
  return {
    fdb: new Set(desiredFdb(d.routes, target).map((e) => fdbKey({ mac: e.mac, dst: e.dst }))),
    neigh: d.neigh,
  };
}
