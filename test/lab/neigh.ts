// Lab (the kernel's neighbour tables). Contract: the ARP and ND tables are
// one per kernel, shared by every namespace, and refuse new entries past
// gc_thresh3 (1024 by default): a lab of dozens of hosts — each with an entry
// per peer on eth0 and on scbr-100 — needs more than one real host ever
// does. raise() lifts the thresholds for the lab's life and writes what it
// changed to <lab dir>/sysctl; restore() (and cleanup.sh) put back each value
// that is still the lab's own.

import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from './shell.js';

const KEYS = ['gc_thresh1', 'gc_thresh2', 'gc_thresh3'].flatMap((k) =>
  [`net.ipv4.neigh.default.${k}`, `net.ipv6.neigh.default.${k}`]);

/** Entries a lab of `hosts` may hold: per host, one per peer on eth0 and on the bridge (IPv4 or IPv6), and a few. */
export const neighbourEntries = (hosts: number): number => hosts * (2 * hosts + 16);

const read = (key: string): number => Number(sh('sysctl', ['-n', key]).trim());

/** Lifts gc_thresh1..3 so that `entries` fit (nothing when they do already). */
export function raiseNeighbourTables(dir: string, entries: number): void {
  const want = (key: string): number =>
    (key.endsWith('thresh3') ? entries * 2 : key.endsWith('thresh2') ? entries : entries / 4);
  for (const key of KEYS) {
    const now = read(key);
    const ours = Math.ceil(want(key));
    if (now >= ours) continue;
    appendFileSync(join(dir, 'sysctl'), `${key} ${now} ${ours}\n`);
    sh('sysctl', ['-qw', `${key}=${ours}`]);
  }
}

/** Puts back what raiseNeighbourTables changed, where the value is still the one it set. */
export function restoreNeighbourTables(dir: string): void {
  const file = join(dir, 'sysctl');
  if (!existsSync(file)) return;
  for (const line of readFileSync(file, 'utf8').trim().split('\n').reverse()) {
    const [key, orig, ours] = line.split(' ');
    if (key && orig && read(key) === Number(ours)) sh('sysctl', ['-qw', `${key}=${orig}`], { allowFail: true });
  }
}
