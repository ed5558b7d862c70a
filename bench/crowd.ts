// Benchmark helper: the fake peers of the scale benchmark — who they are
// (node ids, MACs, overlay and underlay addresses), deterministic so the
// load generator and the analysis agree.

import { createHash } from 'node:crypto';
import { parseCidr, type Cidr } from '../src/net/ipv4.js';

export interface CrowdPeer {
  nodeId: string;
  mac: string;
  overlayIp: number;
  /** underlay address before and after the storm */
  first: string;
  storm: string;
}

export function crowd(n: number, cidrText: string, avoid: number[], lanPrefix: string): CrowdPeer[] {
  const cidr = parseCidr(cidrText) as Cidr;
  const out: CrowdPeer[] = [];
  let next = cidr.network + 2;
  for (let i = 0; i < n; i++) {
    while (avoid.includes(next)) next++;
    const id = createHash('sha256').update(`edge-overlay bench crowd ${i}`).digest().subarray(0, 16).toString('hex');
    out.push({
      nodeId: id,
      mac: `02:cc:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
      overlayIp: next++,
      first: `${lanPrefix}.1.${i + 1}`,
      storm: `${lanPrefix}.2.${i + 1}`,
    });
  }
  return out;
}
