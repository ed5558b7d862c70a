// Layer: firewall seam. Contract: the VXLAN ingress filter as the dataplane
// sees it — only the peers' current underlay addresses (IPv4 and IPv6
// link-local) may send VXLAN with our VNI to this host, and only on the
// physical interface; UDP discovery is rate-limited, hardest from beyond our
// LAN and known hosts. main builds the real one (firewall/nft.ts); tests use
// a fake.

import type { Cidr, Ipv4 } from '../net/ipv4.js';
import type { Ipv6 } from '../net/ipv6.js';

/** What the filter lets in. */
export interface FilterSpec {
  /** underlay addresses that may send VXLAN (the peers') */
  peers: readonly Ipv4[];
  /** the peers' IPv6 link-local addresses, which may send VXLAN too */
  peers6: readonly Ipv6[];
  /** our LAN: UDP discovery from it is accepted (undefined: no IPv4 address yet) */
  lan: Cidr | undefined;
  /** hosts beyond the LAN whose UDP discovery is accepted too (seeds, peers on other segments) */
  senders: readonly Ipv4[];
}

export interface FilterReport {
  /** filtered: in force; unfiltered: it failed — the overlay is held down; disabled: `filter: off` */
  mode: 'filtered' | 'unfiltered' | 'disabled';
  allowed: number;
  droppedPackets: number;
  error: string | null;
  /** the guard table (survives `nft flush ruleset`) is in place */
  guard: boolean;
}

export interface Firewall {
  /**
   * Makes the filter exactly `spec` (atomic, safe to repeat). Rejects when
   * the filter stops working; while it stays broken it retries quietly and
   * report() carries the error.
   */
  apply(spec: FilterSpec): Promise<void>;
  /**
   * Re-reads what the kernel holds (the drop counter; a table someone changed is noticed here). Throttled; never
   * rejects.
   */
  refresh(): Promise<void>;
  /** Is the filter in force right now (the VXLAN device may be up)? */
  readonly working: boolean;
  /** What the last apply() and refresh() found. Pure. */
  report(): FilterReport;
}

/** The report of an agent told to run without a filter (`filter: off`). */
export const NO_FILTER: FilterReport = { mode: 'disabled', allowed: 0, droppedPackets: 0, error: null, guard: false };
