// Test cases (integration, kernel contract, IPv4 and devices): links,
// bridges and VXLAN devices, addresses, FDB entries, neighbours, host routes,
// events and carrier, each a Case run by kernel-contract.test.ts against
// FakeKernel and the real kernel alike. Same answers from both, or the fake
// is wrong.
import { expect } from 'vitest';
import { ZERO_MAC, type Ipv4 } from '../../../src/net/ipv4.js';
import { until } from '../../lab/lab.js';
import { addrsOf, BR_MAC, fdbOf, ip, MTU, overlay, refused, reports, VX, type Case } from './harness.js';

export const cases4: Record<string, Case> = {
  'creates a bridge and a VXLAN device bound to eth0, nolearning, with no fixed local address': async (k, env) => {
    const { br, vx } = await overlay(k, env);
    expect(await k.linkByName('scbr-100')).toMatchObject({ index: br, kind: 'bridge', mtu: 8950, up: false, mac: BR_MAC,
      master: undefined, vxlan: undefined });
    const v = await k.linkByName('scvx-100');
    expect(v).toMatchObject({ index: vx, kind: 'vxlan', mtu: 8950, up: false, master: undefined,
      vxlan: { vni: 100, port: 4789, link: env.eth0, local: undefined, learning: false } });
    expect(v!.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(await k.linkByName('eth0'))
      .toMatchObject({ index: env.eth0, mtu: MTU, up: true, master: undefined, vxlan: undefined });
  },
  'refuses an existing name with EEXIST and leaves that device alone': async (k, env) => {
    await overlay(k, env);
    await refused(k.createBridge('scbr-100', 1400, '02:00:00:00:00:01'), 'EEXIST');
    await refused(k.createVxlan('scbr-100', { ...VX, link: env.eth0 }), 'EEXIST');
    await refused(k.createBridge('eth0', 1400, '02:00:00:00:00:01'), 'EEXIST');
    expect(await k.linkByName('scbr-100')).toMatchObject({ kind: 'bridge', mtu: 8950, mac: BR_MAC });
  },
  'answers undefined for an unknown name and ENODEV for a deleted index': async (k, env) => {
    expect(await k.linkByName('nosuch0')).toBeUndefined();
    const { br } = await overlay(k, env);
    await k.deleteLink(br);
    expect(await k.linkByName('scbr-100')).toBeUndefined();
    await refused(k.deleteLink(br), 'ENODEV');
    await refused(k.setLink(br, { up: true }), 'ENODEV');
    await refused(k.setVxlanLocal(br, undefined), 'ENODEV');
    await refused(k.addAddr(br, ip('10.5.0.1'), 24), 'ENODEV');
    await refused(k.delAddr(br, ip('10.5.0.1'), 24), 'ENODEV');
    await refused(k.neighReplace(br, ip('10.5.0.9'), '02:00:00:00:00:09'), 'ENODEV');
    await refused(k.createVxlan('scvx-200', { ...VX, vni: 200, link: br }), 'ENODEV');
  },
  'setLink changes MTU, MAC, up and master; an unset bridge MTU follows its port; a non-bridge master is ENOTSUP':
    async (k, env) => {
    const { br, vx } = await overlay(k, env);
    await k.setLink(vx, { master: br, mtu: 1400 });
    await k.setLink(br, { up: true, mac: '02:00:00:00:00:01' });
    await k.setLink(vx, { up: true });
    expect(await k.linkByName('scvx-100')).toMatchObject({ master: br, mtu: 1400, up: true });
    expect(await k.linkByName('scbr-100')).toMatchObject({ up: true, mac: '02:00:00:00:00:01', mtu: 1400 });
    await k.setLink(br, { mtu: 1300 });
    await k.setLink(vx, { mtu: 1350 });
    expect((await k.linkByName('scbr-100'))!.mtu).toBe(1300); // set explicitly: no longer follows
    await k.setLink(vx, { master: 0, up: false });
    expect(await k.linkByName('scvx-100')).toMatchObject({ master: undefined, up: false });
    await k.setLink(vx, { master: br });
    await refused(k.setLink(vx, { master: env.eth0 }), 'ENOTSUP');
    expect((await k.linkByName('scvx-100'))!.master).toBeUndefined(); // released from br before the refusal
  },
  'caps a new VXLAN device at eth0 MTU - 50 and refuses more later with EINVAL': async (k, env) => {
    await k.createVxlan('scvx-100', { ...VX, mtu: MTU, link: env.eth0 });
    const vx = (await k.linkByName('scvx-100'))!;
    expect(vx.mtu).toBe(MTU - 50);
    await refused(k.setLink(vx.index, { mtu: MTU - 49 }), 'EINVAL');
    await k.setLink(env.eth0, { mtu: 1500 });
    expect((await k.linkByName('scvx-100'))!.mtu).toBe(MTU - 50); // it does not follow eth0 down
    await refused(k.setLink(vx.index, { mtu: 1451 }), 'EINVAL');
    await k.setLink(vx.index, { mtu: 1450 });
    expect((await k.linkByName('scvx-100'))!.mtu).toBe(1450);
  },
  'setVxlanLocal sets and clears the fixed local address; ENOTSUP on a bridge': async (k, env) => {
    const { br, vx } = await overlay(k, env);
    await k.setVxlanLocal(vx, ip('10.9.0.2'));
    expect((await k.linkByName('scvx-100'))!.vxlan)
      .toEqual({ vni: 100, port: 4789, link: env.eth0, local: ip('10.9.0.2'), learning: false });
    await k.setVxlanLocal(vx, undefined);
    expect((await k.linkByName('scvx-100'))!.vxlan!.local).toBeUndefined();
    await refused(k.setVxlanLocal(br, ip('10.9.0.2')), 'ENOTSUP');
  },
  'deleteLink: a deleted port leaves the bridge (MTU back to 1500), a deleted bridge frees its ports':
    async (k, env) => {
    const { br, vx } = await overlay(k, env);
    await k.setLink(vx, { master: br, mtu: 1400 });
    await k.deleteLink(vx);
    expect(await k.linkByName('scvx-100')).toBeUndefined();
    expect((await k.linkByName('scbr-100'))!.mtu).toBe(1500);
    await k.createVxlan('scvx-100', { ...VX, link: env.eth0 });
    await k.setLink((await k.linkByName('scvx-100'))!.index, { master: br });
    await k.deleteLink(br);
    expect(await k.linkByName('scvx-100')).toMatchObject({ master: undefined });
  },
  'deleting eth0 takes its addresses (with events), its routes and the VXLAN device bound to it': async (k, env) => {
    const { vx } = await overlay(k, env);
    await k.addAddr(env.eth0, ip('10.9.0.2'), 24);
    await k.hostRouteReplace({ dst: ip('10.20.0.5'), index: env.eth0, src: ip('10.9.0.2') });
    await reports(k, () => k.deleteLink(env.eth0), () => [
      { type: 'addr', op: 'del', index: env.eth0, address: ip('10.9.0.2'), prefix: 24 },
      { type: 'link', op: 'del', index: vx, name: 'scvx-100' },
    ]);
    expect(await k.linkByName('scvx-100')).toBeUndefined();
    expect(await k.linkByName('scbr-100')).toBeDefined();
    expect(await k.hostRoutes()).toEqual([]);
  },
  'same-subnet addresses are secondaries; deleting the primary takes them along': async (k, env) => {
    const { br } = await overlay(k, env);
    for (const a of ['10.5.0.1', '10.5.0.2', '10.5.0.3', '10.6.0.1']) await k.addAddr(br, ip(a), 24);
    await k.addAddr(br, ip('10.5.0.2'), 24); // again: a replace, not a duplicate
    expect(await addrsOf(k, br))
      .toEqual(['10.5.0.1/24', '10.5.0.2/24 secondary', '10.5.0.3/24 secondary', '10.6.0.1/24']);
    await k.delAddr(br, ip('10.5.0.1'), 24);
    expect(await addrsOf(k, br)).toEqual(['10.6.0.1/24']);
    await refused(k.delAddr(br, ip('10.5.0.1'), 24), 'EADDRNOTAVAIL');
  },
  'with promote_secondaries, deleting the primary promotes the first secondary (and says so)': async (k, env) => {
    const { br } = await overlay(k, env);
    await k.setPromoteSecondaries('scbr-100');
    for (const a of ['10.5.0.1', '10.5.0.2', '10.5.0.3']) await k.addAddr(br, ip(a), 24);
    await reports(k, () => k.delAddr(br, ip('10.5.0.1'), 24),
      () => [{ type: 'addr', op: 'new', index: br, address: ip('10.5.0.2'), prefix: 24 }]);
    expect(await addrsOf(k, br)).toEqual(['10.5.0.2/24', '10.5.0.3/24 secondary']);
    await k.delAddr(br, ip('10.5.0.3'), 24);
    expect(await addrsOf(k, br)).toEqual(['10.5.0.2/24']);
  },
  'FDB: all-zeros entries append and refuse REPLACE (ENOTSUP); unicast ones are repointed; ENOENT for a missing MAC':
    async (k, env) => {
    const { vx } = await overlay(k, env);
    const z = (d: string): { mac: string; dst: Ipv4 } => ({ mac: ZERO_MAC, dst: ip(d) });
    const peer = '02:00:00:00:00:05';
    await refused(k.fdbReplace(vx, z('10.9.0.2')), 'ENOTSUP'); // not even to create one
    await k.fdbAppend(vx, z('10.9.0.3'));
    await k.fdbAppend(vx, z('10.9.0.4'));
    await k.fdbAppend(vx, z('10.9.0.4')); // a duplicate is accepted and changes nothing
    await refused(k.fdbReplace(vx, z('10.9.0.5')), 'ENOTSUP');
    await k.fdbReplace(vx, { mac: peer, dst: ip('10.9.0.3') });
    await k.fdbReplace(vx, { mac: peer, dst: ip('10.9.0.4') });
    await k.fdbAppend(vx, { mac: peer, dst: ip('10.9.0.5') }); // APPEND on a unicast MAC: accepted, ignored
    expect(await fdbOf(k, vx))
      .toEqual(['00:00:00:00:00:00 10.9.0.3', '00:00:00:00:00:00 10.9.0.4', `${peer} 10.9.0.4`]);
    await k.fdbDel(vx, z('10.9.0.3'));
    await k.fdbDel(vx, z('10.9.0.9')); // the MAC is there, this destination is not: accepted, no change
    await refused(k.fdbDel(vx, { mac: '02:00:00:00:00:07', dst: ip('10.9.0.4') }), 'ENOENT');
    await k.fdbDel(vx, { mac: peer, dst: ip('10.9.0.4') });
    await k.fdbDel(vx, z('10.9.0.4'));
    expect(await fdbOf(k, vx)).toEqual([]);
    await refused(k.fdbDel(vx, z('10.9.0.4')), 'ENOENT');
  },
  'neighbours: replace, list, delete; ENOENT when missing': async (k, env) => {
    const n = ip('10.9.0.7');
    await k.neighReplace(env.eth0, n, '02:00:00:00:00:07');
    await k.neighReplace(env.eth0, n, '02:00:00:00:00:08');
    expect(await k.neighs(env.eth0)).toEqual([{ index: env.eth0, dst: n, mac: '02:00:00:00:00:08', permanent: true }]);
    await k.neighDel(env.eth0, n);
    expect(await k.neighs(env.eth0)).toEqual([]);
    await refused(k.neighDel(env.eth0, n), 'ENOENT');
  },
  ['host routes: need a local source (EINVAL); deleting a missing one or on another device is ESRCH; '
    + 'they go with their source']: async (k, env) => {
    await k.addAddr(env.eth0, ip('10.9.0.2'), 24);
    const r = { dst: ip('10.20.0.5'), index: env.eth0, src: ip('10.9.0.2') };
    await refused(k.hostRouteReplace({ ...r, src: ip('10.9.0.99') }), 'EINVAL');
    await k.hostRouteReplace(r);
    await k.hostRouteReplace(r);
    expect(await k.hostRoutes()).toEqual([r]); // not the kernel's own /32s (local, broadcast)
    const { br } = await overlay(k, env);
    await refused(k.hostRouteDel({ ...r, index: br }), 'ESRCH');
    await k.hostRouteDel(r);
    expect(await k.hostRoutes()).toEqual([]);
    await refused(k.hostRouteDel(r), 'ESRCH');
    await k.hostRouteReplace(r);
    await k.delAddr(env.eth0, ip('10.9.0.2'), 24);
    expect(await k.hostRoutes()).toEqual([]);
  },
  'a route needs an up device (ENETDOWN); a device going down loses its routes and neighbour entries':
    async (k, env) => {
    const { br } = await overlay(k, env);
    await k.addAddr(env.eth0, ip('10.9.0.2'), 24);
    const r = { dst: ip('10.20.0.5'), index: br, src: ip('10.9.0.2') };
    await refused(k.hostRouteReplace(r), 'ENETDOWN');
    await k.setLink(br, { up: true });
    await k.hostRouteReplace(r);
    await k.neighReplace(br, ip('10.5.0.9'), '02:00:00:00:00:09');
    await k.setLink(br, { up: false });
    expect(await k.hostRoutes()).toEqual([]);
    expect(await k.neighs(br)).toEqual([]);
  },
  'watch() reports link, address, FDB and neighbour changes': async (k, env) => {
    const [a, n, fe] = [ip('10.5.0.1'), ip('10.9.0.7'), { mac: ZERO_MAC, dst: ip('10.9.0.3') }];
    await reports(k, async () => {
      const { br, vx } = await overlay(k, env);
      await k.addAddr(br, a, 24);
      await k.delAddr(br, a, 24);
      await k.fdbAppend(vx, fe);
      await k.fdbDel(vx, fe);
      await k.neighReplace(env.eth0, n, '02:00:00:00:00:07');
      await k.neighDel(env.eth0, n);
      await k.deleteLink(vx);
      return { br, vx };
    }, ({ br, vx }) => [
      { type: 'link', op: 'new', index: br, name: 'scbr-100' },
      { type: 'link', op: 'new', index: vx, name: 'scvx-100' },
      { type: 'addr', op: 'new', index: br, address: a, prefix: 24 },
      { type: 'addr', op: 'del', index: br, address: a, prefix: 24 },
      { type: 'fdb', op: 'new', index: vx, mac: ZERO_MAC, dst: fe.dst, self: true },
      { type: 'fdb', op: 'del', index: vx, mac: ZERO_MAC, dst: fe.dst, self: true },
      { type: 'neigh', op: 'new', index: env.eth0, dst: n, mac: '02:00:00:00:00:07', permanent: true },
      { type: 'neigh', op: 'new', index: env.eth0, dst: n, mac: undefined, permanent: false }, // FAILED first,
      { type: 'neigh', op: 'del', index: env.eth0, dst: n, mac: undefined, permanent: false }, // then gone
      { type: 'link', op: 'del', index: vx, name: 'scvx-100' },
    ]);
  },
  'reports carrier: lost when the cable is pulled (a link event says so), back when it is plugged in':
    async (k, env) => {
    expect((await k.linkByName('eth0'))!.carrier).toBe(true);
    await reports(k, () => env.cable(false), () => [{ type: 'link', op: 'new', index: env.eth0 }]);
    await until('carrier to go', async () => (await k.linkByName('eth0'))!.carrier === false || undefined, 3000, 5);
    expect((await k.linkByName('eth0'))!.up).toBe(true); // still administratively up
    await reports(k, () => env.cable(true), () => [{ type: 'link', op: 'new', index: env.eth0 }]);
    await until('carrier to come back', async () => (await k.linkByName('eth0'))!.carrier || undefined, 3000, 5);
  },
};
