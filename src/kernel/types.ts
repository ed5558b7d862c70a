// Layer: kernel seam. Contract: the primitive rtnetlink operations the agent
// needs, as plain data. The real implementation (kernel/netlink/) is the only
// code that touches the netlink library; tests use test/fakes/kernel.ts, which
// mimics the kernel's answers (EEXIST, ENOENT, ENOTSUP on replacing the
// all-zeros FDB entry). Idempotent "ensure" logic lives above, in dataplane/.
// IPv4 addresses are numbers, IPv6 ones canonical strings (net/ipv6.ts).

import type { Ipv4 } from '../net/ipv4.js';
import type { IpAddr, Ipv6 } from '../net/ipv6.js';

export interface VxlanInfo {
  vni: number;
  port: number;
  /** ifindex of the underlay device (IFLA_VXLAN_LINK), if bound. */
  link: number | undefined;
  /** fixed source address, if any. */
  local: Ipv4 | undefined;
  /** fixed IPv6 source address (IFLA_VXLAN_LOCAL6): the device carries VXLAN over IPv6. */
  local6: Ipv6 | undefined;
  learning: boolean;
}

export interface Link {
  index: number;
  name: string;
  /** IFLA_INFO_KIND ("bridge", "vxlan", "veth"...), undefined for plain devices. */
  kind: string | undefined;
  mtu: number;
  /** administratively up (IFF_UP) */
  up: boolean;
  /** the link has carrier (IFF_LOWER_UP): a cable and a peer at its other end */
  carrier: boolean;
  mac: string;
  master: number | undefined;
  vxlan: VxlanInfo | undefined;
}

export interface Addr {
  index: number;
  address: Ipv4;
  prefix: number;
  secondary: boolean;
}

/** An IPv6 address of a device; DAD marks a new one tentative for 1-2 s (dadFailed: someone else holds it). */
export interface Addr6 {
  index: number;
  address: Ipv6;
  prefix: number;
  /** fe80::/10 */
  linkLocal: boolean;
  tentative: boolean;
  dadFailed: boolean;
}

/**
 * An FDB entry on a VXLAN device (bridge fdb … self): frames for `mac` go to
 * `dst`, of the device's family (EAFNOSUPPORT otherwise). `via`
 * (NDA_IFINDEX, `bridge fdb … via eth0`) is the interface the outer packet
 * leaves by; a link-local dst needs it (without it the route lookup may pick
 * another device's fe80::/64, the VXLAN device's own included). Entries
 * differing only in `via` are distinct: delete with the `via` you added.
 */
export interface FdbEntry {
  mac: string;
  dst: IpAddr;
  via?: number;
}

export interface Neigh {
  index: number;
  dst: Ipv4;
  mac: string | undefined;
  permanent: boolean;
}

/** An on-link host route the agent owns (to a peer outside our subnet on our L2 segment). */
export interface HostRoute {
  dst: Ipv4;
  index: number;
  src: Ipv4;
}

/**
 * A default route (0.0.0.0/0 or ::/0) of the main routing table, unicast,
 * with the device it leaves by (a multipath route: its first hop's device).
 * `metric` is RTA_PRIORITY (0 when absent); the lowest one is used first.
 */
export interface DefaultRoute {
  family: 4 | 6;
  index: number;
  metric: number;
}

export interface VxlanSpec {
  vni: number;
  port: number;
  link: number;
  /** capped silently at link MTU − 50 (IPv4) or − 70 (IPv6) */
  mtu: number;
  /** VXLAN over IPv6 from this address (a link-local one needs `link`: EINVAL without). */
  local6?: Ipv6;
}

export interface LinkChange {
  mtu?: number;
  up?: boolean;
  master?: number;
  mac?: string;
}

export type KernelEvent =
  | { type: 'link'; op: 'new' | 'del'; index: number; name: string | undefined }
  | { type: 'addr'; op: 'new' | 'del'; index: number; address: Ipv4; prefix: number }
  | {
    type: 'addr6'; op: 'new' | 'del'; index: number; address: Ipv6; prefix: number; tentative: boolean;
    dadFailed: boolean;
  }
  | { type: 'fdb'; op: 'new' | 'del'; index: number; mac: string; dst: IpAddr | undefined; via?: number; self: boolean }
  /** ARP entries only: ND (IPv6 neighbour) entries are not reported. */
  | { type: 'neigh'; op: 'new' | 'del'; index: number; dst: Ipv4; mac: string | undefined; permanent: boolean }
  /** Events were lost (receive overrun) or the event socket was reopened: resync everything. */
  | { type: 'resync'; reason: string };

export interface Kernel {
  linkByName(name: string): Promise<Link | undefined>;
  /** Every device (`ip link show`), the loopback device included. */
  links(): Promise<Link[]>;
  createBridge(name: string, mtu: number, mac: string): Promise<void>;
  createVxlan(name: string, spec: VxlanSpec): Promise<void>;
  setLink(index: number, change: LinkChange): Promise<void>;
  /** Change a VXLAN device's fixed local address in place (undefined: none, IPv4 only);
   *  an address of the other family than the device's is ENOTSUP (95). */
  setVxlanLocal(index: number, local: IpAddr | undefined): Promise<void>;
  deleteLink(index: number): Promise<void>;
  /** net.ipv4.conf.<name>.promote_secondaries=1: deleting a primary address
   *  promotes a secondary instead of deleting every address of the subnet. */
  setPromoteSecondaries(name: string): Promise<void>;

  addrs(index: number): Promise<Addr[]>;
  addAddr(index: number, address: Ipv4, prefix: number): Promise<void>;
  delAddr(index: number, address: Ipv4, prefix: number): Promise<void>;
  /** IPv6 addresses of one device (none while IPv6 is disabled on it). */
  addrs6(index: number): Promise<Addr6[]>;
  /** net.ipv6.conf.<name>.disable_ipv6, or true when the kernel has no IPv6; ENODEV for no such device. */
  ipv6Disabled(name: string): Promise<boolean>;

  /** The `self` FDB entries of a VXLAN device. */
  fdb(index: number): Promise<FdbEntry[]>;
  fdbAppend(index: number, entry: FdbEntry): Promise<void>;
  fdbReplace(index: number, entry: FdbEntry): Promise<void>;
  fdbDel(index: number, entry: FdbEntry): Promise<void>;

  /** IPv4 neighbour entries of one device. */
  neighs(index: number): Promise<Neigh[]>;
  /** An ARP entry, or an ND entry for an IPv6 dst. */
  neighReplace(index: number, dst: IpAddr, mac: string): Promise<void>;
  neighDel(index: number, dst: IpAddr): Promise<void>;

  /** The default routes of the main table, IPv4 and IPv6 (`ip route show default`, `ip -6 route show default`). */
  defaultRoutes(): Promise<DefaultRoute[]>;
  /** Our on-link /32 routes (tagged with our routing protocol number). */
  hostRoutes(): Promise<HostRoute[]>;
  hostRouteReplace(r: HostRoute): Promise<void>;
  hostRouteDel(r: HostRoute): Promise<void>;

  /** Starts delivering events; returns a function that stops them. */
  watch(onEvent: (e: KernelEvent) => void): () => void;
  close(): void;
}
