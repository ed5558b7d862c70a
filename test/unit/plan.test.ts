import { describe, expect, it } from 'vitest';
import { desiredFdb, planFdb, planNeigh, type PeerRoute } from '../../src/dataplane/plan.js';
import { parseCidr, parseIpv4, ZERO_MAC, type Cidr } from '../../src/net/ipv4.js';

const ip = (s: string): number => parseIpv4(s)!;
const cidr = parseCidr('100.64.192.0/24') as Cidr;
const vip = ip('100.64.192.1');
const peer = (n: number, underlay: string): PeerRoute => ({ id: `p${n}`, overlayIp: ip(`100.64.192.${10 + n}`), underlayIp: ip(underlay), mac: `02:00:00:00:00:0${n}` });

describe('FDB planner', () => {
  it('programs a flood and a unicast entry per peer, once', () => {
    const want = desiredFdb([peer(1, '10.0.0.1'), peer(2, '10.0.0.2')]);
    expect(want).toHaveLength(4);
    const plan = planFdb(want, []);
    expect(plan.append).toEqual([{ mac: ZERO_MAC, dst: ip('10.0.0.1') }, { mac: ZERO_MAC, dst: ip('10.0.0.2') }]);
    expect(plan.replace).toHaveLength(2);
    expect(plan.del).toEqual([]);
    expect(planFdb(want, want)).toMatchObject({ append: [], replace: [], del: [] });
  });

  it('moves a renumbered peer: append new flood dst, repoint unicast, delete old flood dst, flush both ARP entries', () => {
    const before = desiredFdb([peer(1, '10.0.0.1'), peer(2, '10.0.0.2')]);
    const after = desiredFdb([peer(1, '10.0.0.1'), peer(2, '10.0.0.9')]);
    const plan = planFdb(after, before);
    expect(plan.append).toEqual([{ mac: ZERO_MAC, dst: ip('10.0.0.9') }]);
    expect(plan.replace).toEqual([{ mac: '02:00:00:00:00:02', dst: ip('10.0.0.9') }]);
    // the unicast entry is repointed in place, so only the flood entry is deleted
    expect(plan.del).toEqual([{ mac: ZERO_MAC, dst: ip('10.0.0.2') }]);
    expect(plan.flushArp).toEqual([ip('10.0.0.2'), ip('10.0.0.9')]);
  });

  it('removes entries of forgotten peers and extra destinations added by hand', () => {
    const want = desiredFdb([peer(1, '10.0.0.1')]);
    const actual = [...want, { mac: ZERO_MAC, dst: ip('10.0.0.50') }, { mac: '02:00:00:00:00:01', dst: ip('10.0.0.51') }];
    const plan = planFdb(want, actual);
    expect(plan.del).toEqual([{ mac: ZERO_MAC, dst: ip('10.0.0.50') }, { mac: '02:00:00:00:00:01', dst: ip('10.0.0.51') }]);
    expect(plan.append).toEqual([]);
  });
});

describe('neighbour planner', () => {
  it('sets permanent entries for peers and removes only our own stale ones', () => {
    const routes = [peer(1, '10.0.0.1'), { ...peer(2, '10.0.0.2'), overlayIp: undefined }];
    const actual = [
      { index: 5, dst: ip('100.64.192.99'), mac: '02:00:00:00:00:99', permanent: true }, // stale, ours
      { index: 5, dst: ip('100.64.192.1'), mac: '02:00:00:00:00:aa', permanent: true }, // VIP: not ours
      { index: 5, dst: ip('192.168.1.1'), mac: '02:00:00:00:00:bb', permanent: true }, // outside the CIDR
      { index: 5, dst: ip('100.64.192.11'), mac: '02:00:00:00:00:01', permanent: false }, // dynamic: make permanent
    ];
    const plan = planNeigh(routes, actual, cidr, vip);
    expect(plan.set).toEqual([{ dst: ip('100.64.192.11'), mac: '02:00:00:00:00:01' }]);
    expect(plan.del).toEqual([ip('100.64.192.99')]);
  });
});
