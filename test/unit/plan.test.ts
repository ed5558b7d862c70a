// Unit: the dataplane planners — FDB over IPv4 and IPv6 link-local, desired state by family, neighbour entries.
import { describe, expect, it } from 'vitest';
import { desiredFdb, planFdb, planNeigh, type PeerRoute } from '../../src/dataplane/plan.js';
import { parseCidr, parseIpv4, ZERO_MAC, type Cidr } from '../../src/net/ipv4.js';
import { parseIpv6, type Ipv6 } from '../../src/net/ipv6.js';
import { desiredState } from '../../src/dataplane/desired.js';

const ip = (s: string): number => parseIpv4(s)!;
const cidr = parseCidr('100.64.192.0/24') as Cidr;
const vip = ip('100.64.192.1');
const peer = (n: number, underlay: string): PeerRoute =>
  ({ id: `p${n}`, overlayIp: ip(`100.64.192.${10 + n}`), underlayIp: ip(underlay), mac: `02:00:00:00:00:0${n}` });

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

  it('moves a renumbered peer: append new flood dst, repoint unicast, delete old flood dst, flush both ARP entries',
    () => {
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
    const actual =
      [...want, { mac: ZERO_MAC, dst: ip('10.0.0.50') }, { mac: '02:00:00:00:00:01', dst: ip('10.0.0.51') }];
    const plan = planFdb(want, actual);
    expect(plan.del)
      .toEqual([{ mac: ZERO_MAC, dst: ip('10.0.0.50') }, { mac: '02:00:00:00:00:01', dst: ip('10.0.0.51') }]);
    expect(plan.append).toEqual([]);
  });
});

describe('FDB planner over IPv6 link-local', () => {
  const ll = (s: string): Ipv6 => parseIpv6(s)!;
  const withLl = (n: number, a: string): PeerRoute => ({ ...peer(n, `10.0.0.${n}`), linkLocal: ll(a) });

  it('points every entry at the peer\'s link-local address out of the NIC (via), '
    + 'and skips peers whose address is unknown', () => {
    const want = desiredFdb([withLl(1, 'fe80::1'), peer(2, '10.0.0.2')], { family: 'link-local', via: 2 });
    expect(want).toEqual([{ mac: ZERO_MAC, dst: ll('fe80::1'), via: 2 },
      { mac: '02:00:00:00:00:01', dst: ll('fe80::1'), via: 2 }]);
  });

  it('moves a peer whose link-local address changed like a renumbered one, flushing both ND entries', () => {
    const t = { family: 'link-local' as const, via: 2 };
    const plan = planFdb(desiredFdb([withLl(1, 'fe80::9')], t), desiredFdb([withLl(1, 'fe80::1')], t));
    expect(plan.append).toEqual([{ mac: ZERO_MAC, dst: ll('fe80::9'), via: 2 }]);
    expect(plan.replace).toEqual([{ mac: '02:00:00:00:00:01', dst: ll('fe80::9'), via: 2 }]);
    expect(plan.del).toEqual([{ mac: ZERO_MAC, dst: ll('fe80::1'), via: 2 }]);
    expect(plan.flushArp).toEqual([ll('fe80::1'), ll('fe80::9')]);
  });

  it('treats entries that differ only in via as different (a re-plugged NIC has a new index)', () => {
    const plan = planFdb(desiredFdb([withLl(1, 'fe80::1')], { family: 'link-local', via: 7 }),
      desiredFdb([withLl(1, 'fe80::1')], { family: 'link-local', via: 2 }));
    expect(plan.append).toHaveLength(1);
    expect(plan.replace).toHaveLength(1);
    expect(plan.del).toEqual([{ mac: ZERO_MAC, dst: ll('fe80::1'), via: 2 }]);
  });
});

describe('desired state by family', () => {
  const base = {
    routes: [{ ...peer(1, '10.0.0.1'), linkLocal: parseIpv6('fe80::1')! }, peer(2, '10.1.0.2'),
      { ...peer(3, '0.0.0.0'), linkLocal: parseIpv6('fe80::3')! }],
    adjacent: new Set(['p1', 'p2', 'p3']), trusted: new Set(['p1', 'p2', 'p3']), seeds: [], ownIp: ip('100.64.192.50'),
    underlay: { ip: ip('10.0.0.50'), prefix: 24 }, linkLocal: parseIpv6('fe80::50')!,
  };

  it('IPv4: FDB for peers with an IPv4 address, on-link routes to other subnets of the segment', () => {
    const d = desiredState({ ...base, family: 'ipv4' });
    expect(d.routes.map((r) => r.id)).toEqual(['p1', 'p2']);
    expect(d.onLink).toEqual([ip('10.1.0.2')]);
  });

  it('link-local: FDB for peers with a link-local address (IPv4 or not), no on-link routes; '
    + 'the filter admits both families', () => {
    const d = desiredState({ ...base, family: 'link-local' });
    expect(d.routes.map((r) => r.id)).toEqual(['p1', 'p3']);
    expect(d.onLink).toEqual([]);
    expect(d.filter.peers).toEqual([ip('10.0.0.1'), ip('10.1.0.2')]);
    expect(d.filter.peers6).toEqual(['fe80::1', 'fe80::3']);
    expect(d.filter.senders).toEqual([ip('10.1.0.2')]);
  });

  it('keeps the discovery senders while our address is gone (renumbering within the LAN changes nothing there); '
    + 'FDB and on-link routes follow the address we have', () => {
    const had = desiredState({ ...base, family: 'ipv4' });
    const gone = desiredState({ ...base, family: 'ipv4', underlay: undefined, lastUnderlay: base.underlay });
    expect(gone.filter.lan).toEqual(had.filter.lan);
    expect(gone.filter.senders).toEqual(had.filter.senders);
    expect(gone.onLink).toEqual([ip('10.0.0.1'), ip('10.1.0.2')]); // no subnet of ours now: every adjacent peer
    const moved = desiredState({ ...base, family: 'ipv4', underlay: { ip: ip('10.0.0.77'), prefix: 24 } });
    expect(moved.filter).toEqual({ ...had.filter, peers: had.filter.peers });
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
