// Layer: firewall (real; built only by main). Contract: a second, tiny
// nftables table "inet edge_overlay_guard", owned ("flags owner") by a
// long-lived `nft -i` child of the agent: nobody else can delete it and `nft
// flush ruleset` skips it. It drops VXLAN with our VNI that the main table
// did not vet (mark a bit), and clears that bit. So when the main table
// vanishes — `nft flush ruleset`, `systemctl reload nftables` — the overlay
// fails closed in the kernel, without a window, until the agent puts the main
// table back. The table lives as long as the child; when the agent stops,
// the main table alone goes on filtering.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';
import { NFT_PATHS, type TableOptions } from './nft.js';

export const GUARD_TABLE = 'edge_overlay_guard';
/** the bit the main table sets on vetted VXLAN, for the guard (cleared before anyone else's rules see it) */
export const VETTED_MARK = 0x10000000;
/** the guard runs after the main table (raw - 10) and before iptables' raw table (-300) */
const GUARD_PRIORITY = -305;
const RESPAWN_MS = 5000;

export function guardScript(o: TableOptions): string {
  const t = `inet ${GUARD_TABLE}`;
  const mask = `0x${(~VETTED_MARK >>> 0).toString(16)}`;
  const vxlan = `udp dport ${o.vxlanPort} @th,96,24 ${o.vni}`;
  return [
    `add table ${t} { flags owner; }`,
    `add chain ${t} vxlan { type filter hook prerouting priority ${GUARD_PRIORITY}; policy accept; }`,
    `add rule ${t} vxlan ${vxlan} fib daddr type { local, broadcast, multicast } `
      + `meta mark & 0x${VETTED_MARK.toString(16)} == 0 counter drop`,
    `add rule ${t} vxlan udp dport ${o.vxlanPort} meta mark set meta mark & ${mask}`,
    `list table ${t}`,
    '',
  ].join('\n');
}

export interface GuardDeps {
  options: TableOptions;
  clock: Clock;
  log?: Logger | undefined;
  /** starts `nft -i` (tests give a fake) */
  start?: () => ChildProcess | undefined;
}

const startNft = (): ChildProcess | undefined => {
  const nft = NFT_PATHS.find((p) => existsSync(p));
  return nft ? spawn(nft, ['-i'], { stdio: ['pipe', 'pipe', 'pipe'] }) : undefined;
};

export class NftGuard {
  private child: ChildProcess | undefined;
  private ok = false;
  private respawn: TimerHandle | undefined;
  private closed = false;
  private failedLogged = false;

  constructor(private readonly d: GuardDeps) {}

  /** The guard table is in place. */
  get active(): boolean {
    return this.ok;
  }

  start(): void {
    if (this.closed || this.child) return;
    const child = (this.d.start ?? startNft)();
    if (!child) return this.failed('nft is not installed');
    this.child = child;
    let out = '';
    let err = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      if (!this.ok && out.includes(`table inet ${GUARD_TABLE}`)) {
        this.ok = true;
        this.failedLogged = false;
        this.d.log?.info({ table: GUARD_TABLE }, 'nftables guard table in place (survives nft flush ruleset)');
      }
    });
    child.stderr?.on('data', (b: Buffer) => { err += b.toString(); });
    child.on('error', () => undefined); // 'exit' follows
    child.on('exit', () => {
      if (this.child !== child) return;
      this.child = undefined;
      this.ok = false; // the kernel removed the table with its owner
      this.failed(err.trim().split('\n')[0] || 'nft -i exited');
      if (!this.closed) {
        this.respawn ??= this.d.clock.setTimeout(() => { this.respawn = undefined; this.start(); }, RESPAWN_MS);
      }
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.write(guardScript(this.d.options));
  }

  private failed(why: string): void {
    if (this.failedLogged || this.closed) return;
    this.failedLogged = true;
    this.d.log?.warn({ table: GUARD_TABLE, err: why },
      'no nftables guard table: a flushed ruleset leaves the overlay held down by the agent instead');
  }

  close(): void {
    this.closed = true;
    this.respawn?.cancel();
    const c = this.child;
    this.child = undefined;
    this.ok = false;
    c?.stdin?.end();
    if (c?.pid !== undefined && c.exitCode === null) c.kill('SIGTERM');
  }
}
