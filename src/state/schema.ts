// Layer: persistence format. Contract: the one JSON document the agent keeps
// on disk, validated on load. Everything a restarted agent needs to come back
// with the same address and keep others' addresses reserved is in it.

import * as z from 'zod';
import { parseIpv4 } from '../net/ipv4.js';
import { isLinkLocal, parseIpv6 } from '../net/ipv6.js';

const ip = z.string().refine((s) => parseIpv4(s) !== undefined, 'not an IPv4 address');
const nodeId = z.string().regex(/^[0-9a-f]{32}$/, 'not a 32-hex-digit node id');
const mac = z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, 'not a MAC address');
const ms = z.number().int().nonnegative();
const ifname = z.string().regex(/^[^\s/:]{1,15}$/, 'not an interface name');
const linkLocal = z.string().refine((s) => { const a = parseIpv6(s); return a !== undefined && isLinkLocal(a); },
  'not an IPv6 link-local address');

/**
 * The file's layout revision. `version` stays 1 for every revision that only
 * adds optional fields, so the previous release (which ignores unknown
 * fields) still starts from a newer file with the same overlay address;
 * `schema` counts the additions (absent: 1, release 0.1).
 */
export const SCHEMA = 3; // 3 (release 0.3): `interface`

export const peerSchema = z.object({
  id: nodeId,
  overlayIp: ip,
  underlayIp: ip,
  mac,
  claimedAt: ms,
  lastSeq: ms,
  lastSeenAt: ms,
  heldMs: ms.optional(),
  pinned: z.boolean().optional(),
  // schema 2 (release 0.2): the underlay family choice's inputs
  linkLocal: linkLocal.optional(),
  caps: z.number().int().nonnegative().optional(),
  ready: z.boolean().optional(),
  /** ever heard straight over raw L2; absent: not known (schema 1) */
  l2: z.boolean().optional(),
});

export const tombstoneSchema = z.object({ id: nodeId, claimedAt: ms, at: ms });

export const floorSchema = z.object({ id: nodeId, seq: ms, sentAt: ms, admitted: z.boolean().optional() });

export const stateSchema = z.object({
  version: z.literal(1),
  /** layout revision (see SCHEMA); absent in files from 0.1 */
  schema: z.number().int().min(1).optional(),
  nodeId,
  cluster: z.string().min(1),
  cidr: z.string(),
  overlayIp: ip.optional(),
  claimedAt: ms.optional(),
  /** how long this host has held its claim (monotonic time, summed over restarts) */
  heldMs: ms.optional(),
  /** Sequence numbers below this were (possibly) used; a restart starts here. */
  seqFloor: ms,
  peers: z.array(peerSchema),
  /** claims released with `edge-overlay forget` (absent in files from 0.1) */
  forgotten: z.array(tombstoneSchema).optional(),
  /** replay floors of every sender heard, peers or not (absent in files from 0.1) */
  floors: z.array(floorSchema).optional(),
  /** this host's last known IPv6 link-local address (schema 2) */
  linkLocal: linkLocal.optional(),
  /** schema 3 (release 0.3): the physical interface the agent chose at first start (agent/underlay/iface.ts);
   *  absent: not chosen yet, or the configuration names it (which always wins and is never kept here) */
  interface: ifname.optional(),
});

export type PersistedPeer = z.infer<typeof peerSchema>;
export type PersistedState = z.infer<typeof stateSchema>;
