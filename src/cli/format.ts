// Layer: CLI presentation (pure). Contract: turns a StatusReport into the
// aligned text a person reads at a glance (`status`, `peers`).

import type { ChannelReport, PeerReport, StatusReport } from '../agent/records/status.js';

export function ago(ms: number): string {
  if (ms < 1000) return `${ms}ms ago`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m${Math.floor(s % 60)}s ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m ago`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h ago`;
}

export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, c.length); });
  return rows
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd())
    .join('\n');
}

function peerRows(s: StatusReport, peers: PeerReport[]): string[][] {
  const rows = [['OVERLAY IP', 'UNDERLAY IP', 'LINK-LOCAL', 'STATE', 'LAST SEEN', 'NODE']];
  const self: [string, string[]] = [
    s.node.overlayIp ?? '-',
    [
      s.node.overlayIp ?? '(none yet)', s.node.underlayIp ?? '(none)', s.underlay.linkLocal ?? '-', 'self', '-',
      s.node.id.slice(0, 12),
    ],
  ];
  const ll = (p: PeerReport): string => p.linkLocal ?? (p.linkLocalCapable === null ? '(old release)' : '-');
  const all: [string, string[]][] = [
    self,
    ...peers.map((p): [string, string[]] => [p.overlayIp, [
      p.overlayIp, p.underlayIp === '0.0.0.0' ? '(none)' : p.underlayIp, ll(p), p.state, ago(p.lastSeenMs),
      p.id.slice(0, 12),
    ]]),
  ];
  const key = (ip: string): number => ip.split('.').reduce((a, o) => a * 256 + (Number(o) || 0), 0);
  all.sort((a, b) => key(a[0]) - key(b[0]));
  return [...rows, ...all.map(([, r]) => r)];
}

function channel(name: string, c: ChannelReport): string {
  const state = c.state === 'up' ? 'up' : c.state === 'off' ? 'off' : 'DOWN';
  const last = c.lastPeerPacketMs === null
    ? (c.state === 'off' ? '' : ', no peer packet yet')
    : `, last peer packet ${ago(c.lastPeerPacketMs)}`;
  return `${name} ${state}${c.state !== 'up' && c.error ? ` (${c.error})` : ''}${last}`;
}

function underlay(s: StatusReport): string {
  const u = s.underlay;
  const name = u.family === 'link-local' ? 'IPv6 link-local' : 'IPv4';
  const pending = u.device !== null && u.device !== u.family
    ? ` (the VXLAN device still carries ${u.device === 'link-local' ? 'IPv6 link-local' : 'IPv4'})`
    : '';
  return `${name}${pending}: ${u.why}${u.setting === 'auto' ? '' : ` [underlay: ${u.setting}]`}`;
}

export function formatStatus(s: StatusReport): string {
  const stale = s.peers.filter((p) => p.state === 'stale').length;
  const f = s.filter;
  const filter = f.mode === 'filtered'
    ? `filtered (${f.allowed} peer${f.allowed === 1 ? '' : 's'} may send VXLAN, `
      + `${f.droppedPackets} packet${f.droppedPackets === 1 ? '' : 's'} dropped)`
    : f.mode === 'disabled' ? 'OFF (filter: off): anyone on the LAN can send into the overlay'
      : `FAILED${f.error ? ` (${f.error})` : ''}: the overlay is held down until it works`;
  const lines = [
    `cluster ${s.cluster.name}  overlay ${s.cluster.cidr}  `
      + `VIP ${s.cluster.vip}${s.node.holdsVip ? ' (held by this host)' : ''}  VNI ${s.cluster.vni}`,
    `this host ${s.node.overlayIp ?? '(no overlay address yet)'} `
      + `(${s.node.addressState}${s.node.pinned ? ', pinned' : ''})`
      + ` via ${s.node.interface}${s.node.carrier ? '' : ' (NO CARRIER)'} ${s.node.underlayIp ?? '(no address)'}`
      + `  bridge ${s.node.bridge} mtu ${s.node.mtu ?? '?'}  dataplane ${s.dataplane.ready ? 'ready' : 'NOT READY'}`,
    `underlay ${underlay(s)}`,
    `peers ${s.peers.length - stale} alive, ${stale} stale  ingress filter ${filter}`,
    `discovery ${channel('udp', s.discovery.udp)}; ${channel('raw', s.discovery.raw)}`,
  ];
  if (s.dataplane.lastError) lines.push(`last error: ${s.dataplane.lastError}`);
  if (s.agent.persistError) lines.push(`state file error: ${s.agent.persistError}`);
  for (const c of s.security.foreignClusters.filter((x) => x.overlapping)) {
    lines.push(`WARNING: cluster "${c.name}" on this LAN (${c.from}) uses ${c.cidr}, which overlaps ${s.cluster.cidr}`);
  }
  const dup = s.counters.duplicateNodeId;
  if (dup > 0) lines.push(`WARNING: another host uses this node id (${dup} packets): cloned disk or state directory?`);
  if (s.security.unconfirmedClaims > 0) {
    lines.push(`note: ${s.security.unconfirmedClaims} claim(s) on our address were not confirmed when challenged `
      + '(replays?)');
  }
  return `${lines.join('\n')}\n\n${table(peerRows(s, s.peers))}\n`;
}

export function formatPeers(s: StatusReport): string {
  return `${table(peerRows(s, s.peers))}\n`;
}
