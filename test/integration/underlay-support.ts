// Integration support (issue 13, not a test file): what the underlay tests
// share — a three-host lab on link-local (as a suite fixture), waiting for a family on every host,
// pings between every pair, and reading what a pinger, a TCP probe and the
// kernel saw. Used by underlay.test.ts, underlay-fallback.test.ts and
// skew.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { Lab, until, type Host } from '../../scripts/lab/lab.js';
import type { StatusReport } from '../../src/agent/status.js';


/** the lab's pings: one every 5 ms */
export const PING_S = 0.005;
/** bridge and VXLAN MTU over link-local: 1500 - 70 (outer IPv6 40 + UDP 8 + VXLAN 8 + inner Ethernet 14) */
export const LL_MTU = 1430;
/** A family switch rebuilds the VXLAN device on every host: the overlay may pause, at most this long (measured: 50-120 ms) */
export const MAX_SWITCH_MS = 1000;

export type Pinger = ReturnType<Lab['pinger']>;
export type PingResult = Awaited<ReturnType<Pinger['stop']>>;

/** What a pinger saw: probes lost (icmp_seq below the last answered one, never answered) and the longest silence between replies. */
export function losses(r: PingResult): { lost: number; answered: number; maxGapMs: number } {
  const got = new Set(r.seqs);
  const last = Math.max(0, ...r.seqs);
  let lost = 0;
  for (let s = 1; s <= last; s++) if (!got.has(s)) lost++;
  let maxGapMs = 0;
  for (let i = 1; i < r.replies.length; i++) maxGapMs = Math.max(maxGapMs, r.replies[i]! - r.replies[i - 1]!);
  return { lost, answered: got.size, maxGapMs: Math.round(maxGapMs) };
}

/** The same from the first answered probe on (what came before it is start-up, not loss). */
export function lossesAfterFirst(r: PingResult): { lost: number; answered: number; firstAt: number | undefined } {
  const got = new Set(r.seqs);
  if (r.seqs.length === 0) return { lost: 0, answered: 0, firstAt: undefined };
  const first = Math.min(...r.seqs);
  const last = Math.max(...r.seqs);
  let lost = 0;
  for (let s = first; s <= last; s++) if (!got.has(s)) lost++;
  return { lost, answered: got.size, firstAt: r.replies[r.seqs.indexOf(first)] };
}

/** A client (node -e) that asks the service at host:port every 20 ms until it answers `want`, then prints {"at": ms epoch} (null after `giveUpMs`). */
export function serviceClient(host: string, port: number, want: string, giveUpMs = 30_000): string {
  return `const net = require('net'); const deadline = Date.now() + ${giveUpMs};
    const attempt = () => {
      let over = false; let got = '';
      const s = net.connect({ host: '${host}', port: ${port}, timeout: 200 });
      const again = () => {
        if (over) return;
        over = true; s.destroy();
        if (Date.now() > deadline) { console.log(JSON.stringify({ at: null })); process.exit(1); }
        setTimeout(attempt, 20);
      };
      s.on('data', (b) => { got += b; });
      s.on('end', () => { if (got.trim() !== '${want}') return again(); over = true; console.log(JSON.stringify({ at: Date.now() })); process.exit(0); });
      s.on('timeout', again); s.on('error', again);
    };
    attempt();`;
}

/** When the agent now running on `x` wrote its first log line after byte `from` of its log (ms epoch): it had started. */
export function agentStartedAt(x: Host, from: number): number {
  const pid = x.agent?.pid;
  const first = readFileSync(join(x.dir, 'agent.log'), 'utf8').slice(from).split('\n').filter(Boolean)
    .map((l) => JSON.parse(l) as { pid: number; time: string }).find((l) => l.pid === pid);
  if (!first) throw new Error(`${x.name}'s agent (pid ${pid}) has logged nothing`);
  return Date.parse(first.time);
}

/** TCP segments the kernel retransmitted in `x`'s namespace so far (RetransSegs of /proc/net/snmp). */
export function retransmitted(lab: Lab, x: Host): number {
  const rows = lab.exec(x, ['cat', '/proc/net/snmp']).split('\n').filter((l) => l.startsWith('Tcp: '));
  const [names, values] = rows.map((r) => r.split(/\s+/));
  return Number(values![names!.indexOf('RetransSegs')]);
}

export const pairs = (hs: Host[]): [Host, Host][] => hs.flatMap((a) => hs.filter((b) => b !== a).map((b): [Host, Host] => [a, b]));

/** Waits until every host of `hs` uses `family` with a VXLAN device of that family and a ready dataplane; the statuses. */
export function onFamily(lab: Lab, hs: Host[], family: 'link-local' | 'ipv4', timeoutMs = 15_000): Promise<StatusReport[]> {
  return until(`${hs.map((x) => x.name).join(', ')} on ${family}`, async () => {
    const all = await Promise.all(hs.map((x) => lab.tryStatus(x)));
    return all.every((s) => s && s.underlay?.family === family && s.underlay.device === family && s.dataplane.ready) ? (all as StatusReport[]) : undefined;
  }, timeoutMs, 20);
}

/** Pings between every pair of `hs` until each answers (up to `timeoutMs` each). */
export async function everyPairPings(lab: Lab, hs: Host[], ipOf: (x: Host) => string, timeoutMs = 5000): Promise<void> {
  for (const [a, b] of pairs(hs)) {
    await until(`overlay ping ${a.name} -> ${b.name}`, () => lab.ping(a, ipOf(b), 1, 0.05) || undefined, timeoutMs, 20);
  }
}

export const fdbOf = (lab: Lab, x: Host): string => lab.exec(x, ['bridge', 'fdb', 'show', 'dev', 'scvx-100']);
export const mtuOf = (lab: Lab, x: Host, dev: string): number => (JSON.parse(lab.exec(x, ['ip', '-j', 'link', 'show', dev])) as { mtu: number }[])[0]!.mtu;
export const stateOf = (x: Host): { overlayIp?: string; schema?: number; linkLocal?: string; nodeId: string } =>
  JSON.parse(readFileSync(join(x.dir, 'state', 'state.json'), 'utf8')) as { overlayIp?: string; schema?: number; linkLocal?: string; nodeId: string };

/** Three hosts on `underlay: auto`, converged on link-local with every peer heard over raw L2; node ids and overlay IPs by host. */
export async function linkLocalCluster(lab: Lab): Promise<{ ids: Map<Host, string>; overlay: Map<Host, string> }> {
  const st = await lab.startAll();
  const ids = new Map(lab.hosts.map((x, i) => [x, st[i]!.node.id]));
  const overlay = new Map(lab.hosts.map((x, i) => [x, st[i]!.node.overlayIp!]));
  await onFamily(lab, lab.hosts, 'link-local');
  // each peer heard straight over raw L2 (a peer is "pending" for a moment after it joins)
  await until('every peer heard over raw L2', async () =>
    (await Promise.all(lab.hosts.map((x) => lab.status(x)))).every((s) => s.peers.length === lab.hosts.length - 1 && s.peers.every((p) => p.l2 === 'yes')) || undefined,
  15_000, 20);
  return { ids, overlay };
}

/** A suite's three-host link-local lab: built in beforeAll, destroyed in afterAll; its fields are set once beforeAll ran. */
export interface LinkLocalFixture {
  lab: Lab;
  cluster: Host[];
  ids: Map<Host, string>;
  overlay: Map<Host, string>;
  h(i: number): Host;
  ipOf(x: Host): string;
  onFamily(hs: Host[], family: 'link-local' | 'ipv4', timeoutMs?: number): Promise<StatusReport[]>;
  everyPairPings(hs: Host[]): Promise<void>;
  fdbOf(x: Host): string;
  mtuOf(x: Host, dev: string): number;
}

export function useLinkLocalCluster(): LinkLocalFixture {
  const fx = {
    h: (i: number) => fx.lab.hosts[i - 1]!,
    ipOf: (x: Host) => fx.overlay.get(x)!,
    onFamily: (hs: Host[], family: 'link-local' | 'ipv4', timeoutMs?: number) => onFamily(fx.lab, hs, family, timeoutMs),
    everyPairPings: (hs: Host[]) => everyPairPings(fx.lab, hs, fx.ipOf),
    fdbOf: (x: Host) => fdbOf(fx.lab, x),
    mtuOf: (x: Host, dev: string) => mtuOf(fx.lab, x, dev),
  } as LinkLocalFixture;
  beforeAll(async () => {
    fx.lab = await Lab.create({ hosts: 3 });
    ({ ids: fx.ids, overlay: fx.overlay } = await linkLocalCluster(fx.lab));
    fx.cluster = [...fx.lab.hosts];
  }, 60_000);
  afterAll(async () => {
    await fx.lab?.destroy();
  });
  return fx;
}
