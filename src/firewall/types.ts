// Layer: firewall seam. Contract: the VXLAN ingress filter as the dataplane
// sees it — only the peers' current underlay addresses may send VXLAN to us.
// main builds the real one (firewall/nft.ts); tests use a fake.

import type { Ipv4 } from '../net/ipv4.js';

export interface FilterReport {
  /** "filtered": only peers may send VXLAN; "unfiltered": nftables missing or failing */
  mode: 'filtered' | 'unfiltered' | 'disabled';
  allowed: number;
  droppedPackets: number;
  error: string | null;
}

export interface Firewall {
  /**
   * Makes the allowed set exactly `allowed` (atomic, safe to repeat). Rejects
   * when the filter stops working; while it stays broken it retries quietly
   * and report() carries the error.
   */
  apply(allowed: readonly Ipv4[]): Promise<void>;
  /** Re-reads what the kernel holds (the drop counter; a deleted table is noticed here). Throttled; never rejects. */
  refresh(): Promise<void>;
  /** What the last apply() and refresh() found. Pure. */
  report(): FilterReport;
}

/** The report of an agent that runs without a filter. */
export const NO_FILTER: FilterReport = { mode: 'disabled', allowed: 0, droppedPackets: 0, error: null };
