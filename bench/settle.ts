// Benchmark helper (layer: lab driver). Contract: waits until agents have
// settled on an underlay family — each uses it, its VXLAN device carries it
// and, for link-local, each has its verdict on every peer's L2 adjacency (a
// pending verdict can still move the whole cluster to IPv4) — and returns
// their statuses in host order; throws with what it last saw on timeout.

import { Lab, sleep, type Host } from '../test/lab/lab.js';
import type { Family } from '../src/policy/family.js';
import type { StatusReport } from '../src/agent/records/status.js';

const settled = (s: StatusReport | undefined, family: Family): boolean =>
  s !== undefined && s.underlay.family === family && s.underlay.device === family
  && (family === 'ipv4' || s.peers.every((p) => p.l2 === 'yes'));

export async function onFamily(lab: Lab, hosts: Host[], family: Family, timeoutMs = 20_000): Promise<StatusReport[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = await Promise.all(hosts.map((h) => lab.tryStatus(h)));
    if (st.every((s) => settled(s, family))) return st as StatusReport[];
    if (Date.now() > deadline) {
      const seen = st.map((s, i) => `${hosts[i]!.name}: ${s
        ? `${s.underlay.family}/${s.underlay.device ?? 'none'} (${s.underlay.why}), `
          + `L2 ${s.peers.map((p) => p.l2).join(',')}`
        : 'no status'}`);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${hosts.map((h) => h.name).join(',')} to settle `
        + `on ${family}: ${seen.join('; ')}`);
    }
    await sleep(50);
  }
}
