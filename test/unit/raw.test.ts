// Unit: the raw L2 channel's socket life: an error closes the socket, a link
// event (setLink) reopens it at once, a timer retries with backoff meanwhile;
// health says what is going on.
import { describe, expect, it } from 'vitest';
import { RawChannel, frame, type RawOpener } from '../../src/discovery/raw.js';
import type { PacketSocket } from '../../src/native/addon.js';
import { FakeClock } from '../fakes/clock.js';

interface Sock {
  index: number; closed: boolean; paused: boolean; frame: (f: Buffer, mac: string) => void;
  error: (errno: number) => void;
}

function opener(): { open: RawOpener; socks: Sock[]; refuse: { n: number } } {
  const socks: Sock[] = [];
  const refuse = { n: 0 };
  const open: RawOpener = (index, onFrame, onError) => {
    if (refuse.n > 0) { refuse.n--; throw new Error('cannot open a packet socket on ifindex 2: EPERM'); }
    const s: Sock = { index, closed: false, paused: false, frame: onFrame, error: onError };
    socks.push(s);
    const sock: PacketSocket = { send: () => 0, close: () => { s.closed = true; }, pause: () => { s.paused = true; },
      resume: () => { s.paused = false; } };
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

  it('reads a flood of frames at a bounded rate: it stops reading for a moment and lets the kernel drop the rest',
    async () => {
    const clock = new FakeClock();
    const o = opener();
    let got = 0;
    const ch = new RawChannel({ clock, open: o.open });
    ch.onFrame(() => { got++; });
    ch.setLink(2);
    const s = o.socks[0]!;
    for (let i = 0; i < 5000 && !s.paused; i++) s.frame(frame(Buffer.from('x')), '02:00:00:00:00:66');
    expect(got).toBe(1000); // the burst
    expect(s.paused).toBe(true);
    await clock.advance(100);
    expect(s.paused).toBe(false); // reading again, at 2,000 frames a second
    for (let i = 0; i < 5000 && !s.paused; i++) s.frame(frame(Buffer.from('x')), '02:00:00:00:00:66');
    expect(got).toBe(1200);
    expect(ch.health().state).toBe('up');
  });
});
