// Layer: policy (pure). Contract: which address family carries VXLAN.
// `auto` uses IPv6 link-local addresses only when this host and every host
// it knows can: capable (the link-local capability bit), its link-local
// address known, heard straight over raw L2 (same segment), and itself ready
// (it knows no host that cannot). Readiness is announced, so one host's
// knowledge reaches all: every host that has heard the others chooses the
// same. The inputs are capabilities and membership, never the choice itself,
// so the choice cannot oscillate; it changes when a host is upgraded, added,
// forgotten or loses IPv6.

import type { Ipv6 } from '../net/ipv6.js';
import { Caps } from '../wire/messages.js';

export const UNDERLAY_SETTINGS = ['auto', 'ipv4', 'ipv6-link-local'] as const;
export type UnderlaySetting = (typeof UNDERLAY_SETTINGS)[number];
export type Family = 'ipv4' | 'link-local';

/**
 * IPv6 on the physical interface: on, off (disable_ipv6), dad-failed (its link-local address), unknown (no interface
 * yet)
 */
export type Ipv6State = 'on' | 'off' | 'dad-failed' | 'unknown';

/** What this host knows about its own NIC. */
export interface OwnFacts {
  setting: UnderlaySetting;
  ipv6: Ipv6State;
  /** current or last known link-local address */
  linkLocal: Ipv6 | undefined;
  /** unicast seeds are configured: routed peers cannot use link-local */
  seeds: boolean;
}

/** What one peer's announcements said. */
export interface PeerFacts {
  id: string;
  /** its capability bits; undefined: a release before 0.2 (no capabilities) */
  caps: number | undefined;
  linkLocal: Ipv6 | undefined;
  /** yes: heard straight over raw L2 once; no: heard only otherwise for a while; pending: too new to tell */
  l2: 'yes' | 'no' | 'pending';
  /** it and every host it knows can use link-local */
  ready: boolean;
}

export interface Choice {
  family: Family;
  /** one line for status and doctor: why this family */
  reason: string;
}

const short = (id: string): string => id.slice(0, 8);

/**
 * Do we announce the link-local capability? Not when forced to IPv4 or IPv6 is unusable; unknown counts as the last
 * known address.
 */
export function capable(own: OwnFacts): boolean {
  if (own.setting === 'ipv4') return false;
  if (own.ipv6 === 'unknown') return own.linkLocal !== undefined;
  return own.ipv6 === 'on';
}

function ownVeto(own: OwnFacts): string | undefined {
  if (own.setting === 'ipv4') return 'underlay: ipv4 is configured on this host';
  if (own.ipv6 === 'off') return 'IPv6 is disabled on this host\'s interface';
  if (own.ipv6 === 'dad-failed') return 'this host\'s link-local address failed duplicate address detection';
  if (!capable(own)) return 'this host has no link-local address yet';
  if (own.seeds) return 'unicast seeds (--peer) are configured: routed peers cannot use link-local addresses';
  return undefined;
}

/**
 * Why `p` cannot carry VXLAN over link-local (ignoring its own readiness); undefined: it can, or it is too new to
 * tell.
 */
function peerVeto(p: PeerFacts): string | undefined {
  if (p.caps === undefined) return `peer ${short(p.id)} runs a release without link-local support`;
  if (!(p.caps & Caps.linkLocal)) return `peer ${short(p.id)} cannot use link-local (IPv6 off or underlay: ipv4 there)`;
  if (p.l2 === 'no') return `peer ${short(p.id)} is not heard over raw L2 (not on this segment)`;
  if (p.linkLocal === undefined) return undefined; // capable, address not known yet: pending
  return undefined;
}

/** What we announce as "ready": we can, and so can every host we know. Pending peers do not count yet. */
export function readiness(own: OwnFacts, peers: readonly PeerFacts[]): Choice {
  const why = ownVeto(own) ?? firstOf(peers, peerVeto);
  return why === undefined
    ? { family: 'link-local', reason: 'every host can use link-local addresses on this segment' }
    : { family: 'ipv4', reason: why };
}

/** The family this host uses. */
export function chooseFamily(own: OwnFacts, peers: readonly PeerFacts[]): Choice {
  if (own.setting === 'ipv4') return { family: 'ipv4', reason: 'underlay: ipv4 is configured' };
  if (own.setting === 'ipv6-link-local') {
    return { family: 'link-local', reason: 'underlay: ipv6-link-local is configured' };
  }
  const r = readiness(own, peers);
  if (r.family === 'ipv4') return r;
  // a peer that says it is not ready knows a host that cannot (one we may never hear): its word counts at once
  const held = firstOf(peers, (p) => (p.caps !== undefined && !p.ready
    ? `peer ${short(p.id)} knows a host that cannot use link-local`
    : undefined));
  return held === undefined ? r : { family: 'ipv4', reason: held };
}

function firstOf(peers: readonly PeerFacts[], f: (p: PeerFacts) => string | undefined): string | undefined {
  const sorted = [...peers].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const p of sorted) {
    const why = f(p);
    if (why !== undefined) return why;
  }
  return undefined;
}
