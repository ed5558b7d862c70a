// Unit: the dataplane device operations (bridge, VXLAN device, address) and applyFdb on a fake kernel.
import { describe, expect, it } from 'vitest';
import { ensureBridge, ensurePrimaryAddress, ensureVxlan, vxlanMismatch } from '../../src/dataplane/devices.js';
import { applyFdb } from '../../src/dataplane/apply.js';
import { desiredFdb, planFdb } from '../../src/dataplane/plan.js';
import { parseIpv4 } from '../../src/net/ipv4.js';
import { parseIpv6 } from '../../src/net/ipv6.js';
import { FakeKernel } from '../fakes/kernel.js';

const ip = (s: string): number => parseIpv4(s)!;

async function setup(): Promise<{ k: FakeKernel; phys: number; br: number; vx: number }> {
  const k = new FakeKernel();
  const phys = k.addPhysical('eth0', 1500);
  const br = (await ensureBridge(k, { name: 'scbr-100', mtu: 1450, mac: '02:00:00:00:00:aa' })).index;
  const vx =
    (await ensureVxlan(k, { name: 'scvx-100', vni: 100, port: 4789, link: phys, mtu: 1450, master: br })).index;
  return { k, phys, br, vx };
}

describe('ensure operations', () => {
  it('switches the VXLAN device\'s family by recreating it, without touching the bridge; '
    + 'changes a link-local source in place', async () => {
    const { k, phys, br } = await setup();
    const ll = k.ipv6.addrsOf('eth0').find((a) => a.linkLocal)!.address;
    const n = k.ops.length;
    const r = await ensureVxlan(k,
      { name: 'scvx-100', vni: 100, port: 4789, link: phys, mtu: 1430, master: br, local6: ll });
    expect(r.changes[0]).toBe('recreated: scvx-100 carries VXLAN over IPv4, want IPv6 link-local');
    expect(k.ops.slice(n).some((o) => o.includes('scbr-100'))).toBe(false);
    expect(k.link('scvx-100')!.vxlan!.local6).toBe(ll);
    expect(k.link('scbr-100')!.index).toBe(br);
    const other = parseIpv6('fe80::1234')!;
    expect((await ensureVxlan(k,
      { name: 'scvx-100', vni: 100, port: 4789, link: phys, mtu: 1430, master: br, local6: other })).changes)
      .toEqual([`local ${ll} -> fe80::1234`]);
    expect((await ensureVxlan(k, { name: 'scvx-100', vni: 100, port: 4789, link: phys, mtu: 1450, master: br }))
      .changes[0])
      .toBe('recreated: scvx-100 carries VXLAN over IPv6, want IPv4');
  });

  it('create once, then change nothing on a second run', async () => {
    const { k, phys, br } = await setup();
    expect(k.ops).toEqual([
      'ip link add scbr-100 type bridge mtu 1450 address 02:00:00:00:00:aa',
      'sysctl net.ipv4.conf.scbr-100.promote_secondaries=1',
      'ip link set scbr-100 up true',
      'ip link add scvx-100 type vxlan id 100 dstport 4789 dev eth0 nolearning mtu 1450',
      'ip link set scvx-100 master 3',
      'ip link set scvx-100 up true',
    ]);
    const n = k.ops.length;
    expect((await ensureBridge(k, { name: 'scbr-100', mtu: 1450, mac: '02:00:00:00:00:aa' })).changes).toEqual([]);
    expect((await ensureVxlan(k, { name: 'scvx-100', vni: 100, port: 4789, link: phys, mtu: 1450, master: br }))
      .changes).toEqual([]);
    expect(k.ops.length).toBe(n);
  });

  it('adjusts MTU in place but recreates a device that cannot be adjusted, saying why', async () => {
    const { k, phys, br } = await setup();
    const r = await ensureVxlan(k, { name: 'scvx-100', vni: 100, port: 4789, link: phys, mtu: 1400, master: br });
    expect(r.changes).toEqual(['mtu 1450 -> 1400']);
    const r2 = await ensureVxlan(k, { name: 'scvx-100', vni: 200, port: 4789, link: phys, mtu: 1400, master: br });
    expect(r2.changes[0]).toBe('recreated: scvx-100 has VNI 100, want 200');
    expect(k.link('scvx-100')!.vxlan!.vni).toBe(200);
    expect(vxlanMismatch(k.link('scbr-100')!, { name: 'scbr-100', vni: 1, port: 1, link: 1, mtu: 1, master: 1 }))
      .toBe('scbr-100 is a bridge device, not a vxlan device');
  });

  it('clears a fixed local address in place instead of recreating the device', async () => {
    const { k, phys, br } = await setup();
    k.setLocal('scvx-100', ip('10.0.0.5'));
    const index = k.link('scvx-100')!.index;
    const r = await ensureVxlan(k, { name: 'scvx-100', vni: 100, port: 4789, link: phys, mtu: 1450, master: br });
    expect(r.changes).toEqual(['cleared fixed local 10.0.0.5']);
    expect(k.link('scvx-100')!.index).toBe(index);
  });

  it('makes our address primary even when a VIP got there first, and keeps the VIP', async () => {
    const { k, br } = await setup();
    await k.addAddr(br, ip('100.64.192.1'), 24); // kube-vip was faster
    const owned = (a: number): boolean => a !== ip('100.64.192.1');
    const changes = await ensurePrimaryAddress(k, { index: br, name: 'scbr-100' }, ip('100.64.192.7'), 24, owned);
    expect(changes)
      .toEqual(['added 100.64.192.7/24', 'demoted 100.64.192.1/24', 're-added 100.64.192.1/24 as secondary']);
    expect(k.addrsOf('scbr-100').map((a) => [a.address, a.secondary]))
      .toEqual([[ip('100.64.192.7'), false], [ip('100.64.192.1'), true]]);
    expect(await ensurePrimaryAddress(k, { index: br, name: 'scbr-100' }, ip('100.64.192.7'), 24, owned)).toEqual([]);
  });

  it('replaces our previous address after a move', async () => {
    const { k, br } = await setup();
    await ensurePrimaryAddress(k, { index: br, name: 'scbr-100' }, ip('100.64.192.7'), 24, () => true);
    const changes = await ensurePrimaryAddress(k, { index: br, name: 'scbr-100' }, ip('100.64.192.8'), 24,
      (a) => a !== ip('100.64.192.8'));
    expect(k.addrsOf('scbr-100').map((a) => [a.address, a.secondary])).toEqual([[ip('100.64.192.8'), false]]);
    expect(changes).toContain('demoted 100.64.192.7/24');
  });
});

describe('applyFdb', () => {
  it('never uses REPLACE on the all-zeros entry, and tolerates what is already done', async () => {
    const { k, vx } = await setup();
    const peers = [{ id: 'p', overlayIp: ip('100.64.192.5'), underlayIp: ip('10.0.0.2'), mac: '02:00:00:00:00:02' }];
    const want = desiredFdb(peers);
    const first = await applyFdb(k, vx, planFdb(want, []));
    expect(first.failed).toEqual([]);
    // applying the same (now stale) plan again: EEXIST on append is fine
    const again = await applyFdb(k, vx, planFdb(want, []));
    expect(again.failed).toEqual([]);
    const moved = desiredFdb([{ ...peers[0]!, underlayIp: ip('10.0.0.9') }]);
    const res = await applyFdb(k, vx, planFdb(moved, await k.fdb(vx)));
    expect(res.failed).toEqual([]);
    expect(k.fdbOf('scvx-100').sort((a, b) => a.mac.localeCompare(b.mac))).toEqual([
      { mac: '00:00:00:00:00:00', dst: ip('10.0.0.9') }, { mac: '02:00:00:00:00:02', dst: ip('10.0.0.9') },
    ]);
    expect(k.ops.some((o) => o.startsWith('bridge fdb replace 00:00:00:00:00:00'))).toBe(false);
  });

  it('reports a failed operation and still applies the rest', async () => {
    const { k, vx } = await setup();
    k.failNext('dst 10.0.0.2', 'EIO', 2);
    const want = desiredFdb([
      { id: 'p', overlayIp: ip('100.64.192.5'), underlayIp: ip('10.0.0.2'), mac: '02:00:00:00:00:02' },
      { id: 'q', overlayIp: ip('100.64.192.6'), underlayIp: ip('10.0.0.3'), mac: '02:00:00:00:00:03' },
    ]);
    const res = await applyFdb(k, vx, planFdb(want, []));
    expect(res.failed.map((f) => f.op))
      .toEqual(['fdb append 00:00:00:00:00:00 dst 10.0.0.2', 'fdb replace 02:00:00:00:00:02 dst 10.0.0.2']);
    expect(k.fdbOf('scvx-100')).toHaveLength(2);
  });
});
