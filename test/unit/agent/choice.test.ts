// Unit: the underlay family choice kept current (agent/underlay/choice.ts): evaluate()'s reports, the verdict timer.
import { describe, expect, it } from 'vitest';
import { UnderlayChoice } from '../../../src/agent/underlay/choice.js';
import { NOTHING, type Actions } from '../../../src/agent/actions.js';
import { Counters } from '../../../src/agent/records/counters.js';
import { parseIpv6, type Ipv6 } from '../../../src/net/ipv6.js';
import type { OwnFacts, PeerFacts } from '../../../src/policy/family.js';
import { Caps } from '../../../src/wire/messages.js';
import { FakeClock } from '../../fakes/clock.js';
import { captureLog, type CapturedLog } from '../../fakes/log.js';

const ll = (s: string): Ipv6 => parseIpv6(s)!;
const OWN: OwnFacts = { setting: 'auto', ipv6: 'on', linkLocal: ll('fe80::1'), seeds: false };
const able = (id: string): PeerFacts =>
  ({ id, caps: Caps.linkLocal, linkLocal: ll('fe80::2'), l2: 'yes', ready: true });
const unable = (id: string): PeerFacts => ({ id, caps: 0, linkLocal: undefined, l2: 'yes', ready: false });

function rig(): { c: UnderlayChoice; clock: FakeClock; counters: Counters; logs: CapturedLog; emitted: Actions[] } {
  const clock = new FakeClock();
  const counters = new Counters();
  const logs = captureLog();
  const emitted: Actions[] = [];
  const c = new UnderlayChoice({ clock, log: logs.log, counters, emit: (a) => emitted.push(a) });
  return { c, clock, counters, logs, emitted };
}

describe('evaluate', () => {
  it('reports nothing on the first evaluation, whatever it chooses, and logs the choice', () => {
    const r = rig();
    expect(r.c.evaluated).toBe(false);
    expect(r.c.current.family).toBe('ipv4'); // not read yet
    expect(r.c.evaluate(OWN, [able('b'.repeat(32))], undefined)).toBe(NOTHING);
    expect(r.c.evaluated).toBe(true);
    expect(r.c.current.family).toBe('link-local');
    expect(r.c.isReady).toBe(true);
    expect(r.counters.familySwitches).toBe(0);
    expect(r.c.changedAt).toBeUndefined();
    expect(r.logs.lines.filter((l) => l.msg === 'underlay: IPv6 link-local')).toHaveLength(1);
  });

  it('reports nothing when the inputs change but neither the family nor the readiness does', () => {
    const r = rig();
    r.c.evaluate(OWN, [], undefined);
    expect(r.c.evaluate(OWN, [able('b'.repeat(32)), able('c'.repeat(32))], undefined)).toBe(NOTHING);
  });

  it('a family change: a full reprogram and a burst (readiness went with it), counted and dated', async () => {
    const r = rig();
    r.c.evaluate(OWN, [], undefined);
    await r.clock.advance(5000);
    const a = r.c.evaluate(OWN, [unable('b'.repeat(32))], undefined);
    expect(a).toEqual({ burst: true, reprogram: 'full' });
    expect(r.c.current.family).toBe('ipv4');
    expect(r.c.isReady).toBe(false);
    expect(r.counters.familySwitches).toBe(1);
    expect(r.c.changedAt).toBe(r.clock.now());
    expect(r.logs.lines.filter((l) => l.msg === 'underlay family changes; rebuilding the VXLAN device').at(-1))
      .toMatchObject({ old: 'link-local', new: 'ipv4' });
    expect(r.c.evaluate(OWN, [unable('b'.repeat(32))], undefined)).toBe(NOTHING);
  });

  it('a family change without a readiness change: a full reprogram, no burst', () => {
    const r = rig();
    r.c.evaluate(OWN, [able('b'.repeat(32))], undefined);
    // the peer says it is not ready (it knows a host that cannot): we use IPv4 but stay ready ourselves
    const a = r.c.evaluate(OWN, [{ ...able('b'.repeat(32)), ready: false }], undefined);
    expect(a).toEqual({ burst: false, reprogram: 'full' });
    expect(r.c.isReady).toBe(true);
    expect(r.counters.familySwitches).toBe(1);
  });

  it('a readiness change alone: a burst, no reprogram, no family switch', () => {
    const r = rig();
    const forced: OwnFacts = { ...OWN, setting: 'ipv6-link-local' };
    r.c.evaluate(forced, [], undefined);
    expect(r.c.isReady).toBe(true);
    const a = r.c.evaluate(forced, [unable('b'.repeat(32))], undefined);
    expect(a).toEqual({ burst: true, reprogram: undefined });
    expect(r.c.current.family).toBe('link-local');
    expect(r.c.isReady).toBe(false);
    expect(r.counters.familySwitches).toBe(0);
    expect(r.c.changedAt).toBeUndefined();
  });
});

describe('the verdict timer', () => {
  it('emits { family: true } once the pending verdict is due', async () => {
    const r = rig();
    r.c.evaluate(OWN, [], r.clock.monotonic() + 12_000);
    await r.clock.advance(12_000);
    expect(r.emitted).toEqual([]);
    await r.clock.advance(1);
    expect(r.emitted).toEqual([{ family: true }]);
    await r.clock.advance(60_000);
    expect(r.emitted).toHaveLength(1);
  });

  it('is re-armed by each evaluation, and cancelled by one with nothing pending or by stop()', async () => {
    const r = rig();
    r.c.evaluate(OWN, [], r.clock.monotonic() + 1000);
    r.c.evaluate(OWN, [], r.clock.monotonic() + 5000);
    await r.clock.advance(1001);
    expect(r.emitted).toEqual([]); // the first one was replaced
    r.c.evaluate(OWN, [], undefined);
    await r.clock.advance(10_000);
    expect(r.emitted).toEqual([]);
    r.c.evaluate(OWN, [], r.clock.monotonic() + 1000);
    r.c.stop();
    await r.clock.advance(10_000);
    expect(r.emitted).toEqual([]);
    expect(r.clock.pending).toBe(0);
  });

  it('fires soon for a verdict already due', async () => {
    const r = rig();
    r.c.evaluate(OWN, [], r.clock.monotonic() - 50);
    await r.clock.advance(1);
    expect(r.emitted).toEqual([{ family: true }]);
  });
});
