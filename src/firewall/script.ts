// Layer: firewall (pure). Contract: the nftables script of our table
// "inet edge_overlay" for a FilterSpec — the whole table, declared
// idempotently, or just its sets — and the shape a whole table has. The
// rules' order is the policy: read tableScript() top to bottom.

import { formatCidr, formatIpv4, type Ipv4 } from '../net/ipv4.js';
import type { FilterSpec } from './types.js';

export const NFT_TABLE = 'edge_overlay';
/** UDP discovery: from strangers (not our LAN, a seed or a peer: a routed host meeting us), per source, and in all */
const DISCOVERY_STRANGERS = 'limit rate over 50/second burst 100 packets';
const DISCOVERY_PER_SOURCE = 'limit rate over 100/second burst 200 packets';
/**
 * UDP discovery from a peer's address, per address: far above what a host
 * sends, so a forger using that address (packets that fail authentication)
 * cannot make the kernel drop the peer's own packets; it only bounds what
 * such a flood costs the agent, which verifies them all (agent/trust/gate.ts).
 */
const DISCOVERY_PER_PEER = 'limit rate over 2000/second burst 2000 packets';
const DISCOVERY_TOTAL = 'limit rate over 5000/second burst 5000 packets';

export interface TableOptions {
  iface: string;
  vxlanPort: number;
  vni: number;
  discoveryPort: number;
}

const list = (xs: readonly string[]): string => (xs.length ? `{ ${xs.join(', ')} }` : '');

/** The senders' set: our LAN and the known hosts beyond it. */
function senders(spec: FilterSpec): string[] {
  return [
    ...(spec.lan ? [formatCidr(spec.lan)] : []), ...spec.senders.filter((ip) => !inLan(spec, ip)).map(formatIpv4),
  ];
}

function inLan(spec: FilterSpec, ip: Ipv4): boolean {
  if (!spec.lan) return false;
  const mask = spec.lan.prefix === 0 ? 0 : (~0 << (32 - spec.lan.prefix)) >>> 0;
  return ((ip & mask) >>> 0) === spec.lan.network;
}

/**
 * The whole table, declared idempotently in one transaction. It is created
 * if missing and flushed (not deleted) before the rules go in again: a
 * re-run replaces rules without removing the table, its sets or chains.
 */
export function tableScript(o: TableOptions, spec: FilterSpec): string {
  const t = `inet ${NFT_TABLE}`;
  const iif = JSON.stringify(o.iface);
  const lines = [
    // the table of releases before 0.2 (family ip): its peer set would go stale
    `table ip ${NFT_TABLE} {}`,
    `delete table ip ${NFT_TABLE}`,
    `table ${t} {}`,
    `flush table ${t}`,
    `table ${t} {`,
    '  set peers { type ipv4_addr; }',
    '  set peers6 { type ipv6_addr; }',
    '  set senders { type ipv4_addr; flags interval; }',
    '  set discovery_rate { type ipv4_addr; size 65535; flags dynamic,timeout; timeout 1m; }',
    '  set peer_rate { type ipv4_addr; size 4096; flags dynamic,timeout; timeout 1m; }',
    '  counter dropped {}',
    '  counter discovery_dropped {}',
    '  chain prerouting {',
    // before the guard (-305) and iptables' raw (-300)
    '    type filter hook prerouting priority raw - 10; policy accept;',
    // the VNI sits at bytes 4-6 of the VXLAN header, right after UDP's 8
    `    udp dport ${o.vxlanPort} @th,96,24 ${o.vni} fib daddr type { local, broadcast, multicast } jump vxlan`,
    `    udp dport ${o.discoveryPort} jump discovery`,
    '  }',
    '  chain vxlan {',
    `    iifname != ${iif} counter name dropped drop`,
    // peers send to our address, never to broadcast or multicast
    '    fib daddr type != local counter name dropped drop',
    `    ip saddr @peers meta mark set meta mark | ${VETTED} accept`, // vetted: the guard table lets it pass
    `    ip6 saddr @peers6 meta mark set meta mark | ${VETTED} accept`,
    '    counter name dropped drop',
    '  }',
    '  chain unmark {', // the vetted bit is ours alone: cleared before anyone else's rules run, guard or not
    '    type filter hook prerouting priority -304; policy accept;',
    `    udp dport ${o.vxlanPort} meta mark set meta mark & ${UNVETTED}`,
    '  }',
    '  chain discovery {',
    `    iifname != ${iif} counter name discovery_dropped drop`,
    `    ip saddr != @senders ${DISCOVERY_STRANGERS} counter name discovery_dropped drop`,
    // a peer's address has a budget of its own: strangers' floods do not touch it, nor it theirs
    `    ip saddr @peers update @peer_rate { ip saddr ${DISCOVERY_PER_PEER} } counter name discovery_dropped drop`,
    '    ip saddr @peers accept', // a flood from many made-up sources must not silence the peers
    `    update @discovery_rate { ip saddr ${DISCOVERY_PER_SOURCE} } counter name discovery_dropped drop`,
    `    ${DISCOVERY_TOTAL} counter name discovery_dropped drop`,
    '  }',
    '}',
  ];
  if (spec.peers.length) lines.push(`add element ${t} peers ${list(spec.peers.map(formatIpv4))}`);
  if (spec.peers6.length) lines.push(`add element ${t} peers6 ${list([...spec.peers6])}`);
  if (senders(spec).length) lines.push(`add element ${t} senders ${list(senders(spec))}`);
  return `${lines.join('\n')}\n`;
}

/** Replaces the sets in one transaction. */
export function setScript(spec: FilterSpec, which: { peers: boolean; peers6?: boolean; senders: boolean }): string {
  const t = `inet ${NFT_TABLE}`;
  const lines: string[] = [];
  if (which.peers) {
    lines.push(`flush set ${t} peers`,
      ...(spec.peers.length ? [`add element ${t} peers ${list(spec.peers.map(formatIpv4))}`] : []));
  }
  if (which.peers6) {
    lines.push(`flush set ${t} peers6`,
      ...(spec.peers6.length ? [`add element ${t} peers6 ${list([...spec.peers6])}`] : []));
  }
  if (which.senders) {
    lines.push(`flush set ${t} senders`,
      ...(senders(spec).length ? [`add element ${t} senders ${list(senders(spec))}`] : []));
  }
  return `${lines.join('\n')}\n`;
}

/** What tableScript() declares: a table with fewer is not whole. */
export const SHAPE = { chains: 4, rules: 14, sets: 5 };
/** the mark bit for the guard table (firewall/guard.ts: VETTED_MARK) */
const VETTED = '0x10000000';
const UNVETTED = '0xefffffff';

export const peersKey = (spec: FilterSpec): string => [...spec.peers].sort((a, b) => a - b).join(',');
export const peers6Key = (spec: FilterSpec): string => [...spec.peers6].sort().join(',');
export const sendersKey = (spec: FilterSpec): string => senders(spec).sort().join(',');

