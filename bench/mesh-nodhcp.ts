// Benchmark: mesh formation with no DHCP server at all. N hosts whose NICs
// have no IPv4 address (no DHCP client, the lab's server stopped), fresh
// state, all agents started at once, once with the default `underlay: auto`
// (link-local) and once with `--underlay ipv4`. Contract: the time from the
// last agent started until every ordered pair of hosts has had a ping
// answered over the overlay, measured by the pings themselves (10 ms
// pingers, each started once its source host holds its overlay address and
// its target's address is known); or, after `timeoutMs`, how many pairs got
// an answer and whether the agents had met at all. Repeated on the same lab
// with state and devices wiped in between.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Lab, sleep, type Host } from '../test/lab/lab.js';
import type { StatusReport } from '../src/agent/records/status.js';

export interface NoDhcpTrials {
  /** last agent start to the last pair's first answer, per trial that formed a mesh */
  meshMs: number[];
  /**
   * the same trials by the agents' own timestamps: last agent start to
   * the last kernel change any agent made (as mesh.ts)
   */
  kernelMs: number[];
  /** trials that timed out */
  noMesh: number;
  /** ordered pairs answered when a trial timed out (one entry per such trial) */
  pairsAtTimeout: number[];
  /** in the trials that timed out: every agent held an address and saw every other alive (they met over raw L2) */
  metAtTimeout: boolean[];
}

export interface NoDhcpMeshRun {
  hosts: number;
  pairsTotal: number;
  /** how long an IPv4 attempt was given */
  ipv4TimeoutMs: number;
  linkLocal: NoDhcpTrials;
  ipv4: NoDhcpTrials;
}

const INTERVAL_S = 0.01;
const REPLY = /^\[(\d+\.\d+)\] \d+ bytes from/m;

/** A ping from one host to one overlay IP, logging to a file we can read while it runs. */
class Pair {
  private readonly log: string;
  private proc: ChildProcess | undefined;
  constructor(private readonly lab: Lab, private readonly from: Host, readonly to: string, tag: string) {
    this.log = join(from.dir, `nodhcp-${tag}-${to}.log`);
  }

  /** (Re)starts ping if it is not running: it exits at once while its host has no route to the overlay yet. */
  ensure(): void {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) return;
    this.proc = this.lab.spawnIn(this.from.ns, ['ping', '-D', '-i', String(INTERVAL_S), '-W', '1', this.to], this.log);
  }

  /** Wall ms of the first answer, if any. */
  firstReply(): number | undefined {
    const m = existsSync(this.log) ? REPLY.exec(readFileSync(this.log, 'utf8')) : null;
    return m ? Number(m[1]) * 1000 : undefined;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGINT');
    await gone;
  }
}

async function formOnce(lab: Lab, args: string[], timeoutMs: number, tag: string, into: NoDhcpTrials): Promise<void> {
  for (const h of lab.hosts) lab.startAgent(h, args);
  const lastStart = Date.now();
  const pairs = new Map<string, Pair>();
  let statuses: (StatusReport | undefined)[] = [];
  try {
    for (;;) {
      statuses = await Promise.all(lab.hosts.map((h) => lab.tryStatus(h)));
      const established =
        statuses.map((s) => (s?.node.addressState === 'established' ? s.node.overlayIp ?? undefined : undefined));
      lab.hosts.forEach((src, i) => {
        if (established[i] === undefined) return; // no overlay route yet
        lab.hosts.forEach((_, j) => {
          const ip = statuses[j]?.node.overlayIp;
          if (j === i || !ip) return;
          const k = `${i}>${j}`;
          if (pairs.get(k)?.to !== ip) {
            void pairs.get(k)?.stop();
            pairs.set(k, new Pair(lab, src, ip, `${tag}-${i}`));
          }
          pairs.get(k)!.ensure();
        });
      });
      const n = lab.hosts.length;
      const firsts = [...pairs.values()].map((p) => p.firstReply()).filter((x): x is number => x !== undefined);
      if (firsts.length === n * (n - 1)) {
        into.meshMs.push(Math.max(...firsts) - lastStart);
        into.kernelMs.push(Math.max(...statuses.map((s) => Date.parse(s?.dataplane.lastChangeAt ?? ''))) - lastStart);
        return;
      }
      if (Date.now() - lastStart > timeoutMs) {
        into.noMesh++;
        into.pairsAtTimeout.push(firsts.length);
        into.metAtTimeout.push(statuses.every((s) => s?.node.addressState === 'established'
          && s.peers.filter((p) => p.state === 'alive').length === n - 1));
        return;
      }
      await sleep(20);
    }
  } finally {
    await Promise.all([...pairs.values()].map((p) => p.stop()));
  }
}

const empty = (): NoDhcpTrials => ({ meshMs: [], kernelMs: [], noMesh: 0, pairsAtTimeout: [], metAtTimeout: [] });

/** A link-local trial that has not formed a mesh by then counts as a failure. */
const LINK_LOCAL_TIMEOUT_MS = 30_000;

/**
 * `trials` link-local formations and one IPv4 attempt, given `ipv4TimeoutMs`
 * (it cannot succeed: without an IPv4 address VXLAN over IPv4 has neither a
 * source nor a destination; one attempt shows it), on one lab. IPv4 first,
 * so nothing it leaves behind can help the link-local trials.
 */
export async function meshNoDhcp(n: number, trials: number, ipv4TimeoutMs: number): Promise<NoDhcpMeshRun> {
  const lab = await Lab.create({ hosts: n, cluster: 'bench', noDhcp: Array.from({ length: n }, (_, i) => i + 1) });
  const out: NoDhcpMeshRun = { hosts: n, pairsTotal: n * (n - 1), ipv4TimeoutMs, linkLocal: empty(), ipv4: empty() };
  try {
    await lab.stopDhcpServer();
    const runs: [string, string[], NoDhcpTrials, number, number][] = [
      ['v4', ['--underlay', 'ipv4'], out.ipv4, 1, ipv4TimeoutMs],
      ['ll', [], out.linkLocal, trials, LINK_LOCAL_TIMEOUT_MS],
    ];
    for (const [tag, args, into, count, timeoutMs] of runs) {
      for (let t = 0; t < count; t++) {
        await formOnce(lab, args, timeoutMs, `${tag}${t}`, into);
        await Promise.all(lab.hosts.map((h) => lab.resetHost(h)));
      }
    }
    return out;
  } finally {
    await lab.destroy();
  }
}
