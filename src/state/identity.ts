// Layer: identity (pure). Contract: a node id is 16 random bytes as 32 hex
// digits, generated on the first start and kept in the state file for the
// life of the state directory. It is deliberately not derived from
// /etc/machine-id: hosts cloned from one golden image often share that, and
// two hosts with one id break the overlay (the agent also detects that case
// at run time). The bridge MAC is derived from the node id, so peers' FDB
// entries for it stay valid even when the bridge is recreated.

import { createHash, randomBytes } from 'node:crypto';
import { formatMac } from '../net/ipv4.js';

export function newNodeId(): string {
  return randomBytes(16).toString('hex');
}

/** A locally administered unicast MAC (02:…) derived from the node id. */
export function bridgeMacFor(nodeId: string): string {
  const h = createHash('sha256').update(`edge-overlay bridge mac\0${nodeId}`).digest();
  const mac = Buffer.from([0x02, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!]);
  return formatMac(mac);
}

export function shortId(nodeId: string): string {
  return nodeId.slice(0, 8);
}
