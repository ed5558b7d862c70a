// Lab (the physical network as it really is). Contract: what happens to an
// edge host's hardware — a cable pulled and put back (link down/up), a NIC
// re-plugged (deleted and re-created under the same name and MAC on the same
// switch port: a new ifindex), the MTU of NICs and switch ports, a firewall
// that lets only raw L2 discovery through, a power cut and a boot. Each acts
// only inside the lab's namespaces and ends only processes the lab started.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { endProcess, sh, sleep } from './shell.js';
import { startClient } from './dhcp.js';
import type { Host, LabBase } from './types.js';

export const DISCOVERY_PORT = 9477;

/** Name of the nftables table (in the host namespace) that blocks UDP discovery. */
export const blockTable = (lab: LabBase): string => `${lab.prefix}_block_discovery`;

/**
 * Plugs a host's NIC in: a veth `eth0` (the host's MAC) whose other
 * end is the host's port on its segment's switch bridge.
 */
export function plugNic(lab: LabBase, h: Host): void {
  const bridge = `br${lab.segmentOf(h)}`;
  sh('ip', ['link', 'add', h.port, 'netns', lab.sw, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns,
    'address', h.mac]);
  if (h.mtu !== 1500) {
    sh('ip', ['-n', lab.sw, 'link', 'set', h.port, 'mtu', String(h.mtu)]);
    sh('ip', ['-n', h.ns, 'link', 'set', 'eth0', 'mtu', String(h.mtu)]);
  }
  sh('ip', ['-n', lab.sw, 'link', 'set', h.port, 'master', bridge, 'up']);
  sh('ip', ['-n', h.ns, 'link', 'set', 'eth0', 'up']);
}

/**
 * IPv6 on the host's NIC (net.ipv6.conf.eth0.disable_ipv6): off drops
 * its link-local address, on brings it back (after DAD).
 */
export function setIpv6(h: Host, on: boolean): void {
  sh('ip', ['netns', 'exec', h.ns, 'sysctl', '-qw', `net.ipv6.conf.eth0.disable_ipv6=${on ? 0 : 1}`]);
}

/** The NIC's IPv6 link-local address (undefined: none, e.g. IPv6 off). */
export function linkLocalOf(h: Host): string | undefined {
  const out = sh('ip', ['-n', h.ns, '-6', '-j', 'addr', 'show', 'dev', 'eth0', 'scope', 'link']);
  const info = (JSON.parse(out || '[]') as { addr_info?: { local?: string }[] }[])[0]?.addr_info ?? [];
  return info.find((a) => a.local?.startsWith('fe80:'))?.local;
}

export function linkDown(h: Host): void {
  sh('ip', ['-n', h.ns, 'link', 'set', 'eth0', 'down']);
}

export function linkUp(h: Host): void {
  sh('ip', ['-n', h.ns, 'link', 'set', 'eth0', 'up']);
}

/**
 * The NIC pulled out and plugged back in: eth0 is deleted (both ends of the
 * veth go), its DHCP client ends (nothing left to release on), `awayMs`
 * later a new eth0 with the same name and MAC appears on the same switch
 * port (a new ifindex), comes up, and its DHCP client starts as on a hotplug
 * event. Resolves when the client is started (not when it has an address).
 */
export async function replug(lab: LabBase, h: Host, awayMs: number): Promise<void> {
  sh('ip', ['-n', h.ns, 'link', 'del', 'eth0']);
  const p = h.dhclient;
  h.dhclient = undefined;
  await endProcess(p, 'SIGKILL');
  await sleep(awayMs);
  plugNic(lab, h);
  startClient(lab, h);
}

/** Sets the MTU of each host's eth0 and switch port, and of the switch bridges (the largest MTU of their ports). */
export function setMtu(lab: LabBase, hs: Host[], mtu: number): void {
  for (const h of hs) {
    h.mtu = mtu;
    sh('ip', ['-n', lab.sw, 'link', 'set', h.port, 'mtu', String(mtu)]);
    sh('ip', ['-n', h.ns, 'link', 'set', 'eth0', 'mtu', String(mtu)]);
  }
  const segments = new Set(lab.hosts.map((h) => lab.segmentOf(h)));
  for (const k of segments) {
    const max = Math.max(...lab.hosts.filter((h) => lab.segmentOf(h) === k).map((h) => h.mtu));
    sh('ip', ['-n', lab.sw, 'link', 'set', `br${k}`, 'mtu', String(max)]);
  }
}

/** Drops UDP discovery (port `port`, either direction) to and from a host: only raw L2 frames can carry news. */
export function blockUdpDiscovery(lab: LabBase, h: Host, port = DISCOVERY_PORT): void {
  const rules = `udp dport ${port} counter drop; udp sport ${port} counter drop;`;
  sh('ip', ['netns', 'exec', h.ns, 'nft', '-f', '-'], {
    input: `table inet ${blockTable(lab)} {\n`
      + `  chain in { type filter hook input priority -10; ${rules} }\n`
      + `  chain out { type filter hook output priority -10; ${rules} }\n}\n`,
  });
}

/** How many UDP discovery packets the block has dropped on a host (0 when it is not blocked). */
export function udpDiscoveryDropped(lab: LabBase, h: Host): number {
  const out = sh('ip', ['netns', 'exec', h.ns, 'nft', 'list', 'table', 'inet', blockTable(lab)], { allowFail: true });
  return [...out.matchAll(/counter packets (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}

export function unblockUdpDiscovery(lab: LabBase, h: Host): void {
  sh('ip', ['netns', 'exec', h.ns, 'nft', 'delete', 'table', 'inet', blockTable(lab)], { allowFail: true });
}

/**
 * A power cut: every process the lab started in the host dies (SIGKILL),
 * and the kernel state goes as it would — every device but lo and eth0 (the
 * overlay bridge and VXLAN device), eth0's addresses, neighbours and routes,
 * the nftables rules; eth0 is down, /run (the agent's run dir) is empty. The
 * disk stays: the agent's state dir and the DHCP client's lease file.
 */
export async function powerOff(lab: LabBase, h: Host): Promise<void> {
  await Promise.all(lab.processesIn(h.ns).map((p) => endProcess(p, 'SIGKILL')));
  h.agent = undefined;
  h.dhclient = undefined;
  const links = sh('ip', ['-n', h.ns, '-o', 'link', 'show']).split('\n')
    .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined && n !== 'lo' && n !== 'eth0');
  // a VXLAN device may go with its bridge
  for (const name of links) sh('ip', ['-n', h.ns, 'link', 'del', name], { allowFail: true });
  linkDown(h);
  sh('ip', ['-n', h.ns, 'addr', 'flush', 'dev', 'eth0']);
  sh('ip', ['-n', h.ns, 'neigh', 'flush', 'dev', 'eth0', 'nud', 'all'], { allowFail: true });
  sh('ip', ['-n', h.ns, 'route', 'flush', 'dev', 'eth0'], { allowFail: true });
  sh('ip', ['netns', 'exec', h.ns, 'nft', 'flush', 'ruleset']);
  rmSync(lab.runDir(h), { recursive: true, force: true });
  rmSync(join(h.dir, 'dhclient.pid'), { force: true });
}

/**
 * A boot: eth0 comes up, the DHCP client starts (without waiting for an
 * address: the DHCP server may be down), and the agent starts, as a unit
 * ordered after the network is up, not after DHCP.
 */
export function boot(lab: LabBase, h: Host, agentArgs: string[] = []): void {
  linkUp(h);
  startClient(lab, h);
  lab.startAgent(h, agentArgs);
}

/**
 * A host taken away for good (decommissioned): powered off, its NIC unplugged
 * (the veth and its switch port deleted) and its disk wiped (state dir). Its
 * namespace stays, empty, until the lab is destroyed.
 */
export async function decommission(lab: LabBase, h: Host): Promise<void> {
  await powerOff(lab, h);
  sh('ip', ['-n', h.ns, 'link', 'del', 'eth0'], { allowFail: true });
  rmSync(join(h.dir, 'state'), { recursive: true, force: true });
}
