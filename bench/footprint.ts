// Benchmark 3: footprint of an idle agent with 10 peers (11 hosts), over a
// window: CPU time (from /proc/PID/stat, as % of one core), RSS (VmRSS,
// sampled every second; max and at the end), what it sends (announcements/s
// from its counters) and the bytes/s its port carries into the LAN (the
// switch side of its veth: everything it puts on the wire while idle).

import { readFileSync } from 'node:fs';
import { Lab, sh, sleep } from '../test/lab/lab.js';

export interface FootprintRun {
  peers: number;
  windowS: number;
  cpuPercentOfOneCore: number;
  rssMaxMB: number;
  rssEndMB: number;
  announcementsPerS: number;
  lanBytesPerS: number;
  lanPacketsPerS: number;
}

const TICKS = 100; // USER_HZ on Linux

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const after = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(after[11]) + Number(after[12]); // utime + stime
}

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function portStats(lab: Lab, port: string): { bytes: number; packets: number } {
  const j = JSON.parse(sh('ip',
    ['-n', lab.sw, '-s', '-j', 'link', 'show', port])) as { stats64: { rx: { bytes: number; packets: number } } }[];
  return { bytes: j[0]!.stats64.rx.bytes, packets: j[0]!.stats64.rx.packets };
}

export async function footprint(windowS: number, peers = 10, settleS = 13): Promise<FootprintRun> {
  const lab = await Lab.create({ hosts: peers + 1, cluster: 'bench' });
  try {
    const started = Date.now();
    await lab.startAll(60_000);
    // idle means after start-up work: the one-off preflight checks run 10 s
    // after start (src/cli/agent.ts); periodic work (announcements, the 30 s
    // resync) is part of idle
    await sleep(Math.max(1000, started + settleS * 1000 - Date.now()));
    const h = lab.hosts[0]!;
    const pid = h.agent!.pid!;
    const port = `${lab.prefix}h1`;
    const sentBefore = (await lab.status(h)).counters.sent.announce;
    const t0 = Date.now();
    const cpu0 = cpuTicks(pid);
    const net0 = portStats(lab, port);
    let rssMax = 0;
    for (let i = 0; i < windowS; i++) {
      await sleep(1000);
      rssMax = Math.max(rssMax, rssMB(pid));
    }
    const secs = (Date.now() - t0) / 1000;
    const cpu = (cpuTicks(pid) - cpu0) / TICKS;
    const net1 = portStats(lab, port);
    const sentAfter = (await lab.status(h)).counters.sent.announce;
    return {
      peers, windowS: Math.round(secs), cpuPercentOfOneCore: (cpu / secs) * 100, rssMaxMB: rssMax, rssEndMB: rssMB(pid),
      announcementsPerS: (sentAfter - sentBefore) / secs, lanBytesPerS: (net1.bytes - net0.bytes) / secs,
      lanPacketsPerS: (net1.packets - net0.packets) / secs,
    };
  } finally {
    await lab.destroy();
  }
}
