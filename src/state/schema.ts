// Layer: persistence format. Contract: the one JSON document the agent keeps
// on disk, validated on load. Everything a restarted agent needs to come back
// with the same address and keep others' addresses reserved is in it.

import { z } from 'zod';
import { parseIpv4 } from '../net/ipv4.js';

const ip = z.string().refine((s) => parseIpv4(s) !== undefined, 'not an IPv4 address');
const nodeId = z.string().regex(/^[0-9a-f]{32}$/, 'not a 32-hex-digit node id');
const mac = z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, 'not a MAC address');
const ms = z.number().int().nonnegative();

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
});

export const tombstoneSchema = z.object({ id: nodeId, claimedAt: ms, at: ms });

export const floorSchema = z.object({ id: nodeId, seq: ms, sentAt: ms, admitted: z.boolean().optional() });

export const stateSchema = z.object({
  version: z.literal(1),
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
});

export type PersistedPeer = z.infer<typeof peerSchema>;
export type PersistedState = z.infer<typeof stateSchema>;
