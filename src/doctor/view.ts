// Layer: doctor (the running agent's view). Contract: checks answered from
// what the agent reports — its discovery channels and its VXLAN ingress
// filter; without an agent they pass and say so.

import type { ChannelReport } from '../agent/records/status.js';
import type { Check } from './types.js';

/** silent this long while the other channel hears peers: deaf (3 announce periods) */
const DEAF_MS = 15_000;

/**
 * Each discovery channel works: not down, and not deaf while the other one hears peers (a socket lost on a link
 * flap).
 */
export const discovery: Check = async (env) => {
  const d = env.status?.discovery;
  if (!d) return { id: 'discovery', ok: true, detail: 'no agent answers: its discovery channels were not checked' };
  const hears = (c: ChannelReport): boolean => c.lastPeerPacketMs !== null && c.lastPeerPacketMs < DEAF_MS;
  const bad: string[] = [];
  for (const [name, other] of [['udp', 'raw'], ['raw', 'udp']] as const) {
    const c = d[name];
    if (c.state === 'down') bad.push(`${name} is down (${c.error ?? 'no reason given'})`);
    else if (c.state === 'up' && c.lastPeerPacketMs !== null && !hears(c) && hears(d[other])) {
      bad.push(`${name} heard peers before but nothing for ${Math.round(c.lastPeerPacketMs / 1000)} s, `
        + `while ${other} still does`);
    }
  }
  const up = (['udp', 'raw'] as const).filter((n) => d[n].state === 'up');
  return bad.length === 0
    ? { id: 'discovery', ok: true, detail: `channels up: ${up.join(', ') || 'none'}` }
    : {
      id: 'discovery', ok: false, detail: bad.join('; '),
      advice: 'check the NIC and cable (ip link), the firewall for UDP 9477; see the agent log',
    };
};

/**
 * The ingress filter is in force: failing, the overlay is held down; off by configuration, anyone on the LAN can send
 * into it.
 */
export const filter: Check = async (env) => {
  const f = env.status?.filter;
  if (!f) return { id: 'filter', ok: true, detail: 'no agent answers: its ingress filter was not checked' };
  if (f.mode === 'filtered') {
    return { id: 'filter', ok: true, detail: `VXLAN ingress filter in force (${f.allowed} peer(s) may send)` };
  }
  if (f.mode === 'disabled') {
    return {
      id: 'filter', ok: false,
      detail: 'the VXLAN ingress filter is OFF (filter: off): anyone on the LAN can send into the overlay',
      advice: 'set "filter: on" in the config file (the default) and reload',
    };
  }
  return {
    id: 'filter', ok: false,
    detail: `the VXLAN ingress filter is NOT in force (${f.error ?? 'unknown reason'}): the overlay is held down`,
    advice: 'install nftables (apt-get install nftables) and check `nft list ruleset` works; see the agent log',
  };
};
