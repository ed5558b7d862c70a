// Layer: identity (pure). Contract: a node id is 16 bytes as 32 hex digits,
// stable for the life of the state directory. The first start derives it
// from /etc/machine-id the way systemd derives app-specific ids (an HMAC
// keyed by the machine id), salted with the state directory so several
// agents on one machine — one per network namespace — get distinct ids, and
// a reinstall on the same machine gets the same id back. Without a usable
// machine id it is random. The bridge MAC is derived from the node id, so
// peers' FDB entries for it stay valid even when the bridge is recreated.

import { createHash, createHmac, randomBytes } from 'node:crypto';
import { formatMac } from '../net/ipv4.js';

export function deriveNodeId(machineId: string | undefined, stateDir: string): string {
  const mid = machineId?.trim().toLowerCase();
  if (mid && /^[0-9a-f]{32}$/.test(mid)) {
    return createHmac('sha256', Buffer.from(mid, 'hex')).update(`edge-overlay node id\0${stateDir}`).digest().subarray(0, 16).toString('hex');
  }
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
