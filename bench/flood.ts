// Benchmark: renumbering under floods by an outsider without the key. One
// lab: agents on h1 and h2, an outsider h3. In each trial h2 is renumbered
// through DHCP while h1 probes h2's overlay IP every 5 ms; in the flooded
// trials h3 meanwhile sends, as fast as the lab can (outsider.mjs flood, its
// sender kept on CPU 0 so the victim can have the other core), one of the
// ATTACKS: a captured announcement with a broken HMAC from one source; the
// same from h2's own address (a forger using a peer's address); the
// captured announcement intact from 256 made-up sources (replays); or as raw
// L2 frames from one MAC. Quiet and flooded trials alternate, so all see the
// same machine. Per trial: recovery (h2's new DHCP address to the first
// probe answered, as in recovery.ts), h1's agent CPU over the trial (% of one
// core; and how long its event loop was running or runnable), announcements
// lost (h2's sent minus h1's accepted) and the offered flood rate.

import { join } from 'node:path';
import { Lab, captureAnnouncement, cpuWindow, rxPackets, sleep, until, type Host } from '../test/lab/lab.js';

export interface FloodTrials {
  recoveryMs: number[];
  /** trials in which no probe was answered within the window */
  failures: number;
  cpuPercent: number[];
  busyPercent: number[];
  lostAnnouncements: number[];
}

export type FloodedTrials = FloodTrials & {
  /** packets/s the outsider's sender got out, and the rate that reached h1's NIC */
  offeredPps: number[];
  reachedPps: number[];
};

/** What the outsider sends (see the header), and the flood verb's arguments for it. */
export const ATTACKS = {
  forged: 'broken HMACs from one source',
  'as-peer': 'broken HMACs from the renumbered peer\'s own address',
  replayed: 'a captured announcement replayed from 256 made-up sources',
  'raw-l2': 'broken HMACs as raw L2 frames from one MAC',
} as const;
export type Attack = keyof typeof ATTACKS;

export interface FloodRun {
  trials: number;
  quiet: FloodTrials;
  /** the forged-announcement flood (the first attack measured; runs before the others have it alone) */
  flooded: FloodedTrials;
  /** every other attack (absent in runs before they were measured) */
  attacks?: Partial<Record<Exclude<Attack, 'forged'>, FloodedTrials>>;
}

const WINDOW_MS = 1500;
/** the flood runs this long before a trial starts (sender up, h1's queue full) */
const RAMP_MS = 500;

const empty =
  (): FloodTrials => ({ recoveryMs: [], failures: 0, cpuPercent: [], busyPercent: [], lostAnnouncements: [] });

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
    captureAnnouncement(lab, h3, st[1]!.node.id, file);
    await sleep(1200); // past the duplicate window: intact copies count as replays from the first
    const flooded = (): FloodedTrials => ({ ...empty(), offeredPps: [], reachedPps: [] });
    const out: FloodRun = {
      trials, quiet: empty(), flooded: flooded(),
      attacks: { 'as-peer': flooded(), replayed: flooded(), 'raw-l2': flooded() },
    };
    const how: Record<Attack, () => string[]> = {
      forged: () => ['--dst', h1.ip!, '--port', '9477'],
      'as-peer': () => ['--dst', h1.ip!, '--port', '9477', '--sources', '1', '--source-base', h2.ip!],
      replayed: () => ['--dst', h1.ip!, '--port', '9477', '--sources', '256', '--intact'],
      'raw-l2': () => ['--l2', 'eth0', '--sources', '1'],
    };

    const trial = async (attack: Attack | undefined): Promise<void> => {
      const into = attack === undefined ? out.quiet : attack === 'forged' ? out.flooded : out.attacks![attack]!;
      const seconds = (RAMP_MS + 250 + WINDOW_MS + 3000) / 1000; // ends by itself even if a trial hangs
      const f = attack
        ? lab.helperInBackground(h3, 'outsider.mjs',
          ['flood', ...how[attack](), '--file', file, '--seconds', String(seconds), '--cpus', '0'])
        : undefined;
      await f?.started;
      await sleep(attack ? RAMP_MS : 0);
      // h2 first: what it sent before is in h1's counters 100 ms later
      const b0 = await lab.status(h2);
      await sleep(100);
      const a0 = await lab.status(h1);
      const rx0 = rxPackets(lab, h1);
      const win = cpuWindow(h1.agent!.pid!);
      const p = lab.pinger(h1, target, 0.005);
      await sleep(250);
      const [r] = await lab.renumber([h2]);
      await sleep(WINDOW_MS);
      const { replies } = await p.stop();
      const cpu = win.stop();
      const reached = (rxPackets(lab, h1) - rx0) / cpu.seconds;
      const result = (await f?.stop()) as { pps: number } | undefined;
      // the counters once the flood is over (h1 may still be working through its queue)
      await sleep(attack ? 300 : 0);
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
      if (attack) {
        const fl = into as FloodedTrials;
        fl.offeredPps.push(result?.pps ?? NaN);
        fl.reachedPps.push(reached);
      }
      // the next trial starts from a converged overlay
      await until('h1 to know h2\'s new address', async () => (await lab.status(h1))
        .peers.find((x) => x.id === st[1]!.node.id)?.underlayIp === h2.ip || undefined, 10_000, 50);
    };

    const kinds: (Attack | undefined)[] = [undefined, ...(Object.keys(ATTACKS) as Attack[])];
    // the order rotates each trial: no attack always follows another
    for (let t = 0; t < trials; t++) for (let i = 0; i < kinds.length; i++) await trial(kinds[(i + t) % kinds.length]);
    return out;
  } finally {
    await lab.destroy();
  }
}
