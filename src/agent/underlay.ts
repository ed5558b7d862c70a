// Layer: agent (underlay address). Contract: reads the physical interface's
// IPv4 address from the kernel. It keeps the address it already announces
// while that still exists (a second address is no reason to churn), skips
// link-local 169.254/16, and says whether a peer's address is on our LAN
// (reached by broadcast) or beyond it (needs unicast).

import { sameSubnet, type Ipv4 } from '../net/ipv4.js';
import type { Kernel } from '../kernel/types.js';

export interface UnderlayChange {
  old: Ipv4 | undefined;
  next: Ipv4 | undefined;
}

export class Underlay {
  ip: Ipv4 | undefined;
  prefix: number | undefined;
  physIndex: number | undefined;
  /** MAC of the physical interface (sent in announcements: proves L2 adjacency) */
  mac: string | undefined;

  constructor(private readonly kernel: Kernel, private readonly iface: string) {}

  /** Re-reads the address; returns the change, or undefined if there is none. */
  async refresh(): Promise<UnderlayChange | undefined> {
    const link = await this.kernel.linkByName(this.iface);
    this.physIndex = link?.index;
    this.mac = link?.mac || undefined;
    let next: { address: Ipv4; prefix: number } | undefined;
    if (link) {
      const addrs = (await this.kernel.addrs(link.index)).filter((a) => (a.address >>> 16) !== 0xa9fe);
      const primaries = addrs.filter((a) => !a.secondary);
      next = addrs.find((a) => a.address === this.ip) ?? primaries[0] ?? addrs[0];
    }
    this.prefix = next?.prefix;
    if (next?.address === this.ip) return undefined;
    const old = this.ip;
    this.ip = next?.address;
    return { old, next: this.ip };
  }

  /** Is `ip` inside our underlay subnet (reachable by our broadcasts)? */
  onLan(ip: Ipv4): boolean {
    return this.ip !== undefined && this.prefix !== undefined && sameSubnet(ip, this.ip, this.prefix);
  }
}
