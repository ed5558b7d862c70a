// Unit: the dataplane loop (agent/loop.ts) on a fake kernel: held until release, full/fast runs, single flight, retry.
import { describe, expect, it } from 'vitest';
import { DataplaneLoop } from '../../../src/agent/loop.js';
import { Counters } from '../../../src/agent/records/counters.js';
import { desiredState, type Desired } from '../../../src/dataplane/desired.js';
import type { PeerRoute } from '../../../src/dataplane/plan.js';
import type { DataplaneSpec } from '../../../src/dataplane/reconcile.js';
import { formatIpv4, parseCidr, parseIpv4, ZERO_MAC, type Cidr, type Ipv4 } from '../../../src/net/ipv4.js';
import { bridgeMacFor } from '../../../src/state/identity.js';
import { FakeClock } from '../../fakes/clock.js';
import { FakeFirewall } from '../../fakes/firewall.js';
import { FakeKernel } from '../../fakes/kernel.js';
import { captureLog, type CapturedLog } from '../../fakes/log.js';

const ip = (s: string): Ipv4 => parseIpv4(s)!;
const CIDR = parseCidr('100.64.192.0/24') as Cidr;
const RETRY_MS = 1000;
const VERIFY_MS = 1000;
const SPEC: DataplaneSpec = {
  iface: 'eth0', bridge: 'scbr-100', vxlanDevice: 'scvx-100', vni: 100, vxlanPort: 4789,
  mac: bridgeMacFor('a'.repeat(32)), cidr: CIDR, vip: ip('100.64.192.1'),
};

/** Peer n: overlay 100.64.192.n, underlay 10.0.0.n. */
const peer = (n: number): PeerRoute => ({
  id: n.toString(16).padStart(32, '0'), overlayIp: ip(`100.64.192.${n}`), underlayIp: ip(`10.0.0.${n}`),
  mac: `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`,
});

const desired = (ns: number[], ownIp = ip('100.64.192.9')): Desired => {
  const routes = ns.map(peer);
  return desiredState({
    routes, adjacent: new Set(), trusted: new Set(routes.map((r) => r.id)), seeds: [], ownIp,
    underlay: { ip: ip('10.0.0.5'), prefix: 24 }, family: 'ipv4', linkLocal: undefined,
  });
};

interface Rig {
  loop: DataplaneLoop;
  kernel: FakeKernel;
  clock: FakeClock;
  counters: Counters;
  logs: CapturedLog;
  firewall: FakeFirewall | undefined;
  /** the underlay destinations in the VXLAN device's FDB, sorted */
  dsts(): string[];
  /** the FDB entries as "mac dst" */
  fdb(): string[];
}

async function rig(opts: { firewall?: boolean } = {}): Promise<Rig> {
  const kernel = new FakeKernel();
  const phys = kernel.addPhysical('eth0', 1500);
  await kernel.addAddr(phys, ip('10.0.0.5'), 24);
  const clock = new FakeClock();
  const counters = new Counters();
  const logs = captureLog();
  const firewall = opts.firewall ? new FakeFirewall(kernel.ops) : undefined;
  const loop = new DataplaneLoop({ kernel, spec: SPEC, firewall, clock, log: logs.log, counters, retryMs: RETRY_MS });
  const fdb = (): string[] => kernel.fdbOf('scvx-100').map((e) => `${e.mac} ${formatIpv4(e.dst as Ipv4)}`).sort();
  const dsts = (): string[] => [...new Set(kernel.fdbOf('scvx-100').map((e) => formatIpv4(e.dst as Ipv4)))].sort();
  return { loop, kernel, clock, counters, logs, firewall, fdb, dsts };
}

async function released(r: Rig, d: Desired): Promise<void> {
  r.loop.release(d);
  await r.loop.idle();
}

describe('before release', () => {
  it('changes and reads nothing, whatever it is asked', async () => {
    const r = await rig();
    const calls = r.kernel.calls;
    r.loop.set(desired([20]), 'full');
    r.loop.set(desired([20]), 'routes');
    r.loop.request();
    r.loop.holdDown();
    await r.loop.idle();
    await r.clock.advance(60_000);
    expect(r.kernel.calls).toBe(calls);
    expect(r.kernel.ops).toHaveLength(1); // the test's own addAddr
    expect(r.counters.reconciles).toBe(0);
    expect(r.loop.status.ready).toBe(false);
  });

  it('release(desired) runs a full reconcile to that value', async () => {
    const r = await rig();
    await released(r, desired([20]));
    expect(r.counters.reconciles).toBe(1);
    expect(r.kernel.link('scbr-100')).toMatchObject({ kind: 'bridge', up: true, mac: SPEC.mac });
    const master = r.kernel.link('scbr-100')!.index;
    expect(r.kernel.link('scvx-100')).toMatchObject({ kind: 'vxlan', up: true, master });
    expect(r.kernel.addrsOf('scbr-100').map((a) => formatIpv4(a.address))).toEqual(['100.64.192.9']);
    expect(r.fdb()).toEqual([`${ZERO_MAC} 10.0.0.20`, '02:00:00:00:00:14 10.0.0.20']);
    const neigh = r.kernel.neighOf('scbr-100').map((n) => [formatIpv4(n.dst), n.mac]);
    expect(neigh).toEqual([['100.64.192.20', '02:00:00:00:00:14']]);
    expect(r.loop.status).toMatchObject({
      ready: true, fdbEntries: 2, neighEntries: 1, mtu: 1450, family: 'ipv4', lastError: undefined,
    });
    expect(r.logs.lines.some((l) => l.msg === 'overlay address configured' && l.new === '100.64.192.9')).toBe(true);
  });
});

describe('runs', () => {
  it('set(d, "full") runs a full reconcile with the new value', async () => {
    const r = await rig();
    await released(r, desired([20]));
    r.loop.set(desired([30]), 'full');
    await r.loop.idle();
    expect(r.counters.reconciles).toBe(2);
    expect(r.dsts()).toEqual(['10.0.0.30']);
  });

  it('set(d, "routes") takes the fast path, then a full run verifies it about a second later', async () => {
    const r = await rig();
    await released(r, desired([20]));
    r.loop.set(desired([20, 30]), 'routes');
    await r.loop.idle();
    expect(r.dsts()).toEqual(['10.0.0.20', '10.0.0.30']);
    expect(r.counters.reconciles).toBe(1); // no full run yet
    await r.clock.advance(500);
    r.loop.set(desired([20, 30, 40]), 'routes'); // a second fast run: the verification is not pushed back
    await r.loop.idle();
    expect(r.dsts()).toEqual(['10.0.0.20', '10.0.0.30', '10.0.0.40']);
    await r.clock.advance(VERIFY_MS - 500 - 1);
    expect(r.counters.reconciles).toBe(1);
    await r.clock.advance(1);
    await r.loop.idle();
    expect(r.counters.reconciles).toBe(2);
    await r.clock.advance(10 * VERIFY_MS);
    expect(r.counters.reconciles).toBe(2);
  });

  it('set(d, "routes") turns into a full run when our own address moved', async () => {
    const r = await rig();
    await released(r, desired([20]));
    r.loop.set(desired([20], ip('100.64.192.10')), 'routes');
    await r.loop.idle();
    expect(r.counters.reconciles).toBe(2);
    expect(r.kernel.addrsOf('scbr-100').map((a) => formatIpv4(a.address))).toEqual(['100.64.192.10']);
  });

  it('single flight: values given during a run replace each other; one more run, with the newest', async () => {
    const r = await rig();
    r.loop.release(desired([20])); // in flight from here
    r.loop.set(desired([30]), 'full');
    r.loop.set(desired([40]), 'full');
    await r.loop.idle();
    expect(r.counters.reconciles).toBe(2);
    expect(r.dsts()).toEqual(['10.0.0.40']);
    expect(r.kernel.ops.some((o) => o.includes('dst 10.0.0.20'))).toBe(true); // the first run had its value
    expect(r.kernel.ops.some((o) => o.includes('10.0.0.30'))).toBe(false); // the replaced one never ran
  });

  it('want(): at once when the loop is free; during a run, a burst of wishes costs one value, taken when it is done',
    async () => {
    const r = await rig();
    await released(r, desired([20]));
    let computed = 0;
    const at = (ns: number[]) => (): Desired => { computed++; return desired(ns); };
    r.loop.want('routes', at([20, 30])); // free: computed now
    expect(computed).toBe(1);
    for (let n = 31; n < 131; n++) r.loop.want(n === 80 ? 'full' : 'routes', at([20, n])); // the run is under way
    expect(computed).toBe(1);
    await r.loop.idle();
    expect(computed).toBe(2); // only the newest
    expect(r.dsts()).toEqual(['10.0.0.130', '10.0.0.20']);
    expect(r.counters.reconciles).toBe(2); // one of the wishes was a full run
  });

  it('a wish made while a repair waits is taken by that run: one run, not the repair and another', async () => {
    const r = await rig();
    r.loop.release(desired([20])); // in flight from here
    r.loop.request(); // a repair waits for it
    r.loop.want('full', () => desired([30]));
    await r.loop.idle();
    expect(r.counters.reconciles).toBe(2);
    expect(r.dsts()).toEqual(['10.0.0.30']);
  });

  it('request() re-runs a full reconcile against the last value (the kernel drifted)', async () => {
    const r = await rig();
    await released(r, desired([20]));
    const vx = r.loop.status.vxlanIndex!;
    r.kernel.removeFdb(vx, { mac: '02:00:00:00:00:14', dst: ip('10.0.0.20') }); // by hand
    expect(r.fdb()).toEqual([`${ZERO_MAC} 10.0.0.20`]);
    r.loop.request();
    await r.loop.idle();
    expect(r.counters.reconciles).toBe(2);
    expect(r.fdb()).toEqual([`${ZERO_MAC} 10.0.0.20`, '02:00:00:00:00:14 10.0.0.20']);
  });
});

describe('failures', () => {
  it('a failed operation is logged and counted, and a full run retries after retryMs', async () => {
    const r = await rig();
    r.kernel.failNext('bridge fdb append', 'EIO');
    await released(r, desired([20]));
    expect(r.loop.status).toMatchObject({ ready: false, lastError: '1 dataplane operation(s) failed' });
    expect(r.counters.reconcileErrors).toBe(1);
    expect(r.logs.lines.filter((l) => l.msg === 'dataplane operation failed')).toHaveLength(1);
    expect(r.fdb()).toEqual(['02:00:00:00:00:14 10.0.0.20']);
    await r.clock.advance(RETRY_MS - 1);
    expect(r.counters.reconciles).toBe(1);
    await r.clock.advance(1);
    await r.loop.idle();
    expect(r.counters.reconciles).toBe(2);
    expect(r.fdb()).toEqual([`${ZERO_MAC} 10.0.0.20`, '02:00:00:00:00:14 10.0.0.20']);
    expect(r.loop.status).toMatchObject({ ready: true, lastError: undefined });
    await r.clock.advance(10 * RETRY_MS);
    expect(r.counters.reconciles).toBe(2); // nothing more to retry
  });

  it('a run that throws keeps the error in the status and is retried after retryMs', async () => {
    const r = await rig();
    r.kernel.failNext('get link eth0', 'EIO');
    await released(r, desired([20]));
    expect(r.loop.status.lastError).toBe('get link eth0: EIO');
    expect(r.counters.reconcileErrors).toBe(1);
    expect(r.logs.lines.filter((l) => l.msg === 'reconcile failed; retrying')).toHaveLength(1);
    expect(r.kernel.link('scbr-100')).toBeUndefined();
    await r.clock.advance(RETRY_MS);
    await r.loop.idle();
    expect(r.loop.status.ready).toBe(true);
    expect(r.dsts()).toEqual(['10.0.0.20']);
  });

  it('waits for a missing physical interface, logging it once', async () => {
    const kernel = new FakeKernel();
    const logs = captureLog();
    const loop = new DataplaneLoop({
      kernel, spec: SPEC, firewall: undefined, clock: new FakeClock(), log: logs.log, counters: new Counters(),
      retryMs: RETRY_MS,
    });
    loop.release(desired([20]));
    await loop.idle();
    loop.request();
    await loop.idle();
    expect(logs.lines.filter((l) => l.code === 'E_INTERFACE')).toHaveLength(1);
    expect(loop.status.ready).toBe(false);
    expect(kernel.ops).toEqual([]);
  });
});

describe('holdDown', () => {
  it('takes the VXLAN device down at once, then reconciles (up again with the filter in force)', async () => {
    const r = await rig();
    await released(r, desired([20]));
    const from = r.kernel.ops.length;
    r.loop.holdDown();
    await r.loop.idle();
    const ops = r.kernel.ops.slice(from);
    expect(ops[0]).toBe('ip link set scvx-100 up false');
    expect(ops.at(-1)).toBe('ip link set scvx-100 up true');
    expect(r.counters.reconciles).toBe(2);
  });

  it('keeps the device down while the filter cannot be put back (fail closed)', async () => {
    const r = await rig({ firewall: true });
    await released(r, desired([20]));
    expect(r.kernel.link('scvx-100')!.up).toBe(true);
    r.firewall!.failNext(3);
    r.loop.holdDown();
    await r.loop.idle();
    expect(r.kernel.link('scvx-100')!.up).toBe(false);
    expect(r.loop.status.ready).toBe(false);
    expect(r.loop.status.lastError).toMatch(/fail closed/);
  });
});

describe('relevant', () => {
  it('judges kernel events against the devices and the entries last wanted', async () => {
    const r = await rig();
    await released(r, desired([20]));
    const { vxlanIndex: vx, bridgeIndex: br, physIndex: phys } = r.loop.status;
    const fdb = (op: 'new' | 'del', mac: string, dst: string, index = vx!) =>
      ({ type: 'fdb' as const, op, index, mac, dst: ip(dst), self: true });
    expect(r.loop.relevant(fdb('del', ZERO_MAC, '10.0.0.20'))).toBe(true); // one of ours went
    expect(r.loop.relevant(fdb('new', ZERO_MAC, '10.0.0.20'))).toBe(false); // our own change
    expect(r.loop.relevant(fdb('new', '02:00:00:00:00:99', '10.0.0.99'))).toBe(true); // someone else's entry
    expect(r.loop.relevant(fdb('del', ZERO_MAC, '10.0.0.20', vx! + 100))).toBe(false);
    expect(r.loop.relevant({ type: 'link', op: 'new', index: phys!, name: 'eth0' })).toBe(true);
    expect(r.loop.relevant({ type: 'link', op: 'del', index: 99, name: 'wlan0' })).toBe(false);
    const addr = (address: string) =>
      ({ type: 'addr' as const, op: 'del' as const, index: br!, address: ip(address), prefix: 24 });
    expect(r.loop.relevant(addr('100.64.192.9'))).toBe(true);
    expect(r.loop.relevant(addr('192.168.1.1'))).toBe(false);
    const neigh = (op: 'new' | 'del', mac: string | undefined, permanent: boolean) =>
      ({ type: 'neigh' as const, op, index: br!, dst: ip('100.64.192.20'), mac, permanent });
    expect(r.loop.relevant(neigh('del', undefined, false))).toBe(true);
    expect(r.loop.relevant(neigh('new', '02:00:00:00:00:14', true))).toBe(false); // ours, as we set it
    expect(r.loop.relevant(neigh('new', '02:00:00:00:00:99', true))).toBe(true); // changed by someone
    expect(r.loop.relevant({ type: 'resync', reason: 'overrun' })).toBe(true);
    r.loop.set(desired([30]), 'full');
    await r.loop.idle();
    expect(r.loop.relevant(fdb('del', ZERO_MAC, '10.0.0.20'))).toBe(false); // not wanted any more
    expect(r.loop.relevant(fdb('del', ZERO_MAC, '10.0.0.30'))).toBe(true);
  });
});

describe('stop', () => {
  it('ends retries and verifications, and nothing new runs', async () => {
    const r = await rig();
    await released(r, desired([20]));
    r.loop.set(desired([20, 30]), 'routes'); // arms the verification
    await r.loop.idle();
    r.kernel.failNext('bridge fdb append', 'EIO');
    r.loop.set(desired([20, 30, 50]), 'full'); // fails: arms the retry
    await r.loop.idle();
    expect(r.counters.reconcileErrors).toBe(1);
    expect(r.clock.pending).toBe(2);
    const calls = r.kernel.calls;
    r.loop.stop();
    await r.clock.advance(10 * RETRY_MS);
    r.loop.request();
    r.loop.set(desired([40]), 'full');
    r.loop.set(desired([40]), 'routes');
    await r.loop.idle();
    expect(r.kernel.calls).toBe(calls);
    expect(r.clock.pending).toBe(0);
  });
});
