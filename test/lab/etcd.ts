// Lab (etcd, the workload that needs stable IPs). Contract: an etcd 3.4
// cluster (Debian's etcd-server) with one member per host namespace,
// listening on the hosts' OVERLAY IPs (peers :2380, clients :2379), data
// dirs in the host dirs (kept across power cuts). Members run through the
// lab (so powerOff and destroy end them, by PID); etcdctl runs inside a host
// namespace, never on the machine's own network.

import { spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { endProcess, have } from './shell.js';
import type { Host, LabBase } from './types.js';

/** Why the etcd scenarios cannot run here, or undefined if they can. */
export function etcdUnavailable(): string | undefined {
  for (const bin of ['etcd', 'etcdctl']) {
    if (!have(bin)) {
      return `${bin} is not installed (scripts/setup.sh installs etcd-server and etcd-client with apt-get)`;
    }
  }
  return undefined;
}

export interface EtcdTiming {
  /** raft heartbeat and election timeout (etcd's defaults: 100 and 1000 ms) */
  heartbeatMs: number;
  electionMs: number;
}

interface Member { host: Host; name: string; ip: string; proc: ChildProcess | undefined }

export class EtcdCluster {
  private readonly members: Member[];

  /** `ips`: each host's overlay IP, in host order. */
  constructor(
    private readonly lab: LabBase, hosts: Host[], ips: string[],
    private readonly timing: EtcdTiming = { heartbeatMs: 100, electionMs: 1000 },
  ) {
    this.members = hosts.map((host, i) => ({ host, name: host.name, ip: ips[i]!, proc: undefined }));
  }

  get endpoints(): string[] {
    return this.members.map((m) => `http://${m.ip}:2379`);
  }

  private member(h: Host): Member {
    const m = this.members.find((x) => x.host === h);
    if (!m) throw new Error(`${h.name} is not an etcd member`);
    return m;
  }

  /** Starts the member on `h` (a restart reuses its data dir; the initial-cluster flags are then ignored). */
  start(h: Host): ChildProcess {
    const m = this.member(h);
    const t = this.timing;
    m.proc = this.lab.spawnIn(h.ns, [
      'etcd', '--name', m.name, '--data-dir', join(h.dir, 'etcd'),
      '--listen-peer-urls', `http://${m.ip}:2380`, '--initial-advertise-peer-urls', `http://${m.ip}:2380`,
      '--listen-client-urls', `http://${m.ip}:2379`, '--advertise-client-urls', `http://${m.ip}:2379`,
      '--initial-cluster', this.members.map((x) => `${x.name}=http://${x.ip}:2380`).join(','),
      '--initial-cluster-state', 'new', '--initial-cluster-token', this.lab.prefix,
      '--heartbeat-interval', String(t.heartbeatMs), '--election-timeout', String(t.electionMs),
      '--logger', 'zap', '--log-outputs', 'stderr',
    ], join(h.dir, 'etcd.log'));
    return m.proc;
  }

  /** Ends every member still running (SIGTERM, by PID) and waits for them. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map(async (m) => {
      const p = m.proc;
      m.proc = undefined;
      await endProcess(p, 'SIGTERM');
    }));
  }

  /** Runs etcdctl (API v3) against every member from inside `from`'s namespace. */
  ctl(from: Host, args: string[], input?: string, timeoutS = 3): { code: number; stdout: string; stderr: string } {
    const r = spawnSync('ip', ['netns', 'exec', from.ns, 'etcdctl', `--endpoints=${this.endpoints.join(',')}`,
      '--dial-timeout=1s', `--command-timeout=${timeoutS}s`, ...args], { encoding: 'utf8', input, timeout: 15_000,
      env: { ...process.env, ETCDCTL_API: '3' } });
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** Every endpoint answers healthy (a committed read through each member, each given 1 s). */
  healthy(from: Host): boolean {
    const r = this.ctl(from, ['endpoint', 'health', '-w', 'json'], undefined, 1);
    if (r.code !== 0) return false;
    try {
      const all = JSON.parse(r.stdout) as { endpoint: string; health: boolean }[];
      return all.length === this.members.length && all.every((e) => e.health);
    } catch {
      return false;
    }
  }

  /** Writes `entries` in transactions of 100 puts; throws unless every one is acknowledged. */
  putAll(from: Host, entries: [string, string][]): void {
    for (let i = 0; i < entries.length; i += 100) {
      const batch = entries.slice(i, i + 100);
      // etcdctl txn on stdin: compares, blank line, success ops, blank line, failure ops
      const r = this.ctl(from, ['txn'], `\n${batch.map(([k, v]) => `put ${k} ${v}`).join('\n')}\n\n\n`);
      if (r.code !== 0 || !r.stdout.startsWith('SUCCESS') || (r.stdout.match(/^OK$/gm) ?? []).length !== batch.length) {
        throw new Error(`etcdctl txn: exit ${r.code}: ${r.stdout.slice(0, 200)} ${r.stderr.trim()}`);
      }
    }
  }

  /** Every key under `prefix` with its value (a linearizable read). */
  getPrefix(from: Host, prefix: string): Map<string, string> {
    const r = this.ctl(from, ['get', prefix, '--prefix', '-w', 'json']);
    if (r.code !== 0) throw new Error(`etcdctl get: exit ${r.code}: ${r.stderr.trim()}`);
    const kvs = (JSON.parse(r.stdout) as { kvs?: { key: string; value: string }[] }).kvs ?? [];
    const b64 = (s: string): string => Buffer.from(s, 'base64').toString('utf8');
    return new Map(kvs.map((kv) => [b64(kv.key), b64(kv.value)]));
  }
}
