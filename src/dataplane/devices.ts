// Layer: dataplane (devices). Contract: ensureBridge / ensureVxlan /
// ensureOverlayAddress state a desired result and are safe to repeat. A
// *Mismatch function says why an existing device cannot be used; only then is
// it recreated (the kernel fixes a VXLAN device's address family at
// creation). MTU, up, master, MAC and the local address within its family
// are changed in place, so a restarted agent adopts what it finds without a
// flap.

import { EdgeError } from '../errors.js';
import { formatIpv4, sameSubnet, type Ipv4 } from '../net/ipv4.js';
import type { Ipv6 } from '../net/ipv6.js';
import type { Addr, Kernel, Link, LinkChange } from '../kernel/types.js';

/** VXLAN encapsulation overhead on IPv4: outer IP 20 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const VXLAN_OVERHEAD = 50;
/** On IPv6 the outer header is 40 bytes: 70 in all. */
export const VXLAN_OVERHEAD_V6 = 70;

export interface BridgeSpec {
  name: string;
  mtu: number;
  mac: string;
}

export interface VxlanDeviceSpec {
  name: string;
  vni: number;
  port: number;
  /** underlay (physical) device index */
  link: number;
  mtu: number;
  master: number;
  /** false: held down (fail closed: the ingress filter is not in force); default up */
  up?: boolean;
  /** VXLAN over IPv6 from this (link-local) address; undefined: over IPv4, source chosen per packet */
  local6?: Ipv6 | undefined;
}

export interface EnsureResult {
  index: number;
  /** human-readable changes applied ("created", "mtu 1500 -> 1450"), empty if none */
  changes: string[];
}

export function bridgeMismatch(link: Link): string | undefined {
  if (link.kind !== 'bridge') return `${link.name} is a ${link.kind ?? 'plain'} device, not a bridge`;
  return undefined;
}

export function vxlanMismatch(link: Link, spec: VxlanDeviceSpec): string | undefined {
  const v = link.vxlan;
  if (link.kind !== 'vxlan' || !v) return `${link.name} is a ${link.kind ?? 'plain'} device, not a vxlan device`;
  if (v.vni !== spec.vni) return `${link.name} has VNI ${v.vni}, want ${spec.vni}`;
  if (v.port !== spec.port) return `${link.name} uses UDP port ${v.port}, want ${spec.port}`;
  if (v.learning) return `${link.name} has learning on, want nolearning`;
  if (v.link !== spec.link) return `${link.name} is bound to ifindex ${v.link ?? 'none'}, want ${spec.link}`;
  if (spec.local6 !== undefined && v.local6 === undefined) {
    return `${link.name} carries VXLAN over IPv4, want IPv6 link-local`;
  }
  if (spec.local6 === undefined && v.local6 !== undefined) return `${link.name} carries VXLAN over IPv6, want IPv4`;
  return undefined;
}

function linkChanges(link: Link, want: LinkChange): { change: LinkChange; notes: string[] } {
  const change: LinkChange = {};
  const notes: string[] = [];
  if (want.mtu !== undefined && link.mtu !== want.mtu) {
    change.mtu = want.mtu;
    notes.push(`mtu ${link.mtu} -> ${want.mtu}`);
  }
  if (want.mac !== undefined && link.mac !== want.mac) {
    change.mac = want.mac;
    notes.push(`mac ${link.mac} -> ${want.mac}`);
  }
  if (want.master !== undefined && link.master !== want.master) {
    change.master = want.master;
    notes.push(`master ${link.master ?? 'none'} -> ${want.master}`);
  }
  if (want.up === true && !link.up) {
    change.up = true;
    notes.push('set up');
  } else if (want.up === false && link.up) {
    change.up = false;
    notes.push('set down');
  }
  return { change, notes };
}

async function adjust(k: Kernel, link: Link, want: LinkChange, changes: string[]): Promise<void> {
  const { change, notes } = linkChanges(link, want);
  if (notes.length === 0) return;
  // MTU, MAC and master before "up": a port comes up already enslaved and sized.
  const { up, ...rest } = change;
  if (up === false) await k.setLink(link.index, { up: false }); // down first: nothing passes while it changes
  if (Object.keys(rest).length > 0) await k.setLink(link.index, rest);
  if (up === true) await k.setLink(link.index, { up: true });
  changes.push(...notes);
}

export async function ensureBridge(k: Kernel, spec: BridgeSpec): Promise<EnsureResult> {
  const changes: string[] = [];
  let link = await k.linkByName(spec.name);
  if (link) {
    const why = bridgeMismatch(link);
    if (why) {
      await k.deleteLink(link.index);
      changes.push(`recreated: ${why}`);
      link = undefined;
    }
  }
  if (!link) {
    await k.createBridge(spec.name, spec.mtu, spec.mac);
    await k.setPromoteSecondaries(spec.name);
    if (changes.length === 0) changes.push('created');
    link = await k.linkByName(spec.name);
    if (!link) throw new EdgeError('E_KERNEL', `bridge ${spec.name} vanished right after creation`);
  }
  await adjust(k, link, { mtu: spec.mtu, mac: spec.mac, up: true }, changes);
  return { index: link.index, changes };
}

export async function ensureVxlan(k: Kernel, spec: VxlanDeviceSpec): Promise<EnsureResult> {
  const changes: string[] = [];
  let link = await k.linkByName(spec.name);
  if (link) {
    const why = vxlanMismatch(link, spec);
    if (why) {
      await k.deleteLink(link.index);
      changes.push(`recreated: ${why}`);
      link = undefined;
    }
  }
  if (!link) {
    await k.createVxlan(spec.name, {
      vni: spec.vni, port: spec.port, link: spec.link, mtu: spec.mtu,
      ...(spec.local6 !== undefined ? { local6: spec.local6 } : {}),
    });
    if (changes.length === 0) changes.push('created');
    link = await k.linkByName(spec.name);
    if (!link) throw new EdgeError('E_KERNEL', `vxlan device ${spec.name} vanished right after creation`);
  }
  if (spec.local6 === undefined && link.vxlan?.local !== undefined) {
    // A fixed source address breaks when DHCP renumbers the host; the kernel
    // lets us clear it in place, so the route lookup picks the current one.
    await k.setVxlanLocal(link.index, undefined);
    changes.push(`cleared fixed local ${formatIpv4(link.vxlan.local)}`);
  }
  if (spec.local6 !== undefined && link.vxlan?.local6 !== spec.local6) {
    // our link-local address changed (a new NIC, addr_gen_mode random): same family, in place
    await k.setVxlanLocal(link.index, spec.local6);
    changes.push(`local ${link.vxlan?.local6 ?? 'none'} -> ${spec.local6}`);
  }
  await adjust(k, link, { mtu: spec.mtu, master: spec.master, up: spec.up ?? true }, changes);
  return { index: link.index, changes };
}


/**
 * Makes `address/prefix` the primary address of its subnet on the bridge.
 * `owned(ip)` says which other addresses in the subnet are ours to remove
 * (a previous overlay IP); foreign ones (a VIP added by kube-vip) are kept,
 * and if one of them had become primary it is removed and added back after
 * ours, so it ends up secondary — also when something fails midway.
 * promote_secondaries is (re)set right before a primary is removed, so the
 * kernel promotes a secondary instead of dropping every address of the
 * subnet, even on a bridge someone else created.
 */
export async function ensurePrimaryAddress(
  k: Kernel, bridge: { index: number; name: string }, address: Ipv4, prefix: number, owned: (ip: Ipv4) => boolean,
  /** receives the bridge's last address dump (all of them): current when nothing changed */
  seen?: (all: Addr[]) => void,
): Promise<string[]> {
  const { index } = bridge;
  const changes: string[] = [];
  const readd: { address: Ipv4; prefix: number }[] = [];
  try {
    for (let round = 0; round < 8; round++) {
      // The kernel ranks primary/secondary among addresses with the same prefix
      // length in the same subnet (a /32 VIP never competes with our /24).
      const all = await k.addrs(index);
      seen?.(all);
      const addrs = all.filter((a) => a.prefix === prefix && sameSubnet(a.address, address, prefix));
      const ours = addrs.find((a) => a.address === address && a.prefix === prefix);
      if (!ours) {
        await k.addAddr(index, address, prefix);
        changes.push(`added ${formatIpv4(address)}/${prefix}`);
        continue;
      }
      const primaries = addrs.filter((a) => !a.secondary && a.address !== address);
      if (!ours.secondary || primaries.length === 0) {
        for (const a of addrs) {
          if (a.address !== address && owned(a.address)) {
            await k.delAddr(index, a.address, a.prefix);
            changes.push(`removed old ${formatIpv4(a.address)}/${a.prefix}`);
          }
        }
        return changes;
      }
      await k.setPromoteSecondaries(bridge.name);
      for (const p of primaries) {
        await k.delAddr(index, p.address, p.prefix);
        if (!owned(p.address)) readd.push({ address: p.address, prefix: p.prefix });
        changes.push(`demoted ${formatIpv4(p.address)}/${p.prefix}`);
      }
    }
    throw new EdgeError('E_KERNEL', `could not make ${formatIpv4(address)}/${prefix} the primary address`);
  } finally {
    for (const a of readd) {
      try {
        await k.addAddr(index, a.address, a.prefix);
        changes.push(`re-added ${formatIpv4(a.address)}/${a.prefix} as secondary`);
      } catch {
        // the next reconcile cannot know it: log through the returned changes
        changes.push(`FAILED to re-add ${formatIpv4(a.address)}/${a.prefix}`);
      }
    }
  }
}

export interface OverlayAddressResult {
  /** what changed ("added …", "removed old …"), empty if nothing did */
  changes: string[];
  /** addresses removed because no address is wanted */
  removed: Ipv4[];
  /** the bridge's addresses as they are now */
  addrs: Addr[];
}

/**
 * Our overlay address on the bridge: `address` as the primary of its subnet,
 * or, when undefined, none of ours (`owned`) left at `prefix`.
 */
export async function ensureOverlayAddress(
  k: Kernel, bridge: { index: number; name: string }, address: Ipv4 | undefined, prefix: number,
  owned: (ip: Ipv4) => boolean,
): Promise<OverlayAddressResult> {
  if (address !== undefined) {
    let seen: Addr[] = [];
    const changes = await ensurePrimaryAddress(k, bridge, address, prefix, owned, (all) => { seen = all; });
    return { changes, removed: [], addrs: changes.length > 0 ? await k.addrs(bridge.index) : seen };
  }
  const addrs = await k.addrs(bridge.index);
  const removed: Ipv4[] = [];
  for (const a of addrs) {
    if (a.prefix === prefix && owned(a.address)) {
      await k.delAddr(bridge.index, a.address, a.prefix);
      removed.push(a.address);
    }
  }
  return {
    changes: removed.map((ip) => `removed ${formatIpv4(ip)}/${prefix}`), removed,
    addrs: addrs.filter((a) => !removed.includes(a.address)),
  };
}
