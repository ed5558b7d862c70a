// Layer: firewall (real; built only by main). Contract: an nftables table of
// our own, "ip edge_overlay", that drops VXLAN arriving on the physical
// interface for a local address unless it comes from the current underlay
// address of an authenticated peer (prerouting at raw priority: before
// conntrack). `nft` installs the table; the allowed set is then replaced
// through a fast netlink writer when one is given, falling back to `nft`.

import { execFile } from 'node:child_process';
import { systemClock, type Clock } from '../clock.js';
import { EdgeError } from '../errors.js';
import { formatIpv4, type Ipv4 } from '../net/ipv4.js';
import type { FilterReport, Firewall } from './types.js';

export const NFT_TABLE = 'edge_overlay';
/** the drop counter is read with `nft`: not more often than this */
const COUNTER_REFRESH_MS = 2000;

type Runner = (args: string[], input?: string) => Promise<string>;

/** Replaces a set's elements directly (netlink); optional. */
export interface SetWriter {
  replace(table: string, set: string, elements: readonly Ipv4[]): Promise<void>;
}

/** The `nft` binary is not installed: the agent runs unfiltered. */
export class NftMissing extends EdgeError {
  constructor() {
    super('E_FILTER', 'nft is not installed (Debian package nftables)');
  }
}

export const runNft: Runner = (args, input) => new Promise((resolve, reject) => {
  const child = execFile('nft', args, { timeout: 5000 }, (err, stdout, stderr) => {
    if (err) {
      const code = (err as NodeJS.ErrnoException).code;
      reject(code === 'ENOENT' ? new NftMissing() : new EdgeError('E_FILTER', stderr.trim().split('\n')[0] || err.message));
    } else {
      resolve(stdout);
    }
  });
  if (input !== undefined) child.stdin?.end(input);
});

/** The whole table, declared idempotently: flushing first makes a re-run replace, not duplicate, the rule. */
export function tableScript(iface: string, port: number, allowed: readonly Ipv4[]): string {
  const lines = [
    `table ip ${NFT_TABLE} {}`,
    `flush table ip ${NFT_TABLE}`,
    `table ip ${NFT_TABLE} {`,
    '  set peers { type ipv4_addr; }',
    '  counter dropped {}',
    '  chain vxlan_ingress {',
    '    type filter hook prerouting priority raw; policy accept;',
    `    iifname ${JSON.stringify(iface)} udp dport ${port} fib daddr type local ip saddr != @peers counter name dropped drop`,
    '  }',
    '}',
  ];
  if (allowed.length > 0) lines.push(`add element ip ${NFT_TABLE} peers { ${allowed.map(formatIpv4).join(', ')} }`);
  return `${lines.join('\n')}\n`;
}

/** Replaces the allowed set in one transaction. */
export function setScript(allowed: readonly Ipv4[]): string {
  const lines = [`flush set ip ${NFT_TABLE} peers`];
  if (allowed.length > 0) lines.push(`add element ip ${NFT_TABLE} peers { ${allowed.map(formatIpv4).join(', ')} }`);
  return `${lines.join('\n')}\n`;
}

export class NftFirewall implements Firewall {
  private installed = false;
  private applied: string | undefined;
  private allowedCount = 0;
  private dropped = 0;
  private error: string | null = null;
  private refreshing = false;
  private refreshedAt = -Infinity;

  constructor(
    private readonly iface: string, private readonly port: number, private readonly run: Runner = runNft,
    private readonly fast?: SetWriter, private readonly clock: Clock = systemClock,
  ) {}

  async apply(allowed: readonly Ipv4[]): Promise<void> {
    const sorted = [...allowed].sort((a, b) => a - b);
    const key = sorted.join(',');
    if (this.installed && key === this.applied) return;
    try {
      if (!this.installed || !this.fast || !(await this.replaceFast(sorted))) {
        await this.run(['-f', '-'], this.installed ? setScript(sorted) : tableScript(this.iface, this.port, sorted));
      }
    } catch (err) {
      const wasWorking = this.error === null;
      this.installed = false; // reinstall the whole table next time
      this.error = (err as Error).message;
      if (wasWorking) throw err; // the filter just broke; while it stays broken, report() says so
      return;
    }
    this.installed = true;
    this.applied = key;
    this.allowedCount = sorted.length;
    this.error = null;
  }

  /** false: the set could not be replaced (the table may be gone): install it with nft. */
  private async replaceFast(sorted: Ipv4[]): Promise<boolean> {
    try {
      await this.fast!.replace(NFT_TABLE, 'peers', sorted);
      return true;
    } catch {
      this.installed = false;
      return false;
    }
  }

  /**
   * Reads the drop counter with `nft`, at most every few seconds (monotonic
   * clock: a wall clock stepped back must not stall it). A table someone
   * deleted is noticed here; the next apply() reinstalls it.
   */
  async refresh(): Promise<void> {
    const now = this.clock.monotonic();
    if (!this.installed || this.refreshing || now - this.refreshedAt < COUNTER_REFRESH_MS) return;
    this.refreshing = true;
    this.refreshedAt = now;
    try {
      const out = await this.run(['-j', 'list', 'counter', 'ip', NFT_TABLE, 'dropped']);
      const doc = JSON.parse(out) as { nftables?: { counter?: { packets?: number } }[] };
      this.dropped = doc.nftables?.find((x) => x.counter)?.counter?.packets ?? this.dropped;
    } catch {
      this.installed = false;
    } finally {
      this.refreshing = false;
    }
  }

  report(): FilterReport {
    return { mode: this.installed && !this.error ? 'filtered' : 'unfiltered', allowed: this.allowedCount, droppedPackets: this.dropped, error: this.error };
  }
}

/** `edge-overlay down`: remove our table; "not present" is fine. */
export async function removeTable(run: Runner = runNft): Promise<'removed' | 'not present' | 'not present (nft not installed)' | string> {
  try {
    await run(['delete', 'table', 'ip', NFT_TABLE]);
    return 'removed';
  } catch (err) {
    if (err instanceof NftMissing) return 'not present (nft not installed)';
    const msg = (err as Error).message;
    if (/No such file or directory|does not exist/i.test(msg)) return 'not present';
    return msg;
  }
}
