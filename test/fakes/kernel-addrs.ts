// Test double, addresses-and-routes part of FakeKernel (test/fakes/kernel.ts):
// IPv4 addresses as rtnetlink keeps them — adding one twice is a no-op, a
// second one in a subnet is a secondary, deleting the primary takes its
// secondaries along or, with promote_secondaries, promotes the first (and
// reports it), EADDRNOTAVAIL for a missing one; the IPv6 address reads (the
// model is kernel-ipv6.ts); and our on-link /32 host routes, which need an up
// device (ENETDOWN) and a local source address (EINVAL), and are ESRCH when
// missing; default routes (added by another program: addDefaultRoute), which
// an IPv4 one needs an up device with an IPv4 address for.

import { formatIpv4, maskOf, type Ipv4 } from '../../src/net/ipv4.js';
import type { Addr, Addr6, DefaultRoute, HostRoute } from '../../src/kernel/types.js';
import { FakeLinks } from './kernel-links.js';

export abstract class FakeAddrs extends FakeLinks {
  addrsOf(name: string): Addr[] {
    const l = this.link(name);
    return l ? this.addrList.filter((a) => a.index === l.index) : [];
  }

  // ---- addresses -------------------------------------------------------------

  async addrs(index: number): Promise<Addr[]> {
    let out: Addr[] = [];
    await this.op('dump addresses', false,
      () => { out = this.addrList.filter((a) => a.index === index).map((a) => ({ ...a })); });
    return out;
  }

  private sameSubnet(a: Addr, address: Ipv4, prefix: number): boolean {
    return a.prefix === prefix && ((a.address ^ address) & maskOf(prefix)) === 0;
  }

  async addAddr(index: number, address: Ipv4, prefix: number): Promise<void> {
    const text = `ip addr add ${formatIpv4(address)}/${prefix} dev ${this.name(index)}`;
    await this.op(text, true, () => {
      this.get(index, text);
      // REPLACE: no-op
      if (this.addrList.some((a) => a.index === index && a.address === address && a.prefix === prefix)) return;
      const secondary =
        this.addrList.some((a) => a.index === index && !a.secondary && this.sameSubnet(a, address, prefix));
      this.addrList.push({ index, address, prefix, secondary });
      this.emit({ type: 'addr', op: 'new', index, address, prefix });
    });
  }

  async delAddr(index: number, address: Ipv4, prefix: number): Promise<void> {
    const text = `ip addr del ${formatIpv4(address)}/${prefix} dev ${this.name(index)}`;
    await this.op(text, true, () => {
      this.get(index, text);
      this.removeAddr(index, address, prefix, text);
    });
  }

  /** Test control and implementation: what `ip addr del` does, secondaries included. */
  removeAddr(index: number, address: Ipv4, prefix: number, text = 'ip addr del'): void {
    const a = this.addrList.find((x) => x.index === index && x.address === address && x.prefix === prefix);
    if (!a) this.fail(text, 'EADDRNOTAVAIL');
    this.dropAddr(a);
    if (a.secondary) return;
    const secs = this.addrList.filter((x) => x.index === index && x.secondary && this.sameSubnet(x, address, prefix));
    if (secs.length === 0) return;
    if (this.linkMap.get(index)?.promote) {
      secs[0]!.secondary = false;
      this.emit({ type: 'addr', op: 'new', index, address: secs[0]!.address, prefix });
    } else {
      for (const s of secs) this.dropAddr(s);
    }
  }

  // ---- IPv6 addresses (the model and its test controls: kernel.ipv6) ---------

  async addrs6(index: number): Promise<Addr6[]> {
    let out: Addr6[] = [];
    await this.op('dump IPv6 addresses', false, () => { out = this.ipv6.list(index); });
    return out;
  }

  async ipv6Disabled(name: string): Promise<boolean> {
    const text = `sysctl net.ipv6.conf.${name}.disable_ipv6`;
    let out = false;
    await this.op(text, false, () => {
      const l = this.link(name);
      if (!l) this.fail(text, 'ENODEV');
      out = l.ipv6Off;
    });
    return out;
  }

  // ---- our on-link routes -----------------------------------------------------

  async hostRoutes(): Promise<HostRoute[]> {
    let out: HostRoute[] = [];
    await this.op('dump routes', false, () => { out = [...this.routeTable.values()].map((r) => ({ ...r })); });
    return out;
  }

  async hostRouteReplace(r: HostRoute): Promise<void> {
    const text =
      `ip route replace ${formatIpv4(r.dst)}/32 dev ${this.name(r.index)} scope link src ${formatIpv4(r.src)}`;
    await this.op(text, true, () => {
      if (!this.get(r.index, text).up) this.fail(text, 'ENETDOWN'); // "Device for nexthop is not up"
      if (!this.addrList.some((a) => a.address === r.src)) this.fail(text, 'EINVAL'); // "Invalid prefsrc address"
      this.routeTable.set(r.dst, { ...r });
    });
  }

  async hostRouteDel(r: HostRoute): Promise<void> {
    const text = `ip route del ${formatIpv4(r.dst)}/32 dev ${this.name(r.index)}`;
    await this.op(text, true, () => {
      if (this.routeTable.get(r.dst)?.index !== r.index) this.fail(text, 'ESRCH');
      this.routeTable.delete(r.dst);
    });
  }

  // ---- default routes (another program's) -------------------------------------

  /** Test control: `ip [-6] route add default via GW dev NAME metric M` as DHCP, RA or an administrator would. */
  addDefaultRoute(name: string, family: 4 | 6, metric = 0): void {
    const text = `ip -${family} route add default dev ${name} metric ${metric}`;
    const l = this.link(name);
    if (!l) this.fail(text, 'ENODEV');
    if (!l.up) this.fail(text, 'ENETDOWN');
    // "Nexthop has invalid gateway"
    if (family === 4 && !this.addrList.some((a) => a.index === l.index)) this.fail(text, 'ENETUNREACH');
    if (this.defaultTable.some((r) => r.family === family && r.metric === metric)) this.fail(text, 'EEXIST');
    this.defaultTable.push({ family, index: l.index, metric });
  }

  /** Test control: `ip [-6] route del default dev NAME [metric M]` (without a metric: every one). */
  removeDefaultRoute(name: string, family: 4 | 6, metric?: number): void {
    const index = this.link(name)?.index;
    this.defaultTable = this.defaultTable.filter((r) => r.index !== index || r.family !== family
      || (metric !== undefined && r.metric !== metric));
  }

  async defaultRoutes(): Promise<DefaultRoute[]> {
    let out: DefaultRoute[] = [];
    await this.op('dump routes', false, () => { out = this.defaultTable.map((r) => ({ ...r })); });
    return out;
  }

  routesOf(): HostRoute[] {
    return [...this.routeTable.values()];
  }
}
