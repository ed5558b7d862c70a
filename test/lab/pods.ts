// Lab (second interfaces). Contract: a "pod" on a host — an extra namespace
// (with the lab's prefix) joined to the host namespace by a veth, with its
// own address and a default route through the host, as a container or a
// local bridge would be. What it sends to the host arrives on an interface
// that is not the physical NIC. The lab deletes it with its namespaces.

import { sh } from './shell.js';
import type { Host, LabBase } from './types.js';

export interface Pod {
  /** namespace of the pod */
  ns: string;
  /** the host it hangs off */
  host: Host;
  /** the pod's address, and the host side's (both on 10.199.N.0/24) */
  ip: string;
  hostIp: string;
  /** the veth end in the host namespace */
  hostIface: string;
}

export function addPod(lab: LabBase, h: Host, n: number): Pod {
  const ns = `${lab.prefix}-${h.name}pod${n}`;
  const hostIface = `pod${n}`;
  const [hostIp, ip] = [`10.199.${n}.1`, `10.199.${n}.2`];
  lab.addNamespace(ns);
  sh('ip', ['link', 'add', hostIface, 'netns', h.ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  sh('ip', ['-n', h.ns, 'addr', 'add', `${hostIp}/24`, 'dev', hostIface]);
  sh('ip', ['-n', h.ns, 'link', 'set', hostIface, 'up']);
  sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  sh('ip', ['-n', ns, 'route', 'add', 'default', 'via', hostIp]);
  return { ns, host: h, ip, hostIp, hostIface };
}
