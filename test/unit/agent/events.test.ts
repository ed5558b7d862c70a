// Unit: agent/events.ts: what a kernel event asks of the agent (resync, reread, repair, nothing); filter breaches.
import { describe, expect, it } from 'vitest';
import { filterBreach, kernelEventActions, type EventJudges } from '../../../src/agent/events.js';
import { NOTHING } from '../../../src/agent/actions.js';
import { Counters } from '../../../src/agent/records/counters.js';
import { UnderlayWatcher } from '../../../src/agent/underlay/watcher.js';
import { DataplaneLoop } from '../../../src/agent/loop.js';
import { parseCidr, parseIpv4, vipOf, type Cidr } from '../../../src/net/ipv4.js';
import type { KernelEvent } from '../../../src/kernel/types.js';
import { FakeClock } from '../../fakes/clock.js';
import { FakeKernel } from '../../fakes/kernel.js';
import { FakeLan } from '../../fakes/network.js';
import { captureLog } from '../../fakes/log.js';

const ip = (s: string): number => parseIpv4(s)!;
const addr = (index: number): KernelEvent => ({ type: 'addr', op: 'new', index, address: ip('10.0.0.5'), prefix: 24 });
const fdb: KernelEvent = {
  type: 'fdb', op: 'del', index: 9, mac: '02:00:00:00:00:02', dst: ip('10.0.0.7'), self: true,
};

/** judges that say what they are told, and record what they were asked */
function judges(concerns: boolean, relevant: boolean): EventJudges & { asked: KernelEvent[] } {
  const asked: KernelEvent[] = [];
  return {
    asked, counters: new Counters(),
    underlay: { concerns: (e) => { asked.push(e); return concerns; } },
    loop: { relevant: (e) => { asked.push(e); return relevant; } },
  };
}

describe('kernelEventActions', () => {
  it('a resync counts, is logged, and asks for a reread and a full run with a fresh value', () => {
    const j = judges(false, false);
    const { log, lines } = captureLog();
    const a = kernelEventActions({ type: 'resync', reason: 'ENOBUFS' }, j, log);
    expect(a).toEqual({ reread: true, reprogram: 'full' });
    expect(j.counters.kernelResyncs).toBe(1);
    expect(j.asked).toEqual([]); // nothing to judge: everything is read again
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', reason: 'ENOBUFS' });
    kernelEventActions({ type: 'resync', reason: 'reopened' }, j, log);
    expect(j.counters.kernelResyncs).toBe(2);
  });

  it('an event about the physical interface has it read again, without a repair', () => {
    const j = judges(true, false);
    const e = addr(2);
    const a = kernelEventActions(e, j, captureLog().log);
    expect(a.reread).toBe(true);
    expect(a.reprogram).toBeUndefined();
    expect(j.asked).toEqual([e, e]);
  });

  it('an event touching the dataplane asks for a repair against the value already given', () => {
    const a = kernelEventActions(fdb, judges(false, true), captureLog().log);
    expect(a.reread).toBe(false);
    expect(a.reprogram).toBe('repair');
  });

  it('an event both judges care about asks for both', () => {
    const a = kernelEventActions(addr(2), judges(true, true), captureLog().log);
    expect(a).toEqual({ reread: true, reprogram: 'repair' });
  });

  it('an event nobody cares about asks nothing, logs nothing and counts nothing', () => {
    const j = judges(false, false);
    const { log, lines } = captureLog();
    expect(kernelEventActions(fdb, j, log)).toBe(NOTHING);
    expect(j.counters.kernelResyncs).toBe(0);
    expect(lines).toEqual([]);
  });

  it('with the real judges: our NIC\'s address rereads, our bridge\'s link repairs, a stranger\'s is nothing',
    async () => {
      const clock = new FakeClock();
      const kernel = new FakeKernel();
      const { log } = captureLog();
      const counters = new Counters();
      const eth0 = kernel.addPhysical('eth0', 1500, '52:54:00:00:00:01');
      const other = kernel.addPhysical('eth1', 1500, '52:54:00:00:00:02');
      const underlay = new UnderlayWatcher({
        kernel, transport: new FakeLan(clock).join(), iface: 'eth0', clock, log, counters, retryMs: 1000,
        lastLinkLocal: undefined, onRead: () => undefined,
      });
      underlay.request();
      await underlay.idle();
      expect(underlay.snapshot.index).toBe(eth0);
      const cidr = parseCidr('100.64.192.0/24') as Cidr;
      const loop = new DataplaneLoop({
        kernel, firewall: undefined, clock, log, counters, retryMs: 1000,
        spec: {
          iface: 'eth0', bridge: 'scbr-100', vxlanDevice: 'scvx-100', vni: 100, vxlanPort: 4789,
          mac: '02:00:00:00:00:09', cidr, vip: vipOf(cidr),
        },
      });
      const j: EventJudges = { underlay, loop, counters };
      expect(kernelEventActions(addr(eth0), j, log).reread).toBe(true);
      const bridgeGone: KernelEvent = { type: 'link', op: 'del', index: 77, name: 'scbr-100' };
      expect(kernelEventActions(bridgeGone, j, log).reprogram).toBe('repair');
      expect(kernelEventActions(addr(other), j, log)).toBe(NOTHING);
      expect(kernelEventActions({ type: 'link', op: 'new', index: 78, name: 'docker0' }, j, log)).toBe(NOTHING);
    });
});

describe('filterBreach', () => {
  it('with the guard table in place, repairs and says the guard holds meanwhile', () => {
    const { log, lines } = captureLog();
    expect(filterBreach(true, log)).toBe('repair');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', code: 'E_FILTER', guarded: true });
    expect(String(lines[0]!.msg)).toContain('guard table holds');
  });

  it('without the guard, holds the overlay down and says so', () => {
    const { log, lines } = captureLog();
    expect(filterBreach(false, log)).toBe('hold-down');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', code: 'E_FILTER', guarded: false });
    expect(String(lines[0]!.msg)).toContain('overlay held down');
  });
});
