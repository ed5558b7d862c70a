// Test double: the VXLAN ingress filter (firewall seam). apply() records
// every call and, when the allowed set changes (an unchanged set touches
// nothing, as in firewall/nft.ts), appends `nft set peers { a, b }` (and
// `nft set peers6 { … }` for the link-local set) to an op log — give it
// the fake kernel's `ops` to assert the order against FDB
// changes. It takes a few ticks, longer than a fake kernel op, so a caller
// that does not wait for it shows in that order. failNext() makes calls
// fail (the first one rejects, the rest quietly, per the seam); report()
// only reads.

import type { FilterReport, FilterSpec, Firewall } from '../../src/firewall/types.js';
import { formatIpv4, type Ipv4 } from '../../src/net/ipv4.js';
import type { Ipv6 } from '../../src/net/ipv6.js';

const TICKS = 8;

export class FakeFirewall implements Firewall {
  /** the argument of every apply(), sorted, failed calls included */
  readonly calls: Ipv4[][] = [];
  /** the set in force (undefined: never installed) */
  allowed: Ipv4[] | undefined;
  /** the link-local set in force */
  allowed6: Ipv6[] = [];
  /** what report() shows as dropped packets (set by tests) */
  droppedPackets = 0;
  refreshes = 0;
  private error: string | null = null;
  private failures: { times: number; message: string } = { times: 0, message: '' };

  constructor(readonly ops: string[] = []) {}

  /** The next `times` apply() calls reject with `message` and change nothing. */
  failNext(times = 1, message = 'nft: Operation not permitted'): void {
    this.failures = { times, message };
  }

  /** the last spec applied (senders and LAN included) */
  spec: FilterSpec | undefined;

  get working(): boolean {
    return this.allowed !== undefined && this.error === null;
  }

  async apply(spec: FilterSpec): Promise<void> {
    const sorted = [...new Set(spec.peers)].sort((a, b) => a - b);
    this.calls.push(sorted);
    for (let i = 0; i < TICKS; i++) await Promise.resolve();
    if (this.failures.times > 0) {
      this.failures.times--;
      const wasWorking = this.error === null;
      this.error = this.failures.message;
      if (wasWorking) throw new Error(this.error); // the seam's contract: reject when it breaks, then quietly
      return;
    }
    this.error = null;
    this.spec = spec;
    const six = [...new Set(spec.peers6)].sort();
    if (this.allowed6.join() !== six.join()) {
      this.allowed6 = six;
      this.ops.push(`nft set peers6 { ${six.join(', ')}${six.length ? ' ' : ''}}`);
    }
    if (this.allowed?.join() === sorted.join()) return;
    this.allowed = sorted;
    this.ops.push(`nft set peers { ${sorted.map(formatIpv4).join(', ')}${sorted.length ? ' ' : ''}}`);
  }

  async refresh(): Promise<void> {
    this.refreshes++;
  }

  report(): FilterReport {
    return {
      mode: this.working ? 'filtered' : 'unfiltered',
      allowed: this.allowed?.length ?? 0, droppedPackets: this.droppedPackets, error: this.error, guard: false,
    };
  }

  /** The set in force, as text (tests). */
  allowedText(): string[] {
    return (this.allowed ?? []).map(formatIpv4);
  }
}
