// Unit: the raw L2 channel's socket life: an error closes the socket, a link
// event (setLink) reopens it at once, a timer retries with backoff meanwhile;
// health says what is going on; a flooding source is cut to its budget and a
// flood from made-up sources is read at a bounded rate.
import { describe, expect, it } from 'vitest';
import { PER_SOURCE, READ_PER_SECOND, RawChannel, frame, type RawOpener } from '../../src/discovery/raw.js';
import { dropSources } from '../../src/discovery/bpf.js';
import { DROP_FOR_MS } from '../../src/discovery/droplist.js';
import type { PacketSocket } from '../../src/native/addon.js';
import { FakeClock } from '../fakes/clock.js';

interface Sock {
  index: number; closed: boolean; paused: boolean; frame: (f: Buffer, mac: string) => void;
  error: (errno: number) => void;
  /** the BPF programs attached, in order */
  filters: Buffer[];
}

function opener(): { open: RawOpener; socks: Sock[]; refuse: { n: number } } {
  const socks: Sock[] = [];
  const refuse = { n: 0 };
  const open: RawOpener = (index, onFrame, onError) => {
    if (refuse.n > 0) { refuse.n--; throw new Error('cannot open a packet socket on ifindex 2: EPERM'); }
    const s: Sock = { index, closed: false, paused: false, frame: onFrame, error: onError, filters: [] };
    socks.push(s);
    const sock: PacketSocket = { send: () => 0, close: () => { s.closed = true; }, pause: () => { s.paused = true; },
      resume: () => { s.paused = false; }, setFilter: (p) => { s.filters.push(p); return 0; } };
    return sock;
  };
  return { open, socks, refuse };
}

describe('raw L2 channel', () => {
  it('closes a socket that reported an error and reopens it on the next link event, for the same ifindex', () => {
    const clock = new FakeClock();
    const o = opener();
    const got: string[] = [];
    const ch = new RawChannel({ clock, open: o.open });
    ch.onFrame((p) => got.push(p.toString()));
    ch.setLink(2);
    expect(ch.health()).toMatchObject({ state: 'up', error: null });
    o.socks[0]!.frame(frame(Buffer.from('a')), '02:00:00:00:00:02');
    o.socks[0]!.error(100); // ENETDOWN: the link went down
    expect(o.socks[0]!.closed).toBe(true);
    expect(ch.health()).toMatchObject({ state: 'down', error: 'ENETDOWN', received: 1 });
    ch.setLink(2); // the link came back: same index, new socket
    expect(o.socks).toHaveLength(2);
    expect(ch.health()).toMatchObject({ state: 'up', error: null });
    o.socks[1]!.frame(frame(Buffer.from('b')), '02:00:00:00:00:02');
    expect(got).toEqual(['a', 'b']);
    ch.setLink(2); // a working socket is kept
    expect(o.socks).toHaveLength(2);
  });

  it('retries with growing backoff while no link event comes, and a late error of an old socket changes nothing',
    async () => {
    const clock = new FakeClock();
    const o = opener();
    const ch = new RawChannel({ clock, open: o.open });
    ch.setLink(2);
    const first = o.socks[0]!;
    first.error(100);
    await clock.advance(249);
    expect(o.socks).toHaveLength(1);
    await clock.advance(1); // 250 ms
    expect(o.socks).toHaveLength(2);
    o.socks[1]!.error(100);
    await clock.advance(499);
    expect(o.socks).toHaveLength(2);
    await clock.advance(1); // then 500 ms
    expect(o.socks).toHaveLength(3);
    first.error(100); // the first socket's last word: ignored
    expect(ch.health().state).toBe('up');
    o.refuse.n = 1;
    ch.setLink(3); // the NIC was re-plugged: new index; opening fails once (no CAP_NET_RAW, say)
    expect(ch.health()).toMatchObject({ state: 'down', error: 'cannot open a packet socket on ifindex 2: EPERM' });
    await clock.advance(2000);
    expect(o.socks.at(-1)).toMatchObject({ index: 3, closed: false });
    ch.close();
    expect(o.socks.at(-1)!.closed).toBe(true);
    await clock.advance(60_000);
    expect(o.socks.filter((s) => !s.closed)).toHaveLength(0); // nothing reopens after close
  });

  it('is down with a reason while there is no physical interface', () => {
    const ch = new RawChannel({ clock: new FakeClock(), open: opener().open });
    expect(ch.health()).toMatchObject({ state: 'down', error: 'no physical interface' });
    ch.setLink(2);
    ch.setLink(undefined);
    expect(ch.health()).toMatchObject({ state: 'down', error: 'no physical interface' });
  });

  it('drops the excess of one flooding source and hands on every other source\'s frames (fairness)', async () => {
    const clock = new FakeClock();
    const o = opener();
    const from = new Map<string, number>();
    const ch = new RawChannel({ clock, open: o.open });
    ch.onFrame((_p, mac) => from.set(mac, (from.get(mac) ?? 0) + 1));
    ch.setLink(2);
    const s = o.socks[0]!;
    const FLOODER = '02:00:00:00:00:66';
    for (let ms = 0; ms < 2000; ms += 10) { // 2 s: 5,000 frames a second from one MAC, a host's few from others
      for (let i = 0; i < 50; i++) s.frame(frame(Buffer.from('x')), FLOODER);
      if (ms % 500 === 0) {
        for (const h of ['02:00:00:00:00:01', '02:00:00:00:00:02']) s.frame(frame(Buffer.from('a')), h);
      }
      await clock.advance(10);
    }
    expect(from.get('02:00:00:00:00:01')).toBe(4); // every one
    expect(from.get('02:00:00:00:00:02')).toBe(4);
    expect(from.get(FLOODER)).toBeLessThanOrEqual(PER_SOURCE.burst + 2 * PER_SOURCE.perSecond + 1);
    expect(s.paused).toBe(false); // under the read cap: reading goes on
    expect(ch.health()).toMatchObject({ state: 'up', received: 10_008 });
    // and the kernel was told to drop the flooder's frames (only its own), for a while
    expect(s.filters).toEqual([dropSources([FLOODER])]);
    await clock.advance(DROP_FOR_MS);
    expect(s.filters.at(-1)).toEqual(dropSources([]));
    ch.setLink(3); // a new socket (re-plugged NIC) gets the list there is: none now
    expect(o.socks[1]!.filters).toEqual([]);
  });

  it('reads a flood from made-up MACs at a bounded rate: it stops reading for a moment and lets the kernel drop '
    + 'the rest', async () => {
    const clock = new FakeClock();
    const o = opener();
    let got = 0;
    const ch = new RawChannel({ clock, open: o.open });
    ch.onFrame(() => { got++; });
    ch.setLink(2);
    const s = o.socks[0]!;
    const mac = (i: number): string => `02:00:00:${(i >> 16) & 255}:${(i >> 8) & 255}:${i & 255}`;
    let n = 0;
    for (; n < 50_000 && !s.paused; n++) s.frame(frame(Buffer.from('x')), mac(n));
    expect(got).toBe(5000); // the burst
    expect(s.paused).toBe(true);
    await clock.advance(100);
    expect(s.paused).toBe(false); // reading again, at READ_PER_SECOND
    for (let i = 0; i < 50_000 && !s.paused; i++, n++) s.frame(frame(Buffer.from('x')), mac(n));
    expect(got).toBe(5000 + READ_PER_SECOND / 10);
    expect(ch.health().state).toBe('up');
  });
});
