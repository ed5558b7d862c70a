// Unit: netlink messages read and written by hand (neighbours, IPv6 addresses, VXLAN over IPv6).
// The hand-read neighbour notification must mean exactly what the netlink
// library's parser makes of the same bytes; IPv6 addresses, FDB entries with
// an IPv6 dst and NDA_IFINDEX, and IFLA_VXLAN_LOCAL6 read as the kernel sends them.
import { describe, expect, it } from 'vitest';
import { nl } from '../../src/kernel/netlink/socket.js';
import { AF_BRIDGE, AF_INET, RTM, linkInfo, neighEvent, toEvent, toFdb, toLink,
  vxlanData } from '../../src/kernel/netlink/messages.js';
import { AF_INET6, toAddr6, viaToBytes } from '../../src/kernel/netlink/messages6.js';
import { ipv6ToBytes, type Ipv6 } from '../../src/net/ipv6.js';

type Neighbor = import('netlink').rt.Neighbor;
type NeighborAttrs = import('netlink').rt.NeighborAttrs;

function bytes(data: Neighbor, attrs: NeighborAttrs): Buffer {
  const s = new nl.AttrStream();
  nl.rt.formatNeighborMessage({ kind: 'neighbor', data, attrs }, s);
  return Buffer.concat(s.bufs);
}

const mac = Buffer.from([0x02, 0xaa, 0, 0, 0, 0x01]);
const v4 = Buffer.from([10, 0, 0, 7]);
const v6 = Buffer.alloc(16, 1);
const llText = 'fe80::1:2ff:fe03:4' as Ipv6;
const ll = ipv6ToBytes(llText);

const cases: [string, Neighbor, NeighborAttrs][] = [
  ['flood entry', { family: AF_BRIDGE, ifindex: 4, state: { permanent: true, noarp: true }, flags: { self: true } },
    { lladdr: Buffer.alloc(6), dst: v4 }],
  ['unicast entry', { family: AF_BRIDGE, ifindex: 4, state: { permanent: true }, flags: { self: true } },
    { lladdr: mac, dst: v4 }],
  ['bridge-learned entry (master, no dst)',
    { family: AF_BRIDGE, ifindex: 4, state: { reachable: true }, flags: { master: true } }, { lladdr: mac, master: 3 }],
  ['fdb entry with an IPv6 remote', { family: AF_BRIDGE, ifindex: 4, flags: { self: true } }, { lladdr: mac, dst: v6 }],
  ['permanent neighbour', { family: AF_INET, ifindex: 3, state: { permanent: true } },
    { dst: v4, lladdr: mac, cacheInfo: { confirmed: 1, used: 2, updated: 3, refcnt: 0 }, probes: 0 }],
  ['stale ARP entry', { family: AF_INET, ifindex: 2, state: { stale: true } }, { dst: v4, lladdr: mac }],
  ['incomplete ARP entry (no lladdr)', { family: AF_INET, ifindex: 2, state: { incomplete: true } }, { dst: v4 }],
  ['IPv6 neighbour', { family: 10, ifindex: 2, state: { reachable: true } }, { dst: v6, lladdr: mac }],
  ['link-local fdb entry with via (NDA_IFINDEX)', { family: AF_BRIDGE, ifindex: 4, state: { permanent: true },
    flags: { self: true } }, { lladdr: Buffer.alloc(6), dst: ll, ifindex: viaToBytes(2) }],
  ['IPv4 fdb entry with via', { family: AF_BRIDGE, ifindex: 4, state: { permanent: true }, flags: { self: true } },
    { lladdr: mac, dst: v4, ifindex: viaToBytes(3) }],
  ['fdb entry with NDA_IFINDEX 0', { family: AF_BRIDGE, ifindex: 4, flags: { self: true } },
    { lladdr: mac, dst: ll, ifindex: viaToBytes(0) }],
];

describe('neighbour notifications read without the library', () => {
  for (const [name, data, attrs] of cases) {
    it(`agrees with the library: ${name}`, () => {
      for (const type of [RTM.NEWNEIGH, RTM.DELNEIGH]) {
        const b = bytes(data, attrs);
        expect(neighEvent(type, b)).toEqual(toEvent(type, nl.rt.parseMessage(type, b)));
      }
    });
  }

  it('reads the fields it promises', () => {
    expect(neighEvent(RTM.NEWNEIGH, bytes(cases[1]![1], cases[1]![2])))
      .toEqual({ type: 'fdb', op: 'new', index: 4, mac: '02:aa:00:00:00:01', dst: 0x0a000007, self: true });
    expect(neighEvent(RTM.DELNEIGH, bytes(cases[4]![1], cases[4]![2])))
      .toEqual({ type: 'neigh', op: 'del', index: 3, dst: 0x0a000007, mac: '02:aa:00:00:00:01', permanent: true });
  });

  it('reads an IPv6 dst and the via of FDB entries', () => {
    expect(neighEvent(RTM.NEWNEIGH, bytes(cases[8]![1], cases[8]![2])))
      .toEqual({ type: 'fdb', op: 'new', index: 4, mac: '00:00:00:00:00:00', dst: llText, via: 2, self: true });
    expect(neighEvent(RTM.DELNEIGH, bytes(cases[9]![1], cases[9]![2])))
      .toMatchObject({ type: 'fdb', op: 'del', dst: 0x0a000007, via: 3 });
    expect(neighEvent(RTM.NEWNEIGH, bytes(cases[10]![1], cases[10]![2]))).not.toHaveProperty('via');
    expect(neighEvent(RTM.NEWNEIGH, bytes(cases[7]![1], cases[7]![2]))).toBeUndefined(); // ND entries are not reported
    const dump = (i: number): ReturnType<typeof toFdb> =>
      toFdb(nl.rt.parseMessage(RTM.NEWNEIGH, bytes(cases[i]![1], cases[i]![2])), 4);
    expect(dump(8)).toEqual({ mac: '00:00:00:00:00:00', dst: llText, via: 2 });
    // no via key at all without NDA_IFINDEX
    expect(dump(1)).toStrictEqual({ mac: '02:aa:00:00:00:01', dst: 0x0a000007 });
  });

  it('never throws on truncated or garbled bytes', () => {
    const b = bytes(cases[1]![1], cases[1]![2]);
    for (let n = 0; n <= b.length; n++) expect(() => neighEvent(RTM.NEWNEIGH, b.subarray(0, n))).not.toThrow();
    const bad = Buffer.from(b);
    bad.writeUInt16LE(0xffff, 12); // attribute longer than the message
    expect(() => neighEvent(RTM.NEWNEIGH, bad)).not.toThrow();
    bad.writeUInt16LE(1, 12); // shorter than its own header
    expect(neighEvent(RTM.NEWNEIGH, bad)).toMatchObject({ type: 'fdb', dst: undefined });
  });
});

function addrBytes(data: import('netlink').rt.Address, attrs: import('netlink').rt.AddressAttrs): Buffer {
  const s = new nl.AttrStream();
  nl.rt.formatAddressMessage({ kind: 'address', data, attrs }, s);
  return Buffer.concat(s.bufs);
}

describe('IPv6 addresses and VXLAN over IPv6', () => {
  const a = Buffer.from('fe80000000000000b82075fffe09e256', 'hex');
  const parse =
    (data: import('netlink').rt.Address, attrs: import('netlink').rt.AddressAttrs): ReturnType<typeof toAddr6> =>
    toAddr6(nl.rt.parseMessage(RTM.NEWADDR, addrBytes(data, attrs)));

  it('reads the address, its prefix and DAD state from ifa_flags, or from IFA_FLAGS when present', () => {
    const base = { family: AF_INET6, prefixlen: 64, index: 3, scope: 253 };
    expect(parse({ ...base, flags: { permanent: true } }, { address: a })).toEqual({
      index: 3, address: 'fe80::b820:75ff:fe09:e256', prefix: 64, linkLocal: true, tentative: false, dadFailed: false,
    });
    expect(parse({ ...base, flags: { tentative: true } }, { address: a }))
      .toMatchObject({ tentative: true, dadFailed: false });
    expect(parse({ ...base, flags: { tentative: true, dadfailed: true } }, { address: a }))
      .toMatchObject({ tentative: true, dadFailed: true });
    // IFA_FLAGS wins
    expect(parse({ ...base, flags: { tentative: true } }, { address: a, flags: { permanent: true } }))
      .toMatchObject({ tentative: false });
    expect(parse({ ...base, prefixlen: 48, scope: 0 },
      { address: Buffer.from('20010db8000000000000000000000001', 'hex') }))
      .toMatchObject({ address: '2001:db8::1', prefix: 48, linkLocal: false });
    expect(parse({ family: AF_INET, prefixlen: 24, index: 3 }, { address: Buffer.from([10, 0, 0, 1]) }))
      .toBeUndefined();
    expect(parse({ ...base }, { address: Buffer.from([10, 0, 0, 1]) })).toBeUndefined();
  });

  it('turns IPv6 address notifications into addr6 events', () => {
    const b = addrBytes({ family: AF_INET6, prefixlen: 64, index: 3, flags: { tentative: true } }, { address: a });
    expect(toEvent(RTM.DELADDR, nl.rt.parseMessage(RTM.DELADDR, b))).toEqual({
      type: 'addr6', op: 'del', index: 3, address: 'fe80::b820:75ff:fe09:e256', prefix: 64, tentative: true,
      dadFailed: false,
    });
  });

  it('writes and reads IFLA_VXLAN_LOCAL6', () => {
    const s = new nl.AttrStream();
    const data = vxlanData({ vni: 100, port: 4789, link: 3, learning: false, local6: llText });
    nl.rt.formatLinkMessage({ kind: 'link', data: { index: 9 },
      attrs: { ifname: 'scvx-100', linkinfo: linkInfo('vxlan', data) } }, s);
    const link = toLink(nl.rt.parseMessage(RTM.NEWLINK, Buffer.concat(s.bufs)));
    expect(link?.vxlan).toEqual({ vni: 100, port: 4789, link: 3, local: undefined, local6: llText, learning: false });
    const s4 = new nl.AttrStream();
    nl.rt.formatLinkMessage({ kind: 'link', data: { index: 9 },
      attrs: { ifname: 'scvx-100', linkinfo: linkInfo('vxlan', vxlanData({ vni: 1, local: 0x0a000001 })) } }, s4);
    expect(toLink(nl.rt.parseMessage(RTM.NEWLINK, Buffer.concat(s4.bufs)))?.vxlan)
      .toMatchObject({ local: 0x0a000001, local6: undefined });
  });
});
