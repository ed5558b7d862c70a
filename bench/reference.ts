// Benchmark: the hand-built reference overlay. The same topology as the
// agent's (bridge scbr-100, VXLAN VNI 100 on eth0, nolearning, MTU - 50,
// static flood/unicast FDB and permanent neighbour entries), made with
// iproute2 alone, and a repair script the DHCP client runs the instant a
// host's new address is set: on every other host, append the new flood
// destination, repoint the unicast entry, delete the old flood destination,
// drop the stale ARP entry — what an operator would script by hand.

import { Lab, type Host, type LabBase } from '../test/lab/lab.js';

export const refMac = (i: number): string => `02:ee:00:00:00:${i.toString(16).padStart(2, '0')}`;
export const refIp = (i: number): string => `100.64.192.${10 + i}`;
const num = (h: Host): number => Number(h.name.slice(1));

/** The repair hook of host `h` (see LabOptions.dhcpHook). */
export function repairHook(lab: LabBase, h: Host): string {
  const lines = ['#!/bin/sh', '# reference repair: run by the DHCP client as "HOOK OLD NEW"', 'OLD=$1; NEW=$2'];
  for (const o of lab.hosts) {
    if (o === h) continue;
    lines.push(`printf 'fdb append 00:00:00:00:00:00 dev scvx-100 dst %s\\nfdb replace ${refMac(num(h))} dev scvx-100 `
      + `dst %s\\nfdb del 00:00:00:00:00:00 dev scvx-100 dst %s\\n' "$NEW" "$NEW" "$OLD" | bridge -n ${o.ns} `
      + `-batch - 2>/dev/null`);
    lines.push(`ip -n ${o.ns} neigh del "$OLD" dev eth0 2>/dev/null`);
  }
  lines.push('exit 0');
  return `${lines.join('\n')}\n`;
}

/** What buildReference builds; every field defaults to the reference overlay itself. */
export interface ReferenceOptions {
  /** bridge and VXLAN device names (default scbr-100, scvx-100) */
  bridge?: string;
  vxlan?: string;
  /** VNI (default 100) */
  vni?: number;
  /** MTU of the bridge and the VXLAN device (default 1450) */
  mtu?: number;
  /** extra flags for `ip link add ... type vxlan` (e.g. noudpcsum; default none) */
  flags?: string[];
  /** bridge MAC and overlay IP (/24) of host number n (default refMac, refIp) */
  mac?: (n: number) => string;
  ip?: (n: number) => string;
}

/**
 * Builds the reference overlay (or a variant of it, see
 * ReferenceOptions) on every host of the lab; returns the overlay IPs.
 */
export function buildReference(lab: Lab, o: ReferenceOptions = {}): string[] {
  const { bridge = 'scbr-100', vxlan = 'scvx-100', vni = 100, mtu = 1450, flags = [], mac = refMac, ip = refIp } = o;
  for (const h of lab.hosts) {
    const i = num(h);
    const others = lab.hosts.filter((x) => x !== h);
    const cmds = [
      `link add ${bridge} type bridge`,
      `link set ${bridge} address ${mac(i)} mtu ${mtu} up`,
      `link add ${vxlan} type vxlan id ${vni} dstport 4789 dev eth0 ${['nolearning', ...flags].join(' ')}`,
      `link set ${vxlan} master ${bridge} mtu ${mtu} up`,
      `addr add ${ip(i)}/24 dev ${bridge}`,
      ...others.map((x) => `neigh replace ${ip(num(x))} lladdr ${mac(num(x))} dev ${bridge} nud permanent`),
    ];
    lab.exec(h, ['ip', '-batch', '-'], false, cmds.join('\n'));
    const fdb = others.flatMap((x) => [
      `fdb append 00:00:00:00:00:00 dev ${vxlan} dst ${x.ip}`, `fdb replace ${mac(num(x))} dev ${vxlan} dst ${x.ip}`,
    ]);
    lab.exec(h, ['bridge', '-batch', '-'], false, fdb.join('\n'));
  }
  return lab.hosts.map((h) => ip(num(h)));
}
