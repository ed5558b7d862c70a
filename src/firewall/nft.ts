// Layer: firewall (real; built only by main). Contract: an nftables table of
// our own, "inet edge_overlay", hooked at prerouting/raw (before conntrack).
// VXLAN with our VNI to this host (local, broadcast or multicast address)
// passes only from a peer's underlay address on the physical interface;
// from anywhere else it is dropped. UDP discovery passes only on the
// physical interface, at a bounded rate per source and in all, and from
// beyond our LAN, seeds and peers (a routed host meeting us) at a trickle. `nft` (an absolute path) installs the table; the peer
// set is then replaced through a netlink writer. nf_tables notifications
// tell when someone else changes the table: it is checked and put back.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { EdgeError } from '../errors.js';
import { formatCidr, formatIpv4, type Ipv4 } from '../net/ipv4.js';
import { SingleFlight } from '../util/singleflight.js';
import type { FilterReport, FilterSpec, Firewall } from './types.js';

export const NFT_TABLE = 'edge_overlay';
/** the drop counter is read with `nft`: not more often than this */
const COUNTER_REFRESH_MS = 2000;
/** UDP discovery: from strangers (not our LAN, a seed or a peer: a routed host meeting us), per source, and in all */
const DISCOVERY_STRANGERS = 'limit rate over 50/second burst 100 packets';
const DISCOVERY_PER_SOURCE = 'limit rate over 100/second burst 200 packets';
const DISCOVERY_TOTAL = 'limit rate over 5000/second burst 5000 packets';

/** Where Debian and others install nft: never resolved through PATH (the agent runs as root). */
export const NFT_PATHS = ['/usr/sbin/nft', '/sbin/nft'];

/** Runs nft; `started` learns the child's pid (the notifications of its transaction name it). */
type Runner = (args: string[], input?: string, started?: (pid: number) => void) => Promise<string>;

/** Replaces a set's elements directly (netlink); optional. */
export interface SetWriter {
  replace(table: string, set: string, elements: readonly Ipv4[]): Promise<void>;
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

export interface TableOptions {
  iface: string;
  vxlanPort: number;
  vni: number;
  discoveryPort: number;
}

const list = (xs: readonly string[]): string => (xs.length ? `{ ${xs.join(', ')} }` : '');

/** The senders' set: our LAN and the known hosts beyond it. */
function senders(spec: FilterSpec): string[] {
  return [...(spec.lan ? [formatCidr(spec.lan)] : []), ...spec.senders.filter((ip) => !inLan(spec, ip)).map(formatIpv4)];
}

function inLan(spec: FilterSpec, ip: Ipv4): boolean {
  if (!spec.lan) return false;
  const mask = spec.lan.prefix === 0 ? 0 : (~0 << (32 - spec.lan.prefix)) >>> 0;
  return ((ip & mask) >>> 0) === spec.lan.network;
}

/**
 * The whole table, declared idempotently in one transaction. It is created
 * if missing and flushed (not deleted) before the rules go in again: a
 * re-run replaces rules without removing the table, its sets or chains.
 */
export function tableScript(o: TableOptions, spec: FilterSpec): string {
  const t = `inet ${NFT_TABLE}`;
  const iif = JSON.stringify(o.iface);
  const lines = [
    // the table of releases before 0.2 (family ip): its peer set would go stale
    `table ip ${NFT_TABLE} {}`,
    `delete table ip ${NFT_TABLE}`,
    `table ${t} {}`,
    `flush table ${t}`,
    `table ${t} {`,
    '  set peers { type ipv4_addr; }',
    '  set senders { type ipv4_addr; flags interval; }',
    '  set discovery_rate { type ipv4_addr; size 65535; flags dynamic,timeout; timeout 1m; }',
    '  counter dropped {}',
    '  counter discovery_dropped {}',
    '  chain prerouting {',
    '    type filter hook prerouting priority raw - 10; policy accept;', // before the guard (-305) and iptables' raw (-300)
    // the VNI sits at bytes 4-6 of the VXLAN header, right after UDP's 8
    `    udp dport ${o.vxlanPort} @th,96,24 ${o.vni} fib daddr type { local, broadcast, multicast } jump vxlan`,
    `    udp dport ${o.discoveryPort} jump discovery`,
    '  }',
    '  chain vxlan {',
    `    iifname != ${iif} counter name dropped drop`,
    '    fib daddr type != local counter name dropped drop', // peers send to our address, never to broadcast or multicast
    `    ip saddr @peers meta mark set meta mark | ${VETTED} accept`, // vetted: the guard table lets it pass
    '    counter name dropped drop',
    '  }',
    '  chain unmark {', // the vetted bit is ours alone: cleared before anyone else's rules run, guard or not
    '    type filter hook prerouting priority -304; policy accept;',
    `    udp dport ${o.vxlanPort} meta mark set meta mark & ${UNVETTED}`,
    '  }',
    '  chain discovery {',
    `    iifname != ${iif} counter name discovery_dropped drop`,
    `    ip saddr != @senders ${DISCOVERY_STRANGERS} counter name discovery_dropped drop`,
    `    update @discovery_rate { ip saddr ${DISCOVERY_PER_SOURCE} } counter name discovery_dropped drop`,
    '    ip saddr @peers accept', // a flood from many made-up sources must not silence the peers
    `    ${DISCOVERY_TOTAL} counter name discovery_dropped drop`,
    '  }',
    '}',
  ];
  if (spec.peers.length) lines.push(`add element ${t} peers ${list(spec.peers.map(formatIpv4))}`);
  if (senders(spec).length) lines.push(`add element ${t} senders ${list(senders(spec))}`);
  return `${lines.join('\n')}\n`;
}

/** Replaces the sets in one transaction. */
export function setScript(spec: FilterSpec, which: { peers: boolean; senders: boolean }): string {
  const t = `inet ${NFT_TABLE}`;
  const lines: string[] = [];
  if (which.peers) lines.push(`flush set ${t} peers`, ...(spec.peers.length ? [`add element ${t} peers ${list(spec.peers.map(formatIpv4))}`] : []));
  if (which.senders) lines.push(`flush set ${t} senders`, ...(senders(spec).length ? [`add element ${t} senders ${list(senders(spec))}`] : []));
  return `${lines.join('\n')}\n`;
}

/** What tableScript() declares: a table with fewer is not whole. */
const SHAPE = { chains: 4, rules: 12, sets: 3 };
/** the mark bit for the guard table (firewall/guard.ts: VETTED_MARK) */
const VETTED = '0x10000000';
const UNVETTED = '0xefffffff';

const peersKey = (spec: FilterSpec): string => [...spec.peers].sort((a, b) => a - b).join(',');
const sendersKey = (spec: FilterSpec): string => senders(spec).sort().join(',');

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
  private applied: { peers: string; senders: string } | undefined;
  private spec: FilterSpec | undefined;
  private dropped = 0;
  private error: string | null = null;
  private refreshing = false;
  private refreshedAt = -Infinity;
  private readonly run: Runner;
  private readonly clock: Clock;
  private readonly check: SingleFlight;
  /** pids of our own recent `nft` runs: the transactions they commit are not a breach */
  private readonly mine: number[] = [];
  private checkSoon: TimerHandle | undefined;

  constructor(private readonly d: NftFirewallDeps) {
    this.run = d.run ?? runNft;
    this.clock = d.clock ?? systemClock;
    this.check = new SingleFlight(() => this.verify(), () => undefined);
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

  async apply(spec: FilterSpec): Promise<void> {
    this.spec = spec;
    const want = { peers: peersKey(spec), senders: sendersKey(spec) };
    const a = this.applied;
    if (this.installed && a && a.peers === want.peers && a.senders === want.senders) return;
    try {
      if (this.installed && a) await this.update(spec, a, want).catch(() => this.install(spec)); // the table may be gone
      else await this.install(spec);
    } catch (err) {
      const wasWorking = this.error === null;
      this.installed = false; // reinstall the whole table next time
      this.error = (err as Error).message;
      if (wasWorking) throw err; // the filter just broke; while it stays broken, report() says so
      return;
    }
    this.installed = true;
    this.applied = want;
    this.error = null;
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

  /** The table is there: change what differs — the peers through netlink when it can (a renumbering waits for this). */
  private async update(spec: FilterSpec, a: { peers: string; senders: string }, want: { peers: string; senders: string }): Promise<void> {
    let peersByNft = false;
    if (a.peers !== want.peers) {
      if (this.d.fast) await this.d.fast.replace(NFT_TABLE, 'peers', [...spec.peers].sort((x, y) => x - y)).catch(() => { peersByNft = true; });
      else peersByNft = true;
    }
    const sendersByNft = a.senders !== want.senders;
    if (peersByNft || sendersByNft) await this.nftScript(setScript(spec, { peers: peersByNft, senders: sendersByNft }));
  }

  /** Our table changed in a way that is not a deletion (or notifications were lost): read it back, and treat anything missing or added as a breach. */
  private async verify(): Promise<void> {
    if (this.installed && !(await this.whole())) this.breach();
  }

  /** Is our table there with everything tableScript() declares? */
  private async whole(): Promise<boolean> {
    try {
      const doc = JSON.parse(await this.run(['-j', 'list', 'table', 'inet', NFT_TABLE])) as { nftables?: Record<string, unknown>[] };
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
      mode: this.working ? 'filtered' : 'unfiltered', allowed: this.spec?.peers.length ?? 0, droppedPackets: this.dropped, error: this.error,
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
export async function removeTable(run: Runner = runNft): Promise<'removed' | 'not present' | 'not present (nft not installed)' | string> {
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
