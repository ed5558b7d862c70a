// Benchmark 1: recovery after renumbering through real DHCP, for the agent
// and for the hand-built reference, in the same run. A 5 ms ICMP probe (the
// resolution the ~10 ms figures need; the spec's 20 ms would quantise them)
// and a long-lived TCP connection echoing every 20 ms run across every trial.
// Recovery = first probe answered over the overlay after the renumbered
// host's new address appeared (the DHCP script's timestamp, taken right
// after `ip addr add`). For "all hosts", per probed pair, from the later of
// its two hosts' new addresses.

import { Lab, sleep } from '../lab/lab.js';
import { buildReference, repairHook } from './reference.js';

export interface RecoveryRun {
  mode: 'agent' | 'reference';
  oneMs: number[];
  allMs: number[];
  /** trials in which traffic did not come back within the window */
  failures: number;
  tcp: { survived: boolean; maxGapMs: number; sentBytes: number; echoedBytes: number; error: string | null };
}

const WINDOW_MS = 1500;

export async function recovery(mode: 'agent' | 'reference', trials: number): Promise<RecoveryRun> {
  const lab = await Lab.create({ hosts: 3, cluster: 'bench', ...(mode === 'reference' ? { dhcpHook: (h, l) => repairHook(l, h) } : {}) });
  try {
    let ips: string[];
    if (mode === 'agent') {
      for (const h of lab.hosts) lab.startAgent(h);
      ips = (await lab.converged()).map((s) => s.node.overlayIp!);
    } else {
      ips = buildReference(lab);
      await sleep(300);
    }
    const [h1, h2, h3] = lab.hosts as [typeof lab.hosts[0], typeof lab.hosts[0], typeof lab.hosts[0]];
    if (!lab.ping(h1, ips[1]!, 3, 0.05)) throw new Error(`${mode}: the overlay does not carry traffic before the benchmark`);
    const tcp = await lab.tcp(h1, h2, ips[1]!);
    const out: RecoveryRun = { mode, oneMs: [], allMs: [], failures: 0, tcp: { survived: false, maxGapMs: 0, sentBytes: 0, echoedBytes: 0, error: null } };
    for (let t = 0; t < trials; t++) {
      const p = lab.pinger(h1, ips[1]!, 0.005);
      await sleep(250);
      const [r] = await lab.renumber([h2]);
      await sleep(WINDOW_MS);
      const { replies } = await p.stop();
      const first = replies.find((x) => x > r!.boundAt);
      if (first === undefined) out.failures++;
      else out.oneMs.push(first - r!.boundAt);
    }
    const pairs: [number, number][] = [[0, 1], [1, 2], [2, 0]];
    for (let t = 0; t < trials; t++) {
      const probes = pairs.map(([a, b]) => lab.pinger(lab.hosts[a]!, ips[b]!, 0.005));
      await sleep(250);
      const rs = await lab.renumber([h1, h2, h3]);
      await sleep(WINDOW_MS);
      for (let i = 0; i < pairs.length; i++) {
        const [a, b] = pairs[i]!;
        const since = Math.max(rs[a]!.boundAt, rs[b]!.boundAt);
        const { replies } = await probes[i]!.stop();
        const first = replies.find((x) => x > since);
        if (first === undefined) out.failures++;
        else out.allMs.push(first - since);
      }
    }
    await sleep(500);
    const r = await tcp.stop();
    // survived: never reset, and every byte arrived at the server and came back intact
    out.tcp = {
      survived: r.error === null && !r.closed && r.received === r.sent && r.echoed === r.sent && r.intact,
      maxGapMs: r.maxGapMs, sentBytes: r.sent, echoedBytes: r.echoed, error: r.error,
    };
    return out;
  } finally {
    await lab.destroy();
  }
}
