// Test cases (integration, kernel contract, IPv6): VXLAN over IPv6 link-local
// addresses — IPv6 VXLAN devices and their MTU, local6, FDB entries with
// `via`, ND entries, eth0's link-local address (EUI-64, DAD, carrier, MAC
// changes), addr6 events and disable_ipv6. Each a Case run by
// kernel-contract.test.ts against FakeKernel and the real kernel alike.
import { expect } from 'vitest';
import { formatIpv4, ZERO_MAC } from '../../../src/net/ipv4.js';
import { linkLocalFromMac, type Ipv6 } from '../../../src/net/ipv6.js';
import type { Addr6, FdbEntry } from '../../../src/kernel/types.js';
import { until } from '../../lab/lab.js';
import { fdbOf, ip, ip6, linkLocal, MTU, overlay, refused, reports, VX, VX6, type Case } from './harness.js';

export const cases6: Record<string, Case> = {
  ['an IPv6 VXLAN device from eth0\'s link-local address needs eth0 as its link (EINVAL without); '
    + 'MTU capped at eth0 − 70']: async (k, env) => {
    const ll = await linkLocal(k, env);
    await k.createVxlan('scvx-100', { ...VX, mtu: MTU, link: env.eth0, local6: ll });
    const v = (await k.linkByName('scvx-100'))!;
    expect(v).toMatchObject({ kind: 'vxlan', mtu: MTU - 70,
      vxlan: { vni: 100, port: 4789, link: env.eth0, local: undefined, local6: ll, learning: false } });
    await refused(k.setLink(v.index, { mtu: MTU - 69 }), 'EINVAL');
    await k.setLink(v.index, { mtu: 1400 });
    // "Local interface required for link-local local/remote addresses" (link 0: none)
    await refused(k.createVxlan('scvx-200', { ...VX6, vni: 200, link: 0, local6: ll }), 'EINVAL');
    // a global address needs no link (and gets no MTU cap); the kernel checks no address is ours
    await k.createVxlan('scvx-300', { ...VX, vni: 300, mtu: 9000, link: 0, local6: ip6('2001:db8::1') });
    expect(await k.linkByName('scvx-300'))
      .toMatchObject({ mtu: 9000, vxlan: { link: undefined, local: undefined, local6: '2001:db8::1' } });
    await k.createVxlan('scvx-400', { ...VX, vni: 400, link: env.eth0, local6: ip6('2001:db8::2') });
    expect(await k.linkByName('scvx-400'))
      .toMatchObject({ mtu: MTU - 70, vxlan: { link: env.eth0, local6: '2001:db8::2' } });
  },
  'setVxlanLocal moves an IPv6 device\'s local6 in place; the other family is ENOTSUP both ways': async (k, env) => {
    const ll = await linkLocal(k, env);
    const { vx } = await overlay(k, env);
    await k.createVxlan('scvx-200', { ...VX6, vni: 200, link: env.eth0, local6: ll });
    const vx6 = (await k.linkByName('scvx-200'))!.index;
    await k.setVxlanLocal(vx6, ip6('fe80::99'));
    expect((await k.linkByName('scvx-200'))!.vxlan)
      .toMatchObject({ local: undefined, local6: 'fe80::99', link: env.eth0 });
    await refused(k.setVxlanLocal(vx6, ip('10.9.0.2')), 'ENOTSUP'); // "New local address family does not match old"
    await refused(k.setVxlanLocal(vx6, undefined), 'ENOTSUP'); // clearing means 0.0.0.0: IPv4
    await refused(k.setVxlanLocal(vx, ll), 'ENOTSUP');
    expect((await k.linkByName('scvx-100'))!.vxlan).toMatchObject({ local: undefined, local6: undefined });
  },
  ['FDB over IPv6: dst and via tell destinations apart; the all-zeros REPLACE rules as for IPv4; '
    + 'EAFNOSUPPORT across families']: async (k, env) => {
    const vx = await (async (): Promise<number> => {
      await k.createVxlan('scvx-100', { ...VX6, link: env.eth0, local6: await linkLocal(k, env) });
      return (await k.linkByName('scvx-100'))!.index;
    })();
    const [p1, p2, peer, via] = [ip6('fe80::1'), ip6('fe80::2'), '02:00:00:00:00:05', env.eth0];
    const z = (dst: Ipv6, v?: number): FdbEntry =>
      (v === undefined ? { mac: ZERO_MAC, dst } : { mac: ZERO_MAC, dst, via: v });
    await refused(k.fdbReplace(vx, z(p1, via)), 'ENOTSUP');
    await reports(k, () => k.fdbAppend(vx, z(p1, via)),
      () => [{ type: 'fdb', op: 'new', index: vx, mac: ZERO_MAC, dst: p1, via, self: true }]);
    await k.fdbAppend(vx, z(p1, via)); // a duplicate: accepted, no change
    await k.fdbAppend(vx, z(p1)); // no via: accepted (the kernel does not refuse it), a second destination
    await k.fdbAppend(vx, z(p2, via));
    await refused(k.fdbReplace(vx, z(p2, via)), 'ENOTSUP');
    await refused(k.fdbAppend(vx, { mac: ZERO_MAC, dst: ip('10.9.0.3') }), 'EAFNOSUPPORT');
    await refused(k.fdbAppend(vx, z(p1, 9999)), 'EADDRNOTAVAIL'); // no such interface
    await k.fdbReplace(vx, { mac: peer, dst: p1, via });
    await k.fdbReplace(vx, { mac: peer, dst: p2 }); // repointed, and the via goes with it
    await k.fdbReplace(vx, { mac: peer, dst: p2, via });
    await k.fdbAppend(vx, { mac: peer, dst: p1, via }); // APPEND on a unicast MAC: accepted, ignored
    expect(await fdbOf(k, vx)).toEqual([`00:00:00:00:00:00 fe80::1`, `00:00:00:00:00:00 fe80::1 via ${via}`,
      `00:00:00:00:00:00 fe80::2 via ${via}`, `${peer} fe80::2 via ${via}`]);
    await k.fdbDel(vx, z(p2)); // fe80::2 is there only with a via: accepted, no change
    await reports(k, () => k.fdbDel(vx, z(p1)),
      () => [{ type: 'fdb', op: 'del', index: vx, mac: ZERO_MAC, dst: p1, self: true }]);
    expect(await fdbOf(k, vx)).toEqual([`00:00:00:00:00:00 fe80::1 via ${via}`, `00:00:00:00:00:00 fe80::2 via ${via}`,
      `${peer} fe80::2 via ${via}`]);
    for (const e of [z(p1, via), z(p2, via), { mac: peer, dst: p2, via }]) await k.fdbDel(vx, e);
    expect(await fdbOf(k, vx)).toEqual([]);
    await refused(k.fdbDel(vx, z(p1, via)), 'ENOENT');
    await k.createVxlan('scvx-200', { ...VX, vni: 200, link: env.eth0 });
    const vx4 = (await k.linkByName('scvx-200'))!.index;
    await refused(k.fdbAppend(vx4, z(p1, via)), 'EAFNOSUPPORT'); // an IPv4 device takes no IPv6 dst
    await k.fdbAppend(vx4, { mac: ZERO_MAC, dst: ip('10.9.0.3'), via }); // but a via, yes
    expect(await fdbOf(k, vx4)).toEqual([`00:00:00:00:00:00 10.9.0.3 via ${via}`]);
  },
  'ND entries: neighReplace and neighDel with an IPv6 dst; ENOENT when missing; neighs() lists ARP only':
    async (k, env) => {
    const [n6, mac] = [ip6('fe80::5'), '02:00:00:00:00:05'];
    await k.neighReplace(env.eth0, n6, mac);
    await k.neighReplace(env.eth0, ip('10.9.0.7'), mac);
    expect(await env.nd()).toEqual([`fe80::5 ${mac}`]);
    expect((await k.neighs(env.eth0)).map((n) => formatIpv4(n.dst))).toEqual(['10.9.0.7']);
    await k.neighDel(env.eth0, n6);
    expect(await env.nd()).toEqual([]);
    await refused(k.neighDel(env.eth0, n6), 'ENOENT');
    await k.neighReplace(env.eth0, n6, mac);
    await env.relink(false); // a device going down loses its ND entries too
    expect(await env.nd()).toEqual([]);
  },
  ['addrs6: eth0\'s EUI-64 link-local address; tentative while DAD runs after eth0 comes up, '
    + 'then usable (an event says so)']: async (k, env) => {
    const ll = await linkLocal(k, env);
    const ev = { index: env.eth0, address: ll, prefix: 64 };
    const mine = { ...ev, linkLocal: true };
    await reports(k, async () => {
      await env.relink(true);
      expect(await k.addrs6(env.eth0)).toEqual([{ ...mine, tentative: true, dadFailed: false }]);
    }, () => [{ type: 'addr6', op: 'del', ...ev },
    { type: 'addr6', op: 'new', ...ev, tentative: false, dadFailed: false }]);
    expect(await k.addrs6(env.eth0)).toEqual([{ ...mine, tentative: false, dadFailed: false }]);
    expect(await k.addrs6(9999)).toEqual([]);
  },
  ['eth0 keeps its link-local address, usable, while its cable is out and after its MAC changes (no longer the EUI-64 '
    + 'of its MAC)']: async (k, env) => {
    const ll = await linkLocal(k, env);
    const usable = [{ index: env.eth0, address: ll, prefix: 64, linkLocal: true, tentative: false, dadFailed: false }];
    await env.cable(false);
    await until('carrier to go', async () => (await k.linkByName('eth0'))!.carrier === false || undefined, 3000, 5);
    expect(await k.addrs6(env.eth0)).toEqual(usable);
    await env.cable(true);
    await until('carrier to come back', async () => (await k.linkByName('eth0'))!.carrier || undefined, 3000, 5);
    expect(await k.addrs6(env.eth0)).toEqual(usable);
    await k.setLink(env.eth0, { mac: '02:00:00:00:00:42' });
    expect(await k.addrs6(env.eth0)).toEqual(usable);
    expect(linkLocalFromMac('02:00:00:00:00:42')).not.toBe(ll);
  },
  'addr6 events: ip -6 addr add/del; DAD fails for an address a neighbour holds (tentative and dadFailed)':
    async (k, env) => {
    const ll = await linkLocal(k, env);
    const [a, g] = [ip6('fe80::99'), ip6('2001:db8::5')];
    await reports(k, () => env.addr6('add', g), () =>
      [{ type: 'addr6', op: 'new', index: env.eth0, address: g, prefix: 64, tentative: false, dadFailed: false }]);
    await reports(k, () => env.addr6('add', a, { taken: true }),
      () => [{ type: 'addr6', op: 'new', index: env.eth0, address: a, tentative: true, dadFailed: true }]);
    const byAddress = (x: Addr6, y: Addr6): number => x.address.localeCompare(y.address);
    expect((await k.addrs6(env.eth0)).sort(byAddress)).toEqual([
      { index: env.eth0, address: g, prefix: 64, linkLocal: false, tentative: false, dadFailed: false },
      { index: env.eth0, address: a, prefix: 64, linkLocal: true, tentative: true, dadFailed: true },
      { index: env.eth0, address: ll, prefix: 64, linkLocal: true, tentative: false, dadFailed: false },
    ].sort(byAddress));
    await reports(k, async () => {
      await env.addr6('del', a);
      await env.addr6('del', ll);
    }, () => [{ type: 'addr6', op: 'del', index: env.eth0, address: a },
    { type: 'addr6', op: 'del', index: env.eth0, address: ll }]);
    expect((await k.addrs6(env.eth0)).map((x) => x.address)).toEqual([g]);
  },
  ['ipv6Disabled: disable_ipv6 takes eth0\'s IPv6 addresses (with events) and ND entries and refuses IPv6 there; '
    + 're-enabled, the link-local comes back']: async (k, env) => {
    const ll = await linkLocal(k, env);
    expect(await k.ipv6Disabled('eth0')).toBe(false);
    await refused(k.ipv6Disabled('nosuch0'), 'ENODEV');
    await k.createVxlan('scvx-100', { ...VX6, link: env.eth0, local6: ll });
    await k.neighReplace(env.eth0, ip6('fe80::5'), '02:00:00:00:00:05');
    await reports(k, () => env.disableIpv6(true), () => [{ type: 'addr6', op: 'del', index: env.eth0, address: ll }]);
    expect(await k.ipv6Disabled('eth0')).toBe(true);
    expect(await k.addrs6(env.eth0)).toEqual([]);
    expect(await env.nd()).toEqual([]);
    expect((await k.linkByName('scvx-100'))!.vxlan!.local6).toBe(ll); // an existing device stays
    // "IPv6 support disabled by administrator"
    await refused(k.createVxlan('scvx-200', { ...VX6, vni: 200, link: env.eth0, local6: ll }), 'EPERM');
    // "IPv6 is disabled on this device"
    await refused(k.neighReplace(env.eth0, ip6('fe80::5'), '02:00:00:00:00:05'), 'EINVAL');
    await reports(k, () => env.disableIpv6(false), () => [{ type: 'addr6', op: 'new', index: env.eth0, address: ll }]);
    expect(await k.ipv6Disabled('eth0')).toBe(false);
  },
};
