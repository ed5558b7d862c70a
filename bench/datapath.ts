// Benchmark 5: data path. iperf3, one TCP stream, between two namespace
// hosts, in alternating rounds over: the physical network; the agent's
// overlay on IPv4 (`--underlay ipv4`); the hand-built reference overlay (same
// settings the agent uses on IPv4, built with iproute2 on its own VNI and
// devices beside the agent's); as exploration, reference variants with one
// setting the agent controls changed (outer UDP checksum off; a smaller
// overlay MTU); and the agent's overlay on IPv6 link-local (the default
// `auto`), from a second two-host lab, since one host runs one agent.
// Reported: Gbit/s per path and the overlay/physical ratios.

import { join } from 'node:path';
import { Lab, sleep, type Host } from '../test/lab/lab.js';
import { buildReference } from './reference.js';
import { onFamily } from './settle.js';

export interface DatapathRun {
  seconds: number;
  rounds: number;
  gbps: Record<string, number[]>;
}

interface Variant { name: string; vni: number; net: string; extra: string[]; mtu?: number }

const VARIANTS: Variant[] = [
  { name: 'reference', vni: 200, net: '100.65.0', extra: [] },
  { name: 'ref-noudpcsum', vni: 201, net: '100.65.1', extra: ['noudpcsum'] },
  { name: 'ref-mtu1400', vni: 202, net: '100.65.2', extra: [], mtu: 1400 },
];

/** A reference variant on its own VNI and devices (rb<VNI>, rv<VNI>), beside the agent's overlay. */
function buildVariant(lab: Lab, v: Variant): void {
  buildReference(lab, {
    bridge: `rb${v.vni}`, vxlan: `rv${v.vni}`, vni: v.vni, mtu: v.mtu, flags: v.extra,
    mac: (n) => `02:ed:${(v.vni & 255).toString(16).padStart(2, '0')}:00:00:0${n}`, ip: (n) => `${v.net}.${n}`,
  });
}

function iperf(lab: Lab, client: Host, server: string, seconds: number): number {
  // -O 1: leave slow start out; -A 0,1: client on CPU 0, server on CPU 1, so
  // every path gets the same placement (the largest source of noise on 2 cores)
  const out = lab.exec(client,
    ['iperf3', '-c', server, '-t', String(seconds), '-O', '1', '-A', '0,1', '-J', '--connect-timeout', '2000'], true);
  try {
    const j = JSON.parse(out) as { end?: { sum_received?: { bits_per_second: number } } };
    return (j.end?.sum_received?.bits_per_second ?? NaN) / 1e9;
  } catch {
    return NaN;
  }
}

/** A two-host lab with agents (`agentArgs`), settled on `family`, and an iperf3 server on h2. */
async function agentLab(agentArgs: string[], family: 'ipv4' | 'link-local'): Promise<{ lab: Lab; overlayIp: string }> {
  const lab = await Lab.create({ hosts: 2, cluster: 'bench', agentArgs });
  try {
    await lab.startAll();
    const st = await onFamily(lab, lab.hosts, family);
    const h2 = lab.hosts[1]!;
    lab.spawnIn(h2.ns, ['iperf3', '-s'], join(h2.dir, 'iperf3-server.log')); // lab.destroy() ends it
    return { lab, overlayIp: st[1]!.node.overlayIp! };
  } catch (err) {
    await lab.destroy();
    throw err;
  }
}

export async function datapath(seconds: number, rounds: number): Promise<DatapathRun> {
  const out: DatapathRun = { seconds, rounds, gbps: {} };
  const labs: Lab[] = [];
  try {
    const v4 = await agentLab(['--underlay', 'ipv4'], 'ipv4');
    labs.push(v4.lab);
    const ll = await agentLab([], 'link-local');
    labs.push(ll.lab);
    const lab = v4.lab;
    for (const v of VARIANTS) buildVariant(lab, v);
    const h2 = lab.hosts[1]!;
    await sleep(500);
    const targets: [string, Lab, string][] = [
      ['physical', lab, h2.ip!], ['agent', lab, v4.overlayIp], ['link-local', ll.lab, ll.overlayIp],
      ...VARIANTS.map((v): [string, Lab, string] => [v.name, lab, `${v.net}.2`]),
    ];
    for (let r = 0; r < rounds; r++) {
      for (const [name, l, ip] of targets) {
        (out.gbps[name] ??= []).push(iperf(l, l.hosts[0]!, ip, seconds));
        await sleep(300);
      }
    }
    return out;
  } finally {
    for (const l of labs.reverse()) await l.destroy();
  }
}
