// Lab (DHCP). Contract: the building's DHCP server — dnsmasq in the switch
// namespace, one reservation per host MAC in its host file — which can be
// stopped, started and given new reservations without touching the clients;
// and each host's DHCP client (dhclient with test/lab/dhclient-script.sh),
// started with or without waiting for its reserved address.

import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, endProcess, sh, until } from './shell.js';
import type { Host, LabBase } from './types.js';

const SCRIPT = join(ROOT, 'test', 'lab', 'dhclient-script.sh');

export class DhcpServer {
  private proc: ChildProcess | undefined;
  private nextIp = 150;
  readonly hostsFile: string;
  readonly logFile: string;

  constructor(private readonly lab: LabBase, private readonly segments: number, private readonly prefixLen: 16 | 24) {
    this.hostsFile = join(lab.dir, 'dhcp-hosts');
    this.logFile = join(lab.dir, 'dnsmasq.log');
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Writes the host file from each host's reserved address (`h.ip`). */
  writeReservations(): void {
    writeFileSync(this.hostsFile, `${this.lab.hosts.map((h) => `${h.mac},${h.ip}`).join('\n')}\n`);
  }

  private logLines(): string[] {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8').split('\n') : [];
  }

  /** Waits for dnsmasq to log that it (re)read the host file after log line `from`. */
  private async reread(from: number): Promise<void> {
    await until('dnsmasq to read its host reservations', () => this.logLines().slice(Math.max(0, from - 1))
      .some((l) => l.includes(`read ${this.hostsFile}`)) || undefined, 5000, 10);
  }

  /** Starts dnsmasq and waits until it has read its reservations (it answers from then on). */
  async start(): Promise<void> {
    if (this.running) return;
    const d = this.lab.dir;
    const mask = this.prefixLen === 16 ? '255.255.0.0' : '255.255.255.0';
    const perSegment: string[] = [];
    for (let k = 0; k < this.segments; k++) {
      perSegment.push(`--interface=br${k}`, `--dhcp-range=${this.lab.net(k)}.100,${this.lab.net(k)}.250,${mask},10m`);
    }
    const from = this.logLines().length;
    this.proc = this.lab.spawnIn(this.lab.sw, [
      'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', '--bind-interfaces', ...perSegment,
      `--dhcp-hostsfile=${this.hostsFile}`,
      `--dhcp-leasefile=${d}/dnsmasq.leases`, '--dhcp-authoritative', '--no-ping', `--pid-file=${d}/dnsmasq.pid`,
      '--user=root', '--group=root', `--log-facility=${this.logFile}`, '--log-dhcp',
    ], join(d, 'dnsmasq.out'));
    await this.reread(from);
  }

  /** Stops dnsmasq (its lease file stays, as on the server's disk). */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    await endProcess(p, 'SIGTERM');
  }

  /**
   * Moves the reservations of `hs` to fresh addresses (each in its host's
   * segment) and sets `h.ip` to them. A running server rereads its host file
   * (SIGHUP); clients are not touched: they get the new address when they
   * next ask (a restarted client's REQUEST for the old lease is NAKed).
   */
  async moveReservations(hs: Host[]): Promise<void> {
    for (const h of hs) h.ip = `${this.lab.net(this.lab.segmentOf(h))}.${this.nextIp++}`;
    await this.reload();
  }

  /** Writes the host file; a running server rereads it (SIGHUP) before this resolves. */
  async reload(): Promise<void> {
    this.writeReservations();
    if (!this.running) return;
    const from = this.logLines().length;
    this.proc!.kill('SIGHUP');
    await this.reread(from);
  }
}

/** Writes a host's DHCP client configuration and script wrapper (hook: "HOOK OLD NEW" after a new address). */
export function writeClientFiles(h: Host, hook: string | undefined): void {
  const env = hook ? `EO_LAB_HOOK='${hook}' ` : '';
  writeFileSync(join(h.dir, 'dhclient-script'), `#!/bin/sh\nEO_LAB_EVENTS='${h.events}' ${env}exec '${SCRIPT}' "$@"\n`,
    { mode: 0o755 });
  writeFileSync(join(h.dir, 'dhclient.conf'), 'request subnet-mask, broadcast-address, routers;\ninitial-interval 1;\n'
    + 'backoff-cutoff 2;\ntimeout 30;\nretry 1;\n');
}

/** Starts a host's DHCP client (lease file in the host dir, kept across restarts and power cuts). */
export function startClient(lab: LabBase, h: Host): ChildProcess {
  h.dhclient = lab.spawnIn(h.ns, [
    'dhclient', '-d', '-4', '-cf', join(h.dir, 'dhclient.conf'), '-lf', join(h.dir, 'dhclient.leases'),
    '-pf', join(h.dir, 'dhclient.pid'), '-sf', join(h.dir, 'dhclient-script'), 'eth0',
  ], join(h.dir, 'dhclient.log'));
  return h.dhclient;
}

/** Starts a host's DHCP client and, if `wait`, waits for its reserved address. */
export async function startDhcp(lab: LabBase, h: Host, wait: boolean): Promise<void> {
  startClient(lab, h);
  if (!wait) return;
  const want = h.ip;
  await until(`${h.name} to get ${want} by DHCP`, () => addressOf(h) === want || undefined, 20_000, 20);
}

/** The IPv4 address currently on a host's eth0. */
export function addressOf(h: Host): string | undefined {
  const out = sh('ip', ['-n', h.ns, '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
  return /inet (\d+\.\d+\.\d+\.\d+)\//.exec(out)?.[1];
}

/** Gives a host a static address instead of DHCP (stops its DHCP client). */
export async function setStatic(lab: LabBase, h: Host, cidr: string, gateway?: string): Promise<void> {
  await lab.stopDhcp(h);
  sh('ip', ['-n', h.ns, '-4', 'addr', 'flush', 'dev', 'eth0']);
  sh('ip', ['-n', h.ns, 'addr', 'add', cidr, 'dev', 'eth0']);
  if (gateway) sh('ip', ['-n', h.ns, 'route', 'replace', 'default', 'via', gateway]);
  h.ip = cidr.split('/')[0];
}

/** When the DHCP script last put `ip` on the host's eth0 (ms since epoch). */
export function boundAt(h: Host, ip: string): number | undefined {
  const lines = existsSync(h.events) ? readFileSync(h.events, 'utf8').trim().split('\n') : [];
  const line = lines.reverse().find((l) => l.endsWith(` bound ${ip}`));
  return line === undefined ? undefined : Number(BigInt(line.split(' ')[0]!) / 1000n) / 1000;
}

/**
 * Renumbers hosts through DHCP, as after a power cut: the server reserves a
 * different address for each host's MAC and each client restarts (its
 * REQUEST for the old lease is NAKed, it DISCOVERs). Resolves with each
 * host's new address and when it appeared (ms epoch).
 */
export async function renumber(
  lab: LabBase, hs: Host[],
): Promise<{ host: Host; old: string | undefined; ip: string; boundAt: number }[]> {
  const olds = hs.map((h) => h.ip);
  await lab.moveReservations(hs);
  await Promise.all(hs.map((h) => lab.stopDhcp(h)));
  await Promise.all(hs.map((h) => lab.startDhcp(h)));
  // the script appends its event right after `ip addr add`: the address can be seen a moment before it
  const bound =
    await Promise.all(hs.map((h) => until(`${h.name}'s DHCP script to log ${h.ip}`, () => boundAt(h, h.ip!), 2000, 5)));
  return hs.map((h, i) => ({ host: h, old: olds[i], ip: h.ip!, boundAt: bound[i]! }));
}
