// Benchmark: the interruption when the whole cluster changes underlay
// family. Three hosts on link-local (the default `auto`); a fourth, with IPv6
// disabled on its NIC, joins, so every host rebuilds its VXLAN device on IPv4;
// then it is removed (agent stopped, `edge-overlay down`, state wiped) and
// forgotten (`edge-overlay forget NODE --force` on h1), so they all go back
// to link-local. Contract: per switch, from a ping h1 -> h2 every 5 ms that
// runs from 250 ms before the trigger until 500 ms after all three VXLAN
// devices carry the new family: probes never answered and the longest time
// between two answers (loss.ts); and when the three devices were rebuilt
// (agents' own timestamps: spread from first to last). The fourth host gets
// a fresh identity each trial.

import { AGENT_BIN, Lab, sleep, type Host } from '../test/lab/lab.js';
import type { Family } from '../src/policy/family.js';
import { probeLoss } from './loss.js';
import { onFamily } from './settle.js';

export interface SwitchTrials {
  lost: number[];
  maxGapMs: number[];
  /** first to last of the three hosts' family change (status underlay.lastChangeAt) */
  spreadMs: number[];
}

export interface FamilySwitchRun {
  trials: number;
  /** link-local -> IPv4: a host without IPv6 joins */
  toIpv4: SwitchTrials;
  /** IPv4 -> link-local: that host is forgotten */
  toLinkLocal: SwitchTrials;
}

const PROBE_S = 0.005;

const empty = (): SwitchTrials => ({ lost: [], maxGapMs: [], spreadMs: [] });

/** Runs `trigger` under a 5 ms ping from `from` to `ip` and waits for `hs` to be on `family`; what the ping saw. */
async function measure(lab: Lab, from: Host, ip: string, hs: Host[], family: Family, trigger: () => Promise<void>,
  into: SwitchTrials): Promise<void> {
  const p = lab.pinger(from, ip, PROBE_S);
  let st: Awaited<ReturnType<typeof onFamily>>;
  try {
    await sleep(250);
    await trigger();
    st = await onFamily(lab, hs, family);
    await sleep(500);
  } finally {
    const r = await p.stop();
    const l = probeLoss(r);
    into.lost.push(l.lost);
    into.maxGapMs.push(l.maxGapMs);
  }
  const at = st.map((s) => Date.parse(s.underlay.lastChangeAt ?? ''));
  into.spreadMs.push(Math.max(...at) - Math.min(...at));
}

export async function familySwitch(trials: number): Promise<FamilySwitchRun> {
  const lab = await Lab.create({ hosts: 4, cluster: 'bench' });
  const out: FamilySwitchRun = { trials, toIpv4: empty(), toLinkLocal: empty() };
  try {
    const [h1, h2, h3, h4] = lab.hosts as [Host, Host, Host, Host];
    const three = [h1, h2, h3];
    lab.setIpv6(h4, false);
    for (const h of three) lab.startAgent(h);
    await lab.converged(20_000, three);
    const st = await onFamily(lab, three, 'link-local');
    const target = st[1]!.node.overlayIp!;
    for (let t = 0; t < trials; t++) {
      await measure(lab, h1, target, three, 'ipv4', async () => { lab.startAgent(h4); }, out.toIpv4);
      const id = (await lab.converged(20_000, lab.hosts))[3]!.node.id;
      await measure(lab, h1, target, three, 'link-local', async () => {
        await lab.resetHost(h4); // gone for good: a new identity next trial
        lab.exec(h1, [process.execPath, AGENT_BIN, 'forget', id, '--force', '--run-dir', lab.runDir(h1)]);
      }, out.toLinkLocal);
    }
    return out;
  } finally {
    await lab.destroy();
  }
}
