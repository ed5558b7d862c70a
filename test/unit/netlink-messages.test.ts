// The hand-read neighbour notification must mean exactly what the netlink
// library's parser makes of the same bytes.
import { describe, expect, it } from 'vitest';
import { nl } from '../../src/kernel/netlink/socket.js';
import { AF_BRIDGE, AF_INET, RTM, neighEvent, toEvent } from '../../src/kernel/netlink/messages.js';

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

const cases: [string, Neighbor, NeighborAttrs][] = [
  ['flood entry', { family: AF_BRIDGE, ifindex: 4, state: { permanent: true, noarp: true }, flags: { self: true } }, { lladdr: Buffer.alloc(6), dst: v4 }],
  ['unicast entry', { family: AF_BRIDGE, ifindex: 4, state: { permanent: true }, flags: { self: true } }, { lladdr: mac, dst: v4 }],
  ['bridge-learned entry (master, no dst)', { family: AF_BRIDGE, ifindex: 4, state: { reachable: true }, flags: { master: true } }, { lladdr: mac, master: 3 }],
  ['fdb entry with an IPv6 remote', { family: AF_BRIDGE, ifindex: 4, flags: { self: true } }, { lladdr: mac, dst: v6 }],
  ['permanent neighbour', { family: AF_INET, ifindex: 3, state: { permanent: true } }, { dst: v4, lladdr: mac, cacheInfo: { confirmed: 1, used: 2, updated: 3, refcnt: 0 }, probes: 0 }],
  ['stale ARP entry', { family: AF_INET, ifindex: 2, state: { stale: true } }, { dst: v4, lladdr: mac }],
  ['incomplete ARP entry (no lladdr)', { family: AF_INET, ifindex: 2, state: { incomplete: true } }, { dst: v4 }],
  ['IPv6 neighbour', { family: 10, ifindex: 2, state: { reachable: true } }, { dst: v6, lladdr: mac }],
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
    expect(neighEvent(RTM.NEWNEIGH, bytes(cases[1]![1], cases[1]![2]))).toEqual({ type: 'fdb', op: 'new', index: 4, mac: '02:aa:00:00:00:01', dst: 0x0a000007, self: true });
    expect(neighEvent(RTM.DELNEIGH, bytes(cases[4]![1], cases[4]![2]))).toEqual({ type: 'neigh', op: 'del', index: 3, dst: 0x0a000007, mac: '02:aa:00:00:00:01', permanent: true });
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
