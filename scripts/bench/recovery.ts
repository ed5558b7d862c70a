// Benchmark 1: recovery after renumbering through real DHCP, for the agent
// and for the hand-built reference, in the same run, trials interleaved. A 5 ms ICMP probe (the
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

/** One lab (agent or reference) with its probes, ready for trials. */
class Rig {
  private constructor(readonly lab: Lab, private readonly ips: string[], private readonly tcp: Awaited<ReturnType<Lab['tcp']>>,
    readonly out: RecoveryRun) {}

  static async create(mode: 'agent' | 'reference'): Promise<Rig> {
    const lab = await Lab.create({ hosts: 3, cluster: 'bench', ...(mode === 'reference' ? { dhcpHook: (h, l) => repairHook(l, h) } : {}) });
    try {
      let ips: string[];
      if (mode === 'agent') {
        ips = (await lab.startAll()).map((s) => s.node.overlayIp!);
      } else {
        ips = buildReference(lab);
        await sleep(300);
      }
      if (!lab.ping(lab.hosts[0]!, ips[1]!, 3, 0.05)) throw new Error(`${mode}: the overlay does not carry traffic before the benchmark`);
      const tcp = await lab.tcp(lab.hosts[0]!, lab.hosts[1]!, ips[1]!);
      return new Rig(lab, ips, tcp, { mode, oneMs: [], allMs: [], failures: 0, tcp: { survived: false, maxGapMs: 0, sentBytes: 0, echoedBytes: 0, error: null } });
    } catch (err) {
      await lab.destroy();
      throw err;
    }
  }

  /** Renumber host 2 under a probe from host 1. */
  async one(): Promise<void> {
    const [h1, h2] = this.lab.hosts;
    const p = this.lab.pinger(h1!, this.ips[1]!, 0.005);
    await sleep(250);
    const [r] = await this.lab.renumber([h2!]);
    await sleep(WINDOW_MS);
    const { replies } = await p.stop();
    const first = replies.find((x) => x > r!.boundAt);
    if (first === undefined) this.out.failures++;
    else this.out.oneMs.push(first - r!.boundAt);
  }

  /** Renumber every host under probes around the ring. */
  async all(): Promise<void> {
    const pairs: [number, number][] = [[0, 1], [1, 2], [2, 0]];
    const probes = pairs.map(([a, b]) => this.lab.pinger(this.lab.hosts[a]!, this.ips[b]!, 0.005));
    await sleep(250);
    const rs = await this.lab.renumber(this.lab.hosts);
    await sleep(WINDOW_MS);
    for (let i = 0; i < pairs.length; i++) {
      const [a, b] = pairs[i]!;
      const since = Math.max(rs[a]!.boundAt, rs[b]!.boundAt);
      const { replies } = await probes[i]!.stop();
      const first = replies.find((x) => x > since);
      if (first === undefined) this.out.failures++;
      else this.out.allMs.push(first - since);
    }
  }

  async finish(): Promise<RecoveryRun> {
    await sleep(500);
    const r = await this.tcp.stop();
    // survived: never reset, and every byte arrived at the server and came back intact
    this.out.tcp = {
      survived: r.error === null && !r.closed && r.received === r.sent && r.echoed === r.sent && r.intact,
      maxGapMs: r.maxGapMs, sentBytes: r.sent, echoedBytes: r.echoed, error: r.error,
    };
    return this.out;
  }
}

/**
 * Both labs exist side by side and their trials alternate (agent, reference,
 * agent, …), so a slow minute on a noisy machine hits both alike: the ratio
 * compares like with like.
 */
export async function recovery(trials: number): Promise<{ agent: RecoveryRun; reference: RecoveryRun }> {
  const agent = await Rig.create('agent');
  let reference: Rig | undefined;
  try {
    reference = await Rig.create('reference');
    const rigs = [agent, reference];
    for (let t = 0; t < trials; t++) for (const rig of t % 2 ? [...rigs].reverse() : rigs) await rig.one();
    for (let t = 0; t < trials; t++) for (const rig of t % 2 ? [...rigs].reverse() : rigs) await rig.all();
    return { agent: await agent.finish(), reference: await reference.finish() };
  } finally {
    await reference?.lab.destroy();
    await agent.lab.destroy();
  }
}
