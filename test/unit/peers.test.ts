// Unit: the peer table — sequence floors, joins, moves and refreshes, staleness, contested addresses, persistence.
import { describe, expect, it } from 'vitest';
import { PeerTable } from '../../src/peers/table.js';
import { parseIpv4, type Cidr } from '../../src/net/ipv4.js';
import type { AnnounceMsg } from '../../src/wire/codec.js';

const ip = (s: string): number => parseIpv4(s)!;
const cidr: Cidr = { network: ip('100.64.192.0'), prefix: 24 };
const msg = (id: string, seq: number, underlay: string, overlay = '100.64.192.10', claimedAt = 1): AnnounceMsg => ({
  type: 'announce', cluster: 'c', nodeId: id, seq, sentAt: 0, overlayIp: ip(overlay), underlayIp: ip(underlay),
  mac: '02:00:00:00:00:01', claimedAt, heldMs: claimedAt, cidr, vni: 100,
});
const A = 'a'.repeat(32);
const B = 'b'.repeat(32);

describe('peer table', () => {
  it('accepts increasing sequence numbers per sender, and one overtaken by a newer one once', () => {
    const t = new PeerTable(15000);
    expect(t.acceptSeq(A, 5)).toBe('new');
    expect(t.acceptSeq(A, 5)).toBe('duplicate'); // the same packet by another path
    expect(t.acceptSeq(A, 4)).toBe('late'); // sent before 5, arrived after it
    expect(t.acceptSeq(A, 4)).toBe('old');
    expect(t.acceptSeq(A, 6)).toBe('new');
    expect(t.acceptSeq(B, 1)).toBe('new');
  });

  it('reports joins, moves and refreshes', () => {
    const t = new PeerTable(15000);
    expect(t.observe(msg(A, 1, '10.0.0.1'), 0, 0).kind).toBe('new');
    expect(t.observe(msg(A, 2, '10.0.0.1'), 0, 0).kind).toBe('refreshed');
    const moved = t.observe(msg(A, 3, '10.0.0.2'), 0, 0);
    expect(moved).toMatchObject({ kind: 'updated', underlayChanged: true, overlayChanged: false });
  });

  it('reports silence as stale but keeps the peer and its reservation; held time grows only while alive', () => {
    const t = new PeerTable(15000);
    t.observe(msg(A, 1, '10.0.0.1', '100.64.192.10', 500), 0, 1000);
    const p = t.get(A)!;
    expect(t.heldNow(p, 11_000)).toBe(10_500);
    expect(t.heldNow(p, 100_000)).toBe(500); // silent: frozen at what it said last
    expect(t.state(p, 10_000)).toBe('alive');
    expect(t.state(p, 1000 + 15_001)).toBe('stale');
    expect(t.takenAddresses().has(ip('100.64.192.10'))).toBe(true);
    expect(t.routes(() => true)).toHaveLength(1);
  });

  it('gives a contested address one neighbour entry, for the winner', () => {
    const t = new PeerTable(15000);
    t.observe(msg(A, 1, '10.0.0.1', '100.64.192.10', 100), 0, 0);
    t.observe(msg(B, 1, '10.0.0.2', '100.64.192.10', 50), 0, 0);
    const routes = t.routes((x, y) => x.heldMs < y.heldMs);
    expect(routes.find((r) => r.id === B)!.overlayIp).toBe(ip('100.64.192.10'));
    expect(routes.find((r) => r.id === A)!.overlayIp).toBeUndefined();
  });

  it('round-trips through the persisted form, keeping replay protection', () => {
    const t = new PeerTable(15000);
    t.observe(msg(A, 41, '10.0.0.1'), 123, 0);
    t.acceptSeq(A, 42);
    const u = new PeerTable(15000);
    u.load(t.toPersisted());
    expect(u.get(A)).toMatchObject({ underlayIp: ip('10.0.0.1'), lastSeenMono: undefined });
    expect(u.acceptSeq(A, 41)).toBe('old');
    expect(u.state(u.get(A)!, 0)).toBe('stale');
  });
});
