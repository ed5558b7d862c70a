// Layer: identity (pure). Contract: a node id is 16 random bytes (32 hex digits)
// made on the first start and kept in the state file; not /etc/machine-id,
// which hosts cloned from one image share. The bridge MAC derives from it, so
// peers' FDB entries for it survive a recreated bridge.

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
