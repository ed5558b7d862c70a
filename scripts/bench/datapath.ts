// Benchmark 5: data path. iperf3, one TCP stream, between two namespace
// hosts, in alternating rounds over: the physical network; the agent's
// overlay; the hand-built reference overlay (same settings the agent uses,
// built with iproute2 on its own VNI and devices beside the agent's); and,
// as exploration, reference variants with one setting the agent controls
// changed (outer UDP checksum off; a smaller overlay MTU). Reported: Gbit/s
// per path and the overlay/physical ratios.

import { join } from 'node:path';
import { Lab, sleep, type Host } from '../lab/lab.js';
import { buildReference } from './reference.js';

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
  const out = lab.exec(client, ['iperf3', '-c', server, '-t', String(seconds), '-O', '1', '-A', '0,1', '-J', '--connect-timeout', '2000'], true);
  try {
    const j = JSON.parse(out) as { end?: { sum_received?: { bits_per_second: number } } };
    return (j.end?.sum_received?.bits_per_second ?? NaN) / 1e9;
  } catch {
    return NaN;
  }
}

export async function datapath(seconds: number, rounds: number): Promise<DatapathRun> {
  const lab = await Lab.create({ hosts: 2, cluster: 'bench' });
  const out: DatapathRun = { seconds, rounds, gbps: {} };
  try {
    const st = await lab.startAll();
    for (const v of VARIANTS) buildVariant(lab, v);
    const [h1, h2] = lab.hosts as [Host, Host];
    const server = lab.spawnIn(h2.ns, ['iperf3', '-s'], join(h2.dir, 'iperf3-server.log'));
    await sleep(500);
    const targets: [string, string][] = [
      ['physical', h2.ip!], ['agent', st[1]!.node.overlayIp!], ...VARIANTS.map((v): [string, string] => [v.name, `${v.net}.2`]),
    ];
    try {
      for (let r = 0; r < rounds; r++) {
        for (const [name, ip] of targets) {
          (out.gbps[name] ??= []).push(iperf(lab, h1, ip, seconds));
          await sleep(300);
        }
      }
    } finally {
      server.kill('SIGTERM');
    }
    return out;
  } finally {
    await lab.destroy();
  }
}
