// Layer: kernel (real). Contract: implements the Kernel seam with rtnetlink
// requests, one primitive per method, no policy. Only main constructs it.

import { access, readFile, writeFile } from 'node:fs/promises';
import { broadcastOf, formatIpv4, ipv4ToBytes, macBytes, type Ipv4 } from '../../net/ipv4.js';
import { formatIp, isIpv6, type IpAddr } from '../../net/ipv6.js';
import { errnoName, KernelError } from '../../errors.js';
import type { Clock } from '../../clock.js';
import type {
  Addr, Addr6, DefaultRoute, FdbEntry, HostRoute, Kernel, KernelEvent, Link, LinkChange, Neigh, VxlanSpec,
} from '../types.js';
import { EventSocket, RequestSocket, nl } from './socket.js';
import {
  AF_BRIDGE, AF_INET, RTM, RTPROT_EDGE_OVERLAY, linkInfo, neighEvent, toAddr, toDefaultRoute, toEvent, toFdb,
  toHostRoute, toLink, toNeigh, vxlanData,
} from './messages.js';
import { AF_INET6, ipToBytes, toAddr6, viaToBytes } from './messages6.js';

const F = {
  DUMP: nl.FlagsGet.DUMP,
  CREATE: nl.FlagsNew.CREATE,
  EXCL: nl.FlagsNew.EXCL,
  REPLACE: nl.FlagsNew.REPLACE,
  APPEND: nl.FlagsNew.APPEND,
};
const GROUPS = [
  nl.rt.MulticastGroups.LINK, nl.rt.MulticastGroups.NEIGH, nl.rt.MulticastGroups.IPV4_IFADDR,
  nl.rt.MulticastGroups.IPV6_IFADDR,
];
const ENODEV = 19;
const familyOf = (a: IpAddr): number => (isIpv6(a) ? AF_INET6 : AF_INET);
const fdbText = (e: FdbEntry): string => `${e.mac} dst ${formatIp(e.dst)}${e.via === undefined ? '' : ` via ${e.via}`}`;

function build(fn: (s: InstanceType<typeof nl.AttrStream>) => void): Uint8Array[] {
  const s = new nl.AttrStream();
  fn(s);
  return s.bufs;
}

export class NetlinkKernel implements Kernel {
  private readonly req = new RequestSocket();
  private events: EventSocket | undefined;

  /** eventRcvbuf: receive buffer of the event socket in bytes (default 8 MiB). */
  constructor(private readonly clock: Clock, private readonly opts: { eventRcvbuf?: number } = {}) {}

  private linkMsg(data: import('netlink').rt.Link, attrs: import('netlink').ifla.LinkAttrs): Uint8Array[] {
    return build((s) => nl.rt.formatLinkMessage({ kind: 'link', data, attrs }, s));
  }

  async linkByName(name: string): Promise<Link | undefined> {
    try {
      const msgs = await this.req.request(`get link ${name}`, RTM.GETLINK, 0, this.linkMsg({}, { ifname: name }));
      return msgs.map(toLink).find((l) => l?.name === name);
    } catch (err) {
      if ((err as { errname?: string }).errname === 'ENODEV') return undefined;
      throw err;
    }
  }

  async links(): Promise<Link[]> {
    const msgs = await this.req.request('dump links', RTM.GETLINK, F.DUMP, this.linkMsg({}, {}));
    return msgs.map(toLink).filter((l): l is Link => l !== undefined);
  }

  async createBridge(name: string, mtu: number, mac: string): Promise<void> {
    await this.req.request(`create bridge ${name}`, RTM.NEWLINK, F.CREATE | F.EXCL,
      this.linkMsg({}, { ifname: name, mtu, address: macBytes(mac), linkinfo: linkInfo('bridge') }));
  }

  async createVxlan(name: string, spec: VxlanSpec): Promise<void> {
    const data = vxlanData({ vni: spec.vni, port: spec.port, link: spec.link, learning: false, local6: spec.local6 });
    await this.req.request(`create vxlan ${name}`, RTM.NEWLINK, F.CREATE | F.EXCL,
      this.linkMsg({}, { ifname: name, mtu: spec.mtu, linkinfo: linkInfo('vxlan', data) }));
  }

  async setLink(index: number, change: LinkChange): Promise<void> {
    const data: import('netlink').rt.Link = { index };
    if (change.up !== undefined) {
      data.flags = change.up ? { up: true } : {};
      data.change = { up: true };
    }
    const attrs: import('netlink').ifla.LinkAttrs = {};
    if (change.mtu !== undefined) attrs.mtu = change.mtu;
    if (change.master !== undefined) attrs.master = change.master;
    if (change.mac !== undefined) attrs.address = macBytes(change.mac);
    await this.req.request(`set link ${index} ${JSON.stringify(change)}`, RTM.SETLINK, 0, this.linkMsg(data, attrs));
  }

  async setVxlanLocal(index: number, local: IpAddr | undefined): Promise<void> {
    const data = local !== undefined && isIpv6(local) ? vxlanData({ local6: local }) : vxlanData({ local });
    await this.req.request(`set vxlan ${index} local ${local === undefined ? 'none' : formatIp(local)}`, RTM.NEWLINK, 0,
      this.linkMsg({ index }, { linkinfo: linkInfo('vxlan', data) }));
  }

  async deleteLink(index: number): Promise<void> {
    await this.req.request(`delete link ${index}`, RTM.DELLINK, 0, this.linkMsg({ index }, {}));
  }

  async setPromoteSecondaries(name: string): Promise<void> {
    await writeFile(`/proc/sys/net/ipv4/conf/${name}/promote_secondaries`, '1\n');
  }

  async addrs(index: number): Promise<Addr[]> {
    const payload = build((s) =>
      nl.rt.formatAddressMessage({ kind: 'address', data: { family: AF_INET }, attrs: {} }, s));
    const msgs = await this.req.request('dump addresses', RTM.GETADDR, F.DUMP, payload);
    return msgs.map(toAddr).filter((a): a is Addr => a !== undefined && a.index === index);
  }

  async addrs6(index: number): Promise<Addr6[]> {
    const payload = build((s) =>
      nl.rt.formatAddressMessage({ kind: 'address', data: { family: AF_INET6 }, attrs: {} }, s));
    const msgs = await this.req.request('dump IPv6 addresses', RTM.GETADDR, F.DUMP, payload);
    return msgs.map(toAddr6).filter((a): a is Addr6 => a !== undefined && a.index === index);
  }

  async ipv6Disabled(name: string): Promise<boolean> {
    const op = `read net.ipv6.conf.${name}.disable_ipv6`;
    if (name === '' || name.includes('/') || name === '.' || name === '..') {
      throw new KernelError(op, ENODEV, 'ENODEV', 'open');
    }
    try {
      return (await readFile(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, 'utf8')).trim() !== '0';
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code !== 'ENOENT') throw new KernelError(op, e.errno ? -e.errno : 5, e.code ?? errnoName(5), 'open');
      const haveIpv6 = await access('/proc/sys/net/ipv6/conf').then(() => true, () => false);
      if (!haveIpv6) return true; // no IPv6 in this kernel (ipv6.disable=1)
      throw new KernelError(op, ENODEV, 'ENODEV', 'open');
    }
  }

  private addrPayload(index: number, address: Ipv4, prefix: number, withBroadcast: boolean): Uint8Array[] {
    const ip = ipv4ToBytes(address);
    const attrs: import('netlink').rt.AddressAttrs = { local: ip, address: ip };
    if (withBroadcast && prefix < 31) attrs.broadcast = ipv4ToBytes(broadcastOf({ network: address, prefix }));
    return build((s) => nl.rt.formatAddressMessage({
      kind: 'address', data: { family: AF_INET, prefixlen: prefix, index, scope: 0 }, attrs,
    }, s));
  }

  async addAddr(index: number, address: Ipv4, prefix: number): Promise<void> {
    await this.req.request(`add address ${formatIpv4(address)}/${prefix} dev ${index}`, RTM.NEWADDR,
      F.CREATE | F.REPLACE, this.addrPayload(index, address, prefix, true));
  }

  async delAddr(index: number, address: Ipv4, prefix: number): Promise<void> {
    await this.req.request(`delete address ${formatIpv4(address)}/${prefix} dev ${index}`, RTM.DELADDR, 0,
      this.addrPayload(index, address, prefix, false));
  }

  private neighPayload(data: import('netlink').rt.Neighbor, attrs: import('netlink').rt.NeighborAttrs): Uint8Array[] {
    return build((s) => nl.rt.formatNeighborMessage({ kind: 'neighbor', data, attrs }, s));
  }

  async fdb(index: number): Promise<FdbEntry[]> {
    const msgs = await this.req.request('dump fdb', RTM.GETNEIGH, F.DUMP, this.neighPayload({ family: AF_BRIDGE }, {}));
    return msgs.map((m) => toFdb(m, index)).filter((e): e is FdbEntry => e !== undefined);
  }

  private fdbPayload(index: number, e: FdbEntry): Uint8Array[] {
    const attrs: import('netlink').rt.NeighborAttrs = { lladdr: macBytes(e.mac), dst: ipToBytes(e.dst) };
    if (e.via !== undefined) attrs.ifindex = viaToBytes(e.via);
    return this.neighPayload({
      family: AF_BRIDGE, ifindex: index, state: { permanent: true }, flags: { self: true },
    }, attrs);
  }

  async fdbAppend(index: number, e: FdbEntry): Promise<void> {
    await this.req.request(`fdb append ${fdbText(e)}`, RTM.NEWNEIGH, F.CREATE | F.APPEND, this.fdbPayload(index, e));
  }

  async fdbReplace(index: number, e: FdbEntry): Promise<void> {
    await this.req.request(`fdb replace ${fdbText(e)}`, RTM.NEWNEIGH, F.CREATE | F.REPLACE, this.fdbPayload(index, e));
  }

  async fdbDel(index: number, e: FdbEntry): Promise<void> {
    await this.req.request(`fdb del ${fdbText(e)}`, RTM.DELNEIGH, 0, this.fdbPayload(index, e));
  }

  async neighs(index: number): Promise<Neigh[]> {
    const msgs = await this.req.request('dump neighbours', RTM.GETNEIGH, F.DUMP,
      this.neighPayload({ family: AF_INET }, {}));
    return msgs.map(toNeigh).filter((n): n is Neigh => n !== undefined && n.index === index);
  }

  async neighReplace(index: number, dst: IpAddr, mac: string): Promise<void> {
    await this.req.request(`neigh replace ${formatIp(dst)} lladdr ${mac} dev ${index}`, RTM.NEWNEIGH,
      F.CREATE | F.REPLACE, this.neighPayload({ family: familyOf(dst), ifindex: index, state: { permanent: true } },
        { dst: ipToBytes(dst), lladdr: macBytes(mac) }));
  }

  async neighDel(index: number, dst: IpAddr): Promise<void> {
    await this.req.request(`neigh del ${formatIp(dst)} dev ${index}`, RTM.DELNEIGH, 0,
      this.neighPayload({ family: familyOf(dst), ifindex: index }, { dst: ipToBytes(dst) }));
  }

  private routePayload(r: HostRoute, full: boolean): Uint8Array[] {
    const attrs: import('netlink').rt.RouteAttrs = { dst: ipv4ToBytes(r.dst), oif: r.index };
    if (full) attrs.prefsrc = ipv4ToBytes(r.src);
    return build((s) => nl.rt.formatRouteMessage({
      kind: 'route',
      data: { family: AF_INET, dstLen: 32, table: 254, protocol: RTPROT_EDGE_OVERLAY as never, scope: 253, type: 1 },
      attrs,
    }, s));
  }

  async hostRoutes(): Promise<HostRoute[]> {
    const payload = build((s) => nl.rt.formatRouteMessage({ kind: 'route', data: { family: AF_INET }, attrs: {} }, s));
    const msgs = await this.req.request('dump routes', RTM.GETROUTE, F.DUMP, payload);
    return msgs.map(toHostRoute).filter((r): r is HostRoute => r !== undefined);
  }

  async defaultRoutes(): Promise<DefaultRoute[]> {
    const out: DefaultRoute[] = [];
    for (const family of [AF_INET, AF_INET6]) {
      const payload = build((s) => nl.rt.formatRouteMessage({ kind: 'route', data: { family }, attrs: {} }, s));
      const msgs = await this.req.request(`dump ${family === AF_INET ? 'IPv4' : 'IPv6'} routes`, RTM.GETROUTE, F.DUMP,
        payload);
      out.push(...msgs.map(toDefaultRoute).filter((r): r is DefaultRoute => r !== undefined));
    }
    return out;
  }

  async hostRouteReplace(r: HostRoute): Promise<void> {
    await this.req.request(`route replace ${formatIpv4(r.dst)}/32 dev ${r.index} src ${formatIpv4(r.src)}`,
      RTM.NEWROUTE, F.CREATE | F.REPLACE, this.routePayload(r, true));
  }

  async hostRouteDel(r: HostRoute): Promise<void> {
    await this.req.request(`route del ${formatIpv4(r.dst)}/32 dev ${r.index}`, RTM.DELROUTE, 0,
      this.routePayload(r, false));
  }

  watch(onEvent: (e: KernelEvent) => void): () => void {
    const sock = new EventSocket(GROUPS, {
      messages: (msgs) => {
        for (const m of msgs) {
          let ev: KernelEvent | undefined;
          try {
            ev = m.type === RTM.NEWNEIGH || m.type === RTM.DELNEIGH
              ? neighEvent(m.type, m.data)
              : toEvent(m.type, nl.rt.parseMessage(m.type, m.data));
          } catch {
            continue; // a notification the library cannot parse is not ours
          }
          if (ev) onEvent(ev);
        }
      },
      lost: (reason) => onEvent({ type: 'resync', reason }),
    }, this.clock, this.opts.eventRcvbuf);
    sock.start();
    this.events = sock;
    return () => sock.close();
  }

  close(): void {
    this.events?.close();
    this.req.close();
  }
}
