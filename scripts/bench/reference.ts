// Benchmark: the hand-built reference overlay. The same topology as the
// agent's (bridge scbr-100, VXLAN VNI 100 on eth0, nolearning, MTU - 50,
// static flood/unicast FDB and permanent neighbour entries), made with
// iproute2 alone, and a repair script the DHCP client runs the instant a
// host's new address is set: on every other host, append the new flood
// destination, repoint the unicast entry, delete the old flood destination,
// drop the stale ARP entry — what an operator would script by hand.

import { Lab, type Host } from '../lab/lab.js';

export const refMac = (i: number): string => `02:ee:00:00:00:${i.toString(16).padStart(2, '0')}`;
export const refIp = (i: number): string => `100.64.192.${10 + i}`;
const num = (h: Host): number => Number(h.name.slice(1));

/** The repair hook of host `h` (see LabOptions.dhcpHook). */
export function repairHook(lab: Lab, h: Host): string {
  const lines = ['#!/bin/sh', '# reference repair: run by the DHCP client as "HOOK OLD NEW"', 'OLD=$1; NEW=$2'];
  for (const o of lab.hosts) {
    if (o === h) continue;
    lines.push(`printf 'fdb append 00:00:00:00:00:00 dev scvx-100 dst %s\\nfdb replace ${refMac(num(h))} dev scvx-100 dst %s\\nfdb del 00:00:00:00:00:00 dev scvx-100 dst %s\\n' "$NEW" "$NEW" "$OLD" | bridge -n ${o.ns} -batch - 2>/dev/null`);
    lines.push(`ip -n ${o.ns} neigh del "$OLD" dev eth0 2>/dev/null`);
  }
  lines.push('exit 0');
  return `${lines.join('\n')}\n`;
}

/** Builds the reference overlay on every host of the lab; returns the overlay IPs. */
export function buildReference(lab: Lab): string[] {
  for (const h of lab.hosts) {
    const i = num(h);
    const cmds = [
      'link add scbr-100 type bridge',
      `link set scbr-100 address ${refMac(i)} mtu 1450 up`,
      'link add scvx-100 type vxlan id 100 dstport 4789 dev eth0 nolearning',
      'link set scvx-100 master scbr-100 mtu 1450 up',
      `addr add ${refIp(i)}/24 dev scbr-100`,
    ];
    for (const o of lab.hosts) {
      if (o === h) continue;
      cmds.push(`neigh replace ${refIp(num(o))} lladdr ${refMac(num(o))} dev scbr-100 nud permanent`);
    }
    lab.exec(h, ['ip', '-batch', '-'], false, cmds.join('\n'));
    const fdb = lab.hosts.filter((o) => o !== h).flatMap((o) => [
      `fdb append 00:00:00:00:00:00 dev scvx-100 dst ${o.ip}`, `fdb replace ${refMac(num(o))} dev scvx-100 dst ${o.ip}`,
    ]);
    lab.exec(h, ['bridge', '-batch', '-'], false, fdb.join('\n'));
  }
  return lab.hosts.map((h) => refIp(num(h)));
}
