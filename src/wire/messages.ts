// Layer: wire format (types). Contract: the messages hosts exchange, as the
// codec (codec.ts) decodes them. Types and drop reasons are append-only.

import type { Cidr } from '../net/ipv4.js';
import type { Ipv6 } from '../net/ipv6.js';

/** Capability bits an announcement carries (append-only). Unknown bits are ignored. */
export const Caps = {
  /** can carry VXLAN over IPv6 link-local addresses (IPv6 is on on its NIC) */
  linkLocal: 1,
} as const;

/** Append-only: never renumber or reuse a type. */
export const MessageType = { announce: 1, probe: 2, defend: 3, forget: 4, challenge: 5 } as const;
export type MessageKind = keyof typeof MessageType;

export const DROP_REASONS = [
  'too-short', 'too-long', 'bad-magic', 'bad-version', 'bad-length', 'unknown-type',
  'malformed', 'other-cluster', 'bad-auth',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

interface Common {
  cluster: string;
  nodeId: string; // 32 hex characters
  seq: number;
  sentAt: number; // sender's wall clock, ms
}
/** An established holder states where it is. `echo` answers a challenge. */
export interface AnnounceMsg extends Common {
  type: 'announce';
  overlayIp: number;
  underlayIp: number;
  mac: string;
  claimedAt: number;
  /** how long the sender has held this claim, on its own monotonic clock (0 in a probe) */
  heldMs: number;
  cidr: Cidr;
  vni: number;
  /** the address was pinned by an operator (--overlay-ip) */
  pinned?: boolean;
  /** the sender just started, or its own underlay address just changed: peers should announce back */
  fresh?: boolean;
  /** MAC of the sender's physical interface: a raw L2 frame from it proves the sender shares our segment */
  physMac?: string;
  /** the IPv6 link-local address of its physical interface (absent from releases before 0.2, and without IPv6) */
  linkLocal?: Ipv6;
  /** what it can do (Caps bits); absent: nothing beyond release 0.1 */
  caps?: number;
  /** it and every host it knows can carry VXLAN over link-local (policy/family.ts) */
  llReady?: boolean;
  echo?: string;
}
/** A newcomer asks whether `overlayIp` is free (RFC 5227 style probe). */
export interface ProbeMsg extends Omit<AnnounceMsg, 'type' | 'echo' | 'fresh' | 'llReady'> {
  type: 'probe';
}
/** "overlayIp is held by holderId (claim made at holderClaimedAt, held for holderHeldMs)" — sent to targetId. */
export interface DefendMsg extends Common {
  type: 'defend';
  overlayIp: number;
  holderId: string;
  holderClaimedAt: number;
  holderHeldMs: number;
  targetId: string;
  echo?: string;
}
/** An operator released targetId's claim (made at targetClaimedAt) on overlayIp. */
export interface ForgetMsg extends Common {
  type: 'forget';
  overlayIp: number;
  targetId: string;
  targetClaimedAt: number;
}
/**
 * "Prove you still claim overlayIp": the target answers with a fresh
 * announce/defend echoing `nonce`. Sent before a host gives up its address,
 * so a replayed packet can never make it move.
 */
export interface ChallengeMsg extends Common {
  type: 'challenge';
  overlayIp: number;
  targetId: string;
  nonce: string; // 16 hex digits
}
export type Message = AnnounceMsg | ProbeMsg | DefendMsg | ForgetMsg | ChallengeMsg;
