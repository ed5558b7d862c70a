// Benchmark: renumbering under a flood of forged packets. One lab: agents on
// h1 and h2, an outsider h3 without the key. In each trial h2 is renumbered
// through DHCP while h1 probes h2's overlay IP every 5 ms; in the flooded
// trials h3 meanwhile sends h1 a captured announcement with a broken HMAC as
// fast as the lab can (outsider.mjs flood, its sender kept on CPU 0 so the
// victim can have the other core). Quiet and flooded trials alternate, so
// both see the same machine. Per trial: recovery (h2's new DHCP address to
// the first probe answered, as in recovery.ts), h1's agent CPU over the trial
// (% of one core; and how long its event loop was running or runnable),
// announcements lost (h2's sent minus h1's accepted) and the offered flood
// rate.

import { join } from 'node:path';
import { Lab, cpuWindow, sh, sleep, until, type Host } from '../test/lab/lab.js';

export interface FloodTrials {
  recoveryMs: number[];
  /** trials in which no probe was answered within the window */
  failures: number;
  cpuPercent: number[];
  busyPercent: number[];
  lostAnnouncements: number[];
}

export interface FloodRun {
  trials: number;
  quiet: FloodTrials;
  flooded: FloodTrials & {
    /** packets/s the outsider's sender got out, and the rate that reached h1's NIC */
    offeredPps: number[];
    reachedPps: number[];
  };
}

const WINDOW_MS = 1500;
/** the flood runs this long before a trial starts (sender up, h1's queue full) */
const RAMP_MS = 500;

const empty =
  (): FloodTrials => ({ recoveryMs: [], failures: 0, cpuPercent: [], busyPercent: [], lostAnnouncements: [] });

function rxPackets(h: Host): number {
  const j = JSON.parse(
    sh('ip', ['-n', h.ns, '-s', '-j', 'link', 'show', 'eth0'])) as { stats64: { rx: { packets: number } } }[];
  return j[0]!.stats64.rx.packets;
}

export async function flood(trials: number): Promise<FloodRun> {
  // IPv4: on link-local a renumbering does not interrupt the overlay at all, so there would be no recovery to slow down
  const lab = await Lab.create({ hosts: 3, cluster: 'bench', agentArgs: ['--underlay', 'ipv4'] });
  try {
    const [h1, h2, h3] = lab.hosts as [Host, Host, Host];
    lab.startAgent(h1);
    lab.startAgent(h2);
    const st = await lab.converged(20_000, [h1, h2]);
    const target = st[1]!.node.overlayIp!;
    const file = join(lab.dir, 'one-announcement');
    lab.helper(h3, 'outsider.mjs', ['capture', '9477', '8000', file, '--node', st[1]!.node.id, '--count', '1']);
    await sleep(1200); // past the duplicate window: every forged copy is checked in full
    const out: FloodRun = { trials, quiet: empty(), flooded: { ...empty(), offeredPps: [], reachedPps: [] } };

    const trial = async (flooded: boolean): Promise<void> => {
      const into = flooded ? out.flooded : out.quiet;
      const seconds = (RAMP_MS + 250 + WINDOW_MS + 3000) / 1000; // ends by itself even if a trial hangs
      const f = flooded
        ? lab.helperInBackground(h3, 'outsider.mjs',
          ['flood', '--dst', h1.ip!, '--port', '9477', '--file', file, '--seconds', String(seconds), '--cpus', '0'])
        : undefined;
      await f?.started;
      await sleep(flooded ? RAMP_MS : 0);
      // h2 first: what it sent before is in h1's counters 100 ms later
      const b0 = await lab.status(h2);
      await sleep(100);
      const a0 = await lab.status(h1);
      const rx0 = rxPackets(h1);
      const win = cpuWindow(h1.agent!.pid!);
      const p = lab.pinger(h1, target, 0.005);
      await sleep(250);
      const [r] = await lab.renumber([h2]);
      await sleep(WINDOW_MS);
      const { replies } = await p.stop();
      const cpu = win.stop();
      const reached = (rxPackets(h1) - rx0) / cpu.seconds;
      const result = (await f?.stop()) as { pps: number } | undefined;
      // the counters once the flood is over (h1 may still be working through its queue)
      await sleep(flooded ? 300 : 0);
      const b1 = await lab.status(h2);
      await sleep(100);
      const a1 = await lab.status(h1);
      const first = replies.find((x) => x > r!.boundAt);
      if (first === undefined) into.failures++;
      else into.recoveryMs.push(first - r!.boundAt);
      into.cpuPercent.push(cpu.cpuPercent);
      into.busyPercent.push(cpu.busyPercent);
      into.lostAnnouncements.push(Math.max(0, (b1.counters.sent.announce - b0.counters.sent.announce)
        - (a1.counters.received.announce - a0.counters.received.announce)));
      if (flooded) {
        out.flooded.offeredPps.push(result?.pps ?? NaN);
        out.flooded.reachedPps.push(reached);
      }
      // the next trial starts from a converged overlay
      await until('h1 to know h2\'s new address', async () => (await lab.status(h1))
        .peers.find((x) => x.id === st[1]!.node.id)?.underlayIp === h2.ip || undefined, 10_000, 50);
    };

    for (let t = 0; t < trials; t++) for (const flooded of t % 2 ? [true, false] : [false, true]) await trial(flooded);
    return out;
  } finally {
    await lab.destroy();
  }
}
