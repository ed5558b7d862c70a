// Layer: firewall (real; built only by main). Contract: keeps our nftables
// table "inet edge_overlay" (firewall/script.ts: VXLAN only from the peers'
// underlay addresses, IPv4 or IPv6 link-local, on the physical interface;
// UDP discovery rate-limited) in force. `nft` (an absolute path) installs the
// table; the peer sets are then replaced through a netlink writer.
// nf_tables notifications tell when someone else changes the table: it is
// checked and put back.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { EdgeError } from '../errors.js';
import type { IpAddr } from '../net/ipv6.js';
import { SingleFlight } from '../util/singleflight.js';
import type { FilterReport, FilterSpec, Firewall } from './types.js';
import {
  NFT_TABLE, SHAPE, peers6Key, peersKey, sendersKey, setScript, tableScript, type TableOptions,
} from './script.js';

export { NFT_TABLE, setScript, tableScript, type TableOptions };

/** the drop counter is read with `nft`: not more often than this */
const COUNTER_REFRESH_MS = 2000;

/** Where Debian and others install nft: never resolved through PATH (the agent runs as root). */
export const NFT_PATHS = ['/usr/sbin/nft', '/sbin/nft'];

/** Runs nft; `started` learns the child's pid (the notifications of its transaction name it). */
type Runner = (args: string[], input?: string, started?: (pid: number) => void) => Promise<string>;

/** Replaces a set's elements directly (netlink); optional. */
export interface SetWriter {
  replace(table: string, set: string, elements: readonly IpAddr[]): Promise<void>;
}

/** Reports committed transactions that changed our table, and who committed them (nf_tables notifications). */
export interface TableMonitor {
  start(table: string, onChange: (t: { changes: { op: string }[]; pid: number | undefined } | 'lost') => void): void;
  close(): void;
}

/** The `nft` binary is not installed: the filter cannot be put in place. */
export class NftMissing extends EdgeError {
  constructor() {
    super('E_FILTER', `nft is not installed (${NFT_PATHS.join(' or ')}; Debian package nftables)`);
  }
}

export const runNft: Runner = (args, input, started) => new Promise((resolve, reject) => {
  const nft = NFT_PATHS.find((p) => existsSync(p));
  if (!nft) return reject(new NftMissing());
  const child = execFile(nft, args, { timeout: 5000 }, (err, stdout, stderr) => {
    if (err) reject(new EdgeError('E_FILTER', stderr.trim().split('\n')[0] || err.message));
    else resolve(stdout);
  });
  if (child.pid !== undefined) started?.(child.pid);
  if (input !== undefined) child.stdin?.end(input);
});

/** What the sets hold, as keys. */
interface Applied {
  peers: string;
  peers6: string;
  senders: string;
}

export interface NftFirewallDeps {
  options: TableOptions;
  run?: Runner;
  fast?: SetWriter | undefined;
  monitor?: TableMonitor | undefined;
  clock?: Clock;
  /** the guard table (firewall/guard.ts), started with the firewall */
  guard?: { readonly active: boolean; start(): void; close(): void } | undefined;
  /**
   * Someone else deleted or changed our table: the filter is not in force.
   * `guarded`: the guard table drops unvetted VXLAN meanwhile; otherwise the
   * agent holds the overlay down at once. Either way it reconciles, which
   * puts the table back.
   */
  onBreach?: (guarded: boolean) => void;
}

export class NftFirewall implements Firewall {
  private installed = false;
  private applied: Applied | undefined;
  private spec: FilterSpec | undefined;
  private dropped = 0;
  private error: string | null = null;
  private refreshing = false;
  private refreshedAt = -Infinity;
  private readonly run: Runner;
  private readonly clock: Clock;
  private readonly check: SingleFlight;
  /** writes the senders' set in the background */
  private readonly senders: SingleFlight;
  /** pids of our own recent `nft` runs: the transactions they commit are not a breach */
  private readonly mine: number[] = [];
  private checkSoon: TimerHandle | undefined;

  constructor(private readonly d: NftFirewallDeps) {
    this.run = d.run ?? runNft;
    this.clock = d.clock ?? systemClock;
    this.check = new SingleFlight(() => this.verify(), () => undefined);
    this.senders = new SingleFlight(() => this.writeSenders(), () => undefined);
    d.guard?.start();
    d.monitor?.start(NFT_TABLE, (t) => {
      if (t !== 'lost' && t.pid !== undefined && this.mine.includes(t.pid)) return; // our own install
      // Someone else deleted from our table: a breach, acted on at once. Anything else (something
      // added, a committer the kernel did not name, lost notifications): read it back.
      if (t !== 'lost' && t.pid !== undefined && t.changes.some((c) => c.op === 'del')) this.breach();
      else this.checkSoon ??= this.clock.setTimeout(() => { this.checkSoon = undefined; this.check.request(); }, 0);
    });
  }

  get working(): boolean {
    return this.installed && this.error === null;
  }

  /**
   * Puts `spec` in force. What gates VXLAN (the table, the peer sets) is in
   * force when this returns; the senders' set, which only gates discovery, is
   * written in the background (an `nft` run: the dataplane must not wait for it).
   */
  async apply(spec: FilterSpec): Promise<void> {
    this.spec = spec;
    const want: Applied = { peers: peersKey(spec), peers6: peers6Key(spec), senders: sendersKey(spec) };
    const a = this.applied;
    if (this.installed && a && a.peers === want.peers && a.peers6 === want.peers6) {
      if (a.senders !== want.senders) this.senders.request();
      return;
    }
    // the whole table writes every set; an update only the peer sets (the table may be gone: then the whole table)
    let senders = want.senders;
    try {
      if (this.installed && a) {
        senders = a.senders;
        await this.update(spec, a, want).catch(async () => {
          await this.install(spec);
          senders = want.senders;
        });
      } else {
        await this.install(spec);
      }
    } catch (err) {
      const wasWorking = this.error === null;
      this.installed = false; // reinstall the whole table next time
      this.error = (err as Error).message;
      if (wasWorking) throw err; // the filter just broke; while it stays broken, report() says so
      return;
    }
    this.installed = true;
    this.applied = { ...want, senders };
    this.error = null;
    if (senders !== want.senders) this.senders.request();
  }

  /** The senders' set as the newest spec has it (single flight: the next run takes the newest spec). */
  private async writeSenders(): Promise<void> {
    const spec = this.spec;
    const a = this.applied;
    if (!spec || !a || !this.installed || a.senders === sendersKey(spec)) return;
    const key = sendersKey(spec);
    try {
      await this.nftScript(setScript(spec, { peers: false, peers6: false, senders: true }));
      if (this.applied === a) a.senders = key;
    } catch {
      // the table may be gone: read it back (a breach has the agent put all of it back); else the next apply retries
      this.check.request();
    }
  }

  private async install(spec: FilterSpec): Promise<void> {
    await this.nftScript(tableScript(this.d.options, spec));
  }

  private async nftScript(script: string): Promise<void> {
    await this.run(['-f', '-'], script, (pid) => {
      this.mine.push(pid);
      if (this.mine.length > 16) this.mine.shift();
    });
  }

  private breach(): void {
    if (!this.installed) return; // already known (and being repaired)
    this.installed = false;
    this.d.onBreach?.(this.d.guard?.active ?? false);
  }

  /**
   * The table is there: change the peer sets that differ, through netlink when it can (a renumbering waits for
   * this); the senders' set is writeSenders()'s.
   */
  private async update(spec: FilterSpec, a: Applied, want: Applied): Promise<void> {
    const byNetlink = async (set: string, changed: boolean, elements: IpAddr[]): Promise<boolean> => {
      if (!changed) return false;
      if (!this.d.fast) return true;
      return this.d.fast.replace(NFT_TABLE, set, elements).then(() => false, () => true);
    };
    const [peers, peers6] = await Promise.all([
      byNetlink('peers', a.peers !== want.peers, [...spec.peers].sort((x, y) => x - y)),
      byNetlink('peers6', a.peers6 !== want.peers6, [...spec.peers6].sort()),
    ]);
    if (peers || peers6) await this.nftScript(setScript(spec, { peers, peers6, senders: false }));
  }

  /**
   * Our table changed in a way that is not a deletion (or notifications were lost): read it back, and treat anything
   * missing or added as a breach.
   */
  private async verify(): Promise<void> {
    if (this.installed && !(await this.whole())) this.breach();
  }

  /** Is our table there with everything tableScript() declares? */
  private async whole(): Promise<boolean> {
    try {
      const doc = JSON.parse(await this.run(['-j', 'list', 'table', 'inet', NFT_TABLE])) as {
        nftables?: Record<string, unknown>[];
      };
      const items = doc.nftables ?? [];
      const count = (k: string): number => items.filter((x) => k in x).length;
      return count('chain') === SHAPE.chains && count('rule') === SHAPE.rules && count('set') === SHAPE.sets;
    } catch {
      return false;
    }
  }

  /**
   * Reads the drop counter with `nft`, at most every few seconds (monotonic
   * clock: a wall clock stepped back must not stall it). A table someone
   * deleted is noticed here too; the next apply() reinstalls it.
   */
  async refresh(): Promise<void> {
    const now = this.clock.monotonic();
    if (!this.installed || this.refreshing || now - this.refreshedAt < COUNTER_REFRESH_MS) return;
    this.refreshing = true;
    this.refreshedAt = now;
    try {
      const out = await this.run(['-j', 'list', 'counter', 'inet', NFT_TABLE, 'dropped']);
      const doc = JSON.parse(out) as { nftables?: { counter?: { packets?: number } }[] };
      this.dropped = doc.nftables?.find((x) => x.counter)?.counter?.packets ?? this.dropped;
    } catch {
      this.installed = false;
    } finally {
      this.refreshing = false;
    }
  }

  report(): FilterReport {
    return {
      // peers, not addresses: each has at most one of each family
      mode: this.working ? 'filtered' : 'unfiltered',
      allowed: Math.max(this.spec?.peers.length ?? 0, this.spec?.peers6.length ?? 0),
      droppedPackets: this.dropped, error: this.error,
      guard: this.d.guard?.active ?? false,
    };
  }

  close(): void {
    this.checkSoon?.cancel();
    this.d.monitor?.close();
    this.d.guard?.close();
  }
}

/** `edge-overlay down`: remove our table (and a release's before 0.2); "not present" is fine. */
export async function removeTable(
  run: Runner = runNft,
): Promise<'removed' | 'not present' | 'not present (nft not installed)' | string> {
  try {
    await run(['delete', 'table', 'ip', NFT_TABLE]).catch(() => undefined);
    await run(['delete', 'table', 'inet', NFT_TABLE]);
    return 'removed';
  } catch (err) {
    if (err instanceof NftMissing) return 'not present (nft not installed)';
    const msg = (err as Error).message;
    if (/No such file or directory|does not exist/i.test(msg)) return 'not present';
    return msg;
  }
}
