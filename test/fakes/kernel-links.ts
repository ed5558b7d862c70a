// Test double, devices part of FakeKernel (test/fakes/kernel.ts): NICs
// (addPhysical, with a cable: setCable), bridges and VXLAN devices as
// rtnetlink makes and changes them — EEXIST/ENODEV, a VXLAN device's MTU
// capped at its lower device's − 50 (− 70 over IPv6) on creation and refused
// above it later, a bridge's MTU following its ports until set, a non-bridge
// master refused (ENOTSUP) after the old one let go, the local address family
// fixed, and a deleted device taking its addresses, routes, neighbours, FDB
// and the VXLAN devices bound to it along, and freeing its bridge ports.

import { formatIp, isIpv6, isLinkLocal, type IpAddr } from '../../src/net/ipv6.js';
import type { Ipv4 } from '../../src/net/ipv4.js';
import type { Link, LinkChange, VxlanSpec } from '../../src/kernel/types.js';
import { FakeKernelState, type FakeLink } from './kernel-state.js';

const IPV6_OVERHEAD = 70;
const IPV4_OVERHEAD = 50;

export abstract class FakeLinks extends FakeKernelState {
  // ---- test controls -------------------------------------------------------

  /**
   * A NIC, up, with its EUI-64 link-local address (`ipv6: false`: IPv6
   * disabled; `dad: true`: tentative until completeDad()).
   */
  addPhysical(name: string, mtu = 1500, mac = '52:54:00:00:00:01',
    opts: { ipv6?: boolean; dad?: boolean } = {}): number {
    const index = this.nextIndex++;
    const l: FakeLink = {
      index, name, kind: undefined, mtu, up: true, carrier: true, cable: true, mac, master: undefined, vxlan: undefined,
      promote: false, mtuSet: false,
      v6: false, ipv6Off: opts.ipv6 === false, dad: opts.dad ?? false, llPending: false,
    };
    this.linkMap.set(index, l);
    this.emit({ type: 'link', op: 'new', index, name }); // a NIC plugged in is news
    this.ipv6.linkLocalUp(l);
    return index;
  }

  /** Test control: the cable of a physical device pulled (false) or plugged back in (true). */
  setCable(name: string, on: boolean): void {
    const l = this.link(name);
    if (!l || l.cable === on) return;
    l.cable = on;
    this.emit({ type: 'link', op: 'new', index: l.index, name });
    if (on && l.llPending) this.ipv6.linkLocalUp(l); // IPv6 addresses stay while the cable is out
  }

  /** Test control: set a fixed local address as someone else might have. */
  setLocal(name: string, local: Ipv4): void {
    const l = this.link(name);
    if (l?.vxlan) l.vxlan.local = local;
  }

  // ---- links -----------------------------------------------------------------

  async linkByName(name: string): Promise<Link | undefined> {
    let out: Link | undefined;
    await this.op(`get link ${name}`, false, () => {
      const l = this.link(name);
      out = l ? { ...l, carrier: l.up && l.cable, vxlan: l.vxlan ? { ...l.vxlan } : undefined } : undefined;
    });
    return out;
  }

  async links(): Promise<Link[]> {
    let out: Link[] = [];
    await this.op('dump links', false, () => {
      out = [...this.linkMap.values()].map((l) => ({
        index: l.index, name: l.name, kind: l.kind, mtu: l.mtu, up: l.up, carrier: l.up && l.cable, mac: l.mac,
        master: l.master,
        vxlan: l.vxlan ? { ...l.vxlan } : undefined,
      }));
    });
    return out;
  }

  async createBridge(name: string, mtu: number, mac: string): Promise<void> {
    const text = `ip link add ${name} type bridge mtu ${mtu} address ${mac}`;
    await this.op(text, true, () => {
      if (this.link(name)) this.fail(text, 'EEXIST');
      const index = this.nextIndex++;
      this.linkMap.set(index, {
        index, name, kind: 'bridge', mtu, up: false, carrier: false, cable: true, mac, master: undefined,
        vxlan: undefined, promote: false, mtuSet: false,
        v6: false, ipv6Off: false, dad: false, llPending: false,
      });
      this.emit({ type: 'link', op: 'new', index, name });
    });
  }

  async createVxlan(name: string, spec: VxlanSpec): Promise<void> {
    const local = spec.local6 === undefined ? '' : ` local ${spec.local6}`;
    const dev = spec.link ? ` dev ${this.name(spec.link)}` : ''; // link 0: none
    const text =
      `ip link add ${name} type vxlan id ${spec.vni} dstport ${spec.port}${local}${dev} nolearning mtu ${spec.mtu}`;
    await this.op(text, true, () => {
      if (this.link(name)) this.fail(text, 'EEXIST');
      const lower = spec.link ? this.get(spec.link, text) : undefined;
      // "Local interface required for link-local local/remote addresses"
      if (!lower && spec.local6 !== undefined && isLinkLocal(spec.local6)) this.fail(text, 'EINVAL');
      const v6 = spec.local6 !== undefined;
      if (v6 && lower?.ipv6Off) this.fail(text, 'EPERM'); // 'IPv6 support disabled by administrator'
      const index = this.nextIndex++;
      // creation caps the MTU at lower - 50 (- 70 over IPv6) silently; only setLink refuses more
      this.linkMap.set(index, {
        index, name, kind: 'vxlan',
        mtu: lower ? Math.min(spec.mtu, lower.mtu - (v6 ? IPV6_OVERHEAD : IPV4_OVERHEAD)) : spec.mtu,
        up: false, carrier: false, cable: true, mac: '0a:00:00:00:00:' + index.toString(16).padStart(2, '0'),
        master: undefined, promote: false, mtuSet: false, v6, ipv6Off: false, dad: false, llPending: false,
        vxlan: { vni: spec.vni, port: spec.port, link: spec.link || undefined, local: undefined, local6: spec.local6,
          learning: false },
      });
      this.fdbs.set(index, []);
      this.emit({ type: 'link', op: 'new', index, name });
    });
  }

  async setLink(index: number, change: LinkChange): Promise<void> {
    const text = `ip link set ${this.name(index)} ${Object.entries(change).map(([k, v]) => `${k} ${v}`).join(' ')}`;
    await this.op(text, true, () => {
      const l = this.get(index, text);
      if (change.mtu !== undefined && l.vxlan?.link !== undefined) {
        const lower = this.linkMap.get(l.vxlan.link);
        if (lower && change.mtu > lower.mtu - (l.v6 ? IPV6_OVERHEAD : IPV4_OVERHEAD)) this.fail(text, 'EINVAL');
      }
      if (change.mtu !== undefined && change.mtu > 65535) this.fail(text, 'EINVAL');
      const m = change.master ? this.linkMap.get(change.master) : undefined; // master 0: release
      if (change.master && m?.kind !== 'bridge') {
        const was = l.master; // the kernel lets go of the old bridge before it refuses
        l.master = undefined;
        this.followPorts(was);
        this.fail(text, m ? 'ENOTSUP' : 'EINVAL');
      }
      const old = { ...l };
      Object.assign(l, change);
      if (change.master === 0) l.master = undefined;
      if (l.kind === 'bridge' && l.mtu !== old.mtu) l.mtuSet = true;
      if (change.up === false && old.up) {
        this.flushDown(index);
        // IPv6 addresses go with the device (keep_addr_on_down=0); the link-local comes back when it is up
        this.ipv6.down(l);
      }
      this.followPorts(old.master);
      this.followPorts(l.master);
      this.emit({ type: 'link', op: 'new', index, name: l.name });
      if (change.up === true && !old.up) this.ipv6.linkLocalUp(l);
    });
  }

  async setVxlanLocal(index: number, local: IpAddr | undefined): Promise<void> {
    const text =
      `ip link set ${this.name(index)} type vxlan local ${local === undefined ? '0.0.0.0' : formatIp(local)}`;
    await this.op(text, true, () => {
      const l = this.get(index, text);
      if (!l.vxlan) this.fail(text, 'ENOTSUP');
      const v6 = local !== undefined && isIpv6(local);
      if (v6 !== l.v6) this.fail(text, 'ENOTSUP'); // EOPNOTSUPP (95): "New local address family does not match old"
      if (local !== undefined && isIpv6(local)) l.vxlan.local6 = local === '::' ? undefined : local;
      else l.vxlan.local = local;
    });
  }

  async deleteLink(index: number): Promise<void> {
    const text = `ip link del ${this.name(index)}`;
    await this.op(text, true, () => this.removeLink(this.get(index, text)));
  }

  private removeLink(l: FakeLink): void {
    const { index } = l;
    // VXLAN devices bound to it go with it (the kernel unregisters them with their lower device)
    for (const v of [...this.linkMap.values()]) if (v.vxlan?.link === index) this.removeLink(v);
    for (const a of this.addrList.filter((x) => x.index === index)) this.dropAddr(a);
    this.flushDown(index);
    this.ipv6.down(l);
    this.linkMap.delete(index);
    this.fdbs.delete(index);
    this.neighTable.delete(index);
    for (const other of this.linkMap.values()) if (other.master === index) other.master = undefined;
    this.followPorts(l.master);
    this.emit({ type: 'link', op: 'del', index, name: l.name });
  }

  /** A bridge whose MTU was never set takes its smallest port's MTU (1500 without ports). */
  private followPorts(bridge: number | undefined): void {
    const br = bridge === undefined ? undefined : this.linkMap.get(bridge);
    if (br?.kind !== 'bridge' || br.mtuSet) return;
    const ports = [...this.linkMap.values()].filter((p) => p.master === br.index);
    br.mtu = ports.length ? Math.min(...ports.map((p) => p.mtu)) : 1500;
  }

  async setPromoteSecondaries(name: string): Promise<void> {
    await this.op(`sysctl net.ipv4.conf.${name}.promote_secondaries=1`, true, () => {
      const l = this.link(name);
      if (l) l.promote = true;
    });
  }
}
