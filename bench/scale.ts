// Benchmark 4: scale of the control path. A load generator holding the
// cluster key plays N peers (distinct node ids, underlay addresses on the
// LAN, each answering the agent's first-contact challenge). Measured from
// its first packet: until the agent's kernel holds every flood + unicast FDB
// entry and neighbour entry (one challenge round trip included); then,
// after all N renumber at once, until every FDB entry points at the new addresses and
// the old flood entries are gone. Times come from netlink events seen by
// `ip -ts monitor neigh` in the agent's namespace (C and fast: a watcher in
// Node would add its own parsing lag to 600+ events on a 2-core machine).
// Also reported: kernel event loss and what the agent dropped.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, ROOT, sleep, until } from '../test/lab/lab.js';
import { formatIpv4, parseIpv4 } from '../src/net/ipv4.js';
import type { CountersSnapshot } from '../src/agent/records/counters.js';
import { crowd, type CrowdPeer } from './crowd.js';

export interface ScaleRun {
  peers: number;
  programMs: number[];
  reprogramMs: number[];
  /** how long the load generator took to put its packets on the wire (inside the figures above) */
  sendMs: number[];
  kernelResyncs: number;
  dropped: Record<string, number>;
  announcementsReceived: number;
}

const ZERO = '00:00:00:00:00:00';
const BIN = (name: string): string => join(ROOT, 'dist', 'bench', `${name}.js`);

interface Ev { t: number; k: string; op: string; mac: string; dst: string }

/** First time at which `done(state)` holds while replaying the watcher's events. */
function firstTime(events: Ev[], after: number,
  done: (fdb: Set<string>, neigh: Map<string, string>) => boolean): number | undefined {
  const fdb = new Set<string>();
  const neigh = new Map<string, string>();
  for (const e of events) {
    if (e.k === 'fdb') {
      if (e.op === 'new') {
        // a unicast REPLACE repoints the entry: drop its previous destination
        if (e.mac !== ZERO) for (const key of [...fdb]) if (key.startsWith(`${e.mac}/`)) fdb.delete(key);
        fdb.add(`${e.mac}/${e.dst}`);
      } else fdb.delete(`${e.mac}/${e.dst}`);
    } else if (e.k === 'neigh') {
      if (e.op === 'new') neigh.set(e.dst, e.mac);
      else neigh.delete(e.dst);
    }
    if (e.t >= after && done(fdb, neigh)) return e.t;
  }
  return undefined;
}

const MONITOR_LINE =
  /^\[(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)\] (Deleted )?(\d+\.\d+\.\d+\.\d+) dev (\S+) lladdr (\S+) /;

/** Lines of `ip -ts monitor neigh` (local time, µs) → FDB (VXLAN device) and neighbour (bridge) events. */
function parseMonitor(text: string): Ev[] {
  const out: Ev[] = [];
  for (const line of text.split('\n')) {
    const m = MONITOR_LINE.exec(line);
    if (!m || !line.includes('PERMANENT')) continue;
    const [, y, mo, d, h, mi, sec, frac, del, addr, dev, mac] = m as unknown as string[];
    const t = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec)).getTime()
      + Number(`0.${frac}`) * 1000;
    const k = dev === 'scvx-100' ? 'fdb' : dev === 'scbr-100' ? 'neigh' : undefined;
    if (k) out.push({ t, k, op: del ? 'del' : 'new', mac: mac!, dst: addr! });
  }
  return out;
}

async function round(lab: Lab, n: number): Promise<{ program?: number; reprogram?: number; sendMs: number[];
  status: CountersSnapshot }> {
  const [agentHost, crowdHost] = lab.hosts as [typeof lab.hosts[0], typeof lab.hosts[0]];
  await lab.resetHost(agentHost);
  lab.startAgent(agentHost);
  const st = (await lab.converged(20_000, [agentHost]))[0]!;
  const agentIp = st.node.overlayIp!;
  const lanPrefix = lab.net(0).split('.').slice(0, 2).join('.');
  const peers: CrowdPeer[] = crowd(n, st.cluster.cidr, [parseIpv4(agentIp)!], lanPrefix);
  const log = join(agentHost.dir, `monitor-${Date.now()}.log`);
  // tracked: destroy() ends it if a step throws
  const watcher = lab.spawnIn(agentHost.ns, ['ip', '-ts', 'monitor', 'neigh'], log);
  // every fake peer sends from its own underlay address (before and after the storm), as real ones would
  const addrs = peers.flatMap((p) => [p.first, p.storm]).map((a) => `addr replace ${a}/16 dev eth0`).join('\n');
  lab.exec(crowdHost, ['ip', '-batch', '-'], false, `${addrs}\n`);
  await sleep(200); // the monitor subscribes at once; nothing is programmed before the crowd speaks
  const gen = (phase: string, serveMs: number): { t0: number; t1: number } => {
    const out = lab.exec(crowdHost, [process.execPath, BIN('loadgen'), lab.keyFile, 'bench', st.cluster.cidr, String(n),
      agentIp, lanPrefix, phase, String(serveMs)]);
    return JSON.parse(out) as { t0: number; t1: number };
  };
  const events = (): Ev[] => parseMonitor(readFileSync(log, 'utf8'));
  const programmed = (f: Set<string>, nb: Map<string, string>): boolean =>
    peers.every((p) => f.has(`${ZERO}/${p.first}`) && f.has(`${p.mac}/${p.first}`)
      && nb.get(formatIpv4(p.overlayIp)) === p.mac);
  const moved = (f: Set<string>): boolean =>
    peers.every((p) => f.has(`${ZERO}/${p.storm}`) && f.has(`${p.mac}/${p.storm}`) && !f.has(`${ZERO}/${p.first}`));
  const a = gen('first', 3000); // the agent challenges each stranger once (first contact): the crowd answers
  const tProg = await until('the crowd to be programmed', () => firstTime(events(), a.t0, programmed), 15_000, 50)
    .catch(() => undefined);
  await sleep(500);
  const b = gen('storm', 500);
  const tRe = await until('the crowd to be reprogrammed', () => firstTime(events(), b.t0, (f) => moved(f)), 15_000, 50)
    .catch(() => undefined);
  watcher.kill('SIGTERM');
  const status = (await lab.status(agentHost)).counters;
  return {
    program: tProg === undefined ? undefined : tProg - a.t0, reprogram: tRe === undefined ? undefined : tRe - b.t0,
    sendMs: [a.t1 - a.t0, b.t1 - b.t0], status,
  };
}

export async function scale(n: number, rounds: number): Promise<ScaleRun> {
  // IPv4: the crowd speaks release 0.1's wire format (no link-local capability), so an agent
  // left on `auto` would rebuild its VXLAN device for IPv4 in the middle of the first storm
  const lab = await Lab.create({ hosts: 2, cluster: 'bench', prefixLen: 16, agentArgs: ['--underlay', 'ipv4'] });
  const out: ScaleRun =
    { peers: n, programMs: [], reprogramMs: [], sendMs: [], kernelResyncs: 0, dropped: {}, announcementsReceived: 0 };
  try {
    for (let r = 0; r < rounds; r++) {
      const res = await round(lab, n);
      out.programMs.push(res.program ?? NaN);
      out.reprogramMs.push(res.reprogram ?? NaN);
      out.sendMs.push(...res.sendMs);
      const c = res.status;
      out.kernelResyncs += c.kernelResyncs;
      for (const [k, v] of Object.entries(c.dropped)) if (v > 0) out.dropped[k] = (out.dropped[k] ?? 0) + v;
      out.announcementsReceived += c.received.announce;
    }
    return out;
  } finally {
    await lab.destroy();
  }
}
