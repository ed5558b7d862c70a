// Layer: agent (operator commands). Contract: resolves the NODE argument of
// `edge-overlay forget` — a node id, a unique id prefix, or an overlay IP —
// to one peer, refusing with one clear line when it matches none, several,
// or a peer that is still alive (unless forced); says what a forget and a
// reloaded keyring ask of the agent.

import { EdgeError } from '../errors.js';
import { formatIpv4, parseIpv4 } from '../net/ipv4.js';
import type { Peer, PeerTable } from '../peers/table.js';
import type { Logger } from '../log.js';
import type { Keyring } from '../wire/keyfile.js';
import type { Endpoint } from '../discovery/transport.js';
import { NOTHING, type Actions, type Outgoing } from './actions.js';
import type { Seeds } from './membership/seeds.js';

/** Copies of an operator's FORGET: a lost datagram must not leave one host holding the released claim. */
const FORGET_COPIES = 3;

/** What tells every host that `p`'s claim is released. */
export function forgetSends(p: Peer): Outgoing[] {
  const told: Outgoing = { kind: 'forget', target: p.id, claimedAt: p.claimedAt, overlayIp: p.overlayIp };
  return Array.from({ length: FORGET_COPIES }, () => told);
}

/**
 * A reloaded keyring (SIGHUP): the first key signs from now on; a new signing key is put to use at once, not at the
 * next period.
 */
export function reloadKeys(sender: { keys: Keyring; setKeys(k: Keyring): void }, next: Keyring, log: Logger): Actions {
  const old = sender.keys[0]!;
  sender.setKeys(next);
  log.info({ keys: next.map((k) => k.label), signing: next[0]!.label }, 'cluster keyring reloaded');
  return next[0]!.label !== old.label || !next[0]!.key.equals(old.key) ? { send: [{ kind: 'announce' }] } : NOTHING;
}

/** New unicast seeds (SIGHUP): they mean routed peers, which cannot use link-local (the family choice checks). */
export function reloadSeeds(seeds: Seeds, next: Endpoint[], log: Logger): Actions {
  seeds.set(next);
  log.info({ peers: next.map((s) => `${s.address}:${s.port}`) }, 'unicast seeds reloaded');
  return { family: true };
}

export function resolvePeer(peers: PeerTable, query: string, force: boolean, nowMono: number): Peer {
  const q = query.trim().toLowerCase();
  const ip = parseIpv4(q);
  let matches: Peer[];
  if (ip !== undefined) matches = peers.holders(ip);
  else if (/^[0-9a-f]{4,32}$/.test(q)) matches = peers.all().filter((p) => p.id.startsWith(q));
  else throw new EdgeError('E_CONTROL',
    `"${query}" is neither a node id (or a prefix of at least 4 hex digits) nor an overlay IP`);
  if (matches.length === 0) throw new EdgeError('E_CONTROL', `no peer matches "${query}" (see edge-overlay peers)`);
  if (matches.length > 1) {
    const ids = matches.map((p) => p.id.slice(0, 12)).join(', ');
    throw new EdgeError('E_CONTROL', `"${query}" matches ${matches.length} peers (${ids}); give more of the node id`);
  }
  const p = matches[0]!;
  if (!force && peers.state(p, nowMono) === 'alive') {
    const ago = p.lastSeenMono === undefined ? '?' : `${((nowMono - p.lastSeenMono) / 1000).toFixed(1)}s`;
    throw new EdgeError('E_CONTROL', `node ${p.id} (${formatIpv4(p.overlayIp)}) is alive (last seen ${ago} ago); `
      + 'forgetting it makes it give up its address. Use --force if that is what you want');
  }
  return p;
}
