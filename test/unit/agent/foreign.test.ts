// Unit: agent/trust/foreign.ts: other clusters on the LAN, overlap reports at a bounded rate, a bounded table.
import { describe, expect, it } from 'vitest';
import { ForeignClusters } from '../../../src/agent/trust/foreign.js';
import { Counters } from '../../../src/agent/records/counters.js';
import { parseCidr, type Cidr } from '../../../src/net/ipv4.js';
import { FakeClock } from '../../fakes/clock.js';
import { captureLog } from '../../fakes/log.js';

const cidr = (s: string): Cidr => parseCidr(s) as Cidr;
const OURS = cidr('100.64.192.0/24');

function setup(): { f: ForeignClusters; clock: FakeClock; counters: Counters; lines: Record<string, unknown>[] } {
  const clock = new FakeClock();
  const { log, lines } = captureLog();
  const counters = new Counters();
  return { f: new ForeignClusters({ ours: OURS, clock, log, counters }), clock, counters, lines };
}
type Line = Record<string, unknown>;
const errors = (lines: Line[]): Line[] => lines.filter((l) => l.level === 'error');

describe('foreign clusters', () => {
  it('remembers a cluster heard without a CIDR: who sent, when, how many packets', async () => {
    const { f, clock, lines } = setup();
    f.observe('lab', undefined, '10.0.0.66');
    await clock.advance(500);
    f.observe('lab', undefined, '10.0.0.67');
    expect(f.list()).toEqual([
      { name: 'lab', cidr: null, overlapping: false, from: '10.0.0.67', lastSeenAt: clock.now(), packets: 2 },
    ]);
    expect(lines).toEqual([]);
  });

  it('notes a CIDR that does not overlap ours, quietly', () => {
    const { f, counters, lines } = setup();
    f.observe('lab', cidr('10.200.0.0/16'), '10.0.0.66');
    expect(f.list()[0]).toMatchObject({ cidr: '10.200.0.0/16', overlapping: false });
    expect(counters.foreignOverlaps).toBe(0);
    expect(lines).toEqual([]);
  });

  it('reports an overlapping CIDR once, not for every packet', () => {
    const { f, counters, lines } = setup();
    for (let i = 0; i < 10; i++) f.observe('lab', cidr('100.64.0.0/16'), '10.0.0.66');
    expect(f.list()[0]).toMatchObject({ cidr: '100.64.0.0/16', overlapping: true, packets: 10 });
    expect(counters.foreignOverlaps).toBe(1);
    expect(errors(lines)).toHaveLength(1);
    expect(errors(lines)[0]).toMatchObject({
      code: 'E_CIDR_OVERLAP', cluster: 'lab', theirs: '100.64.0.0/16', ours: '100.64.192.0/24', from: '10.0.0.66',
    });
    expect(String(errors(lines)[0]!.msg)).toContain('ANOTHER CLUSTER ON THIS LAN USES AN OVERLAPPING OVERLAY CIDR');
  });

  it('reports again when a cluster moves onto our CIDR, or to another overlapping one', () => {
    const { f, counters } = setup();
    f.observe('lab', cidr('10.200.0.0/16'), 'x');
    f.observe('lab', cidr('100.64.192.128/25'), 'x');
    expect(counters.foreignOverlaps).toBe(1);
    f.observe('lab', cidr('100.64.0.0/10'), 'x');
    expect(counters.foreignOverlaps).toBe(2);
    f.observe('lab', cidr('10.200.0.0/16'), 'x');
    expect(f.list()[0]!.overlapping).toBe(false);
    f.observe('lab', cidr('100.64.0.0/10'), 'x');
    expect(counters.foreignOverlaps).toBe(3);
  });

  it('logs five overlap reports at once, then one a minute, saying how many were not logged', async () => {
    const { f, clock, counters, lines } = setup();
    for (let i = 0; i < 8; i++) f.observe(`c${i}`, cidr('100.64.192.0/24'), 'x');
    expect(counters.foreignOverlaps).toBe(8);
    expect(errors(lines).map((l) => l.cluster)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
    await clock.advance(59_000);
    f.observe('c8', cidr('100.64.192.0/24'), 'x');
    expect(errors(lines)).toHaveLength(5);
    await clock.advance(1000);
    f.observe('c9', cidr('100.64.192.0/24'), 'x');
    expect(errors(lines)).toHaveLength(6);
    expect(errors(lines)[5]!.cluster).toBe('c9');
    expect(String(errors(lines)[5]!.msg)).toContain('(4 more such reports not logged)');
    expect(counters.foreignOverlaps).toBe(10);
  });

  it('keeps the 64 most recently heard clusters', () => {
    const { f } = setup();
    for (let i = 0; i < 64; i++) f.observe(`c${i}`, undefined, 'x');
    f.observe('c0', undefined, 'x'); // heard again: the most recent now
    f.observe('c64', undefined, 'x');
    const names = f.list().map((c) => c.name);
    expect(names).toHaveLength(64);
    expect(names).not.toContain('c1');
    expect(names).toContain('c0');
    expect(names.at(-1)).toBe('c64');
  });

  it('forgets a cluster after an hour of silence', async () => {
    const { f, clock } = setup();
    f.observe('old', undefined, 'x');
    await clock.advance(1800_000);
    f.observe('new', undefined, 'x');
    await clock.advance(1800_000);
    expect(f.list().map((c) => c.name)).toEqual(['old', 'new']);
    await clock.advance(1);
    expect(f.list().map((c) => c.name)).toEqual(['new']);
    await clock.advance(1800_000);
    expect(f.list()).toEqual([]);
  });

  it('stores names with control characters escaped and cut to 64 characters', () => {
    const { f, lines } = setup();
    f.observe('evil\u001b[2Jname', cidr('100.64.192.0/24'), 'x');
    f.observe('n'.repeat(200), undefined, 'x');
    const names = f.list().map((c) => c.name);
    expect(names[0]).toBe('evil\\x1b[2Jname');
    expect(names[1]).toBe('n'.repeat(64));
    expect(errors(lines)[0]!.cluster).toBe('evil\\x1b[2Jname');
  });

  it('hands out copies: changing a listed entry changes nothing', () => {
    const { f } = setup();
    f.observe('lab', undefined, 'x');
    const [c] = f.list();
    c!.packets = 99;
    expect(f.list()[0]!.packets).toBe(1);
    expect(Object.keys(f.list()[0]!).sort()).toEqual(['cidr', 'from', 'lastSeenAt', 'name', 'overlapping', 'packets']);
  });
});
