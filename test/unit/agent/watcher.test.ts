// Unit: the physical interface as the underlay watcher reads it (agent/underlay/watcher.ts), and underlayActions().
import { describe, expect, it, vi } from 'vitest';
import {
  addressOf, onLan, underlayActions, UnderlayWatcher, unreadUnderlay, type UnderlayRead, type UnderlaySnapshot,
} from '../../../src/agent/underlay/watcher.js';
import { Counters } from '../../../src/agent/records/counters.js';
import type { KernelEvent } from '../../../src/kernel/types.js';
import { parseIpv4, type Ipv4 } from '../../../src/net/ipv4.js';
import { linkLocalFromMac, parseIpv6, type Ipv6 } from '../../../src/net/ipv6.js';
import { FakeClock } from '../../fakes/clock.js';
import { FakeKernel } from '../../fakes/kernel.js';
import { captureLog, type CapturedLog } from '../../fakes/log.js';
import { FakeLan } from '../../fakes/network.js';

const ip = (s: string): Ipv4 => parseIpv4(s)!;
const ll = (s: string): Ipv6 => parseIpv6(s)!;
const MAC = '52:54:00:00:00:01';
const EUI = linkLocalFromMac(MAC);
const RETRY_MS = 1000;

interface Rig {
  w: UnderlayWatcher;
  kernel: FakeKernel;
  index: number;
  /** what the watcher pointed the transport at, call by call */
  transport: { readonly links: (number | undefined)[]; readonly sources: (string | undefined)[] };
  clock: FakeClock;
  counters: Counters;
  logs: CapturedLog;
  reads: UnderlayRead[];
  /** requests a read and waits for it */
  read(): Promise<UnderlayRead | undefined>;
}

async function rig(opts: { addr?: string; lastLinkLocal?: Ipv6; noNic?: boolean } = {}): Promise<Rig> {
  const kernel = new FakeKernel();
  const index = opts.noNic ? 0 : kernel.addPhysical('eth0', 1500, MAC);
  if (opts.addr !== undefined) await kernel.addAddr(index, ip(opts.addr), 24);
  const clock = new FakeClock();
  const transport = new FakeLan(clock).join();
  const setLink = vi.spyOn(transport, 'setLink');
  const setSource = vi.spyOn(transport, 'setSource');
  const counters = new Counters();
  const logs = captureLog();
  const reads: UnderlayRead[] = [];
  const w = new UnderlayWatcher({
    kernel, transport, iface: 'eth0', clock, log: logs.log, counters, retryMs: RETRY_MS,
    lastLinkLocal: opts.lastLinkLocal,
    onRead: (r) => reads.push(r),
  });
  const read = async (): Promise<UnderlayRead | undefined> => {
    const n = reads.length;
    w.request();
    await w.idle();
    return reads.length > n ? reads.at(-1) : undefined;
  };
  const pointed: Rig['transport'] = {
    get links() { return setLink.mock.calls.map(([i]) => i); },
    get sources() { return setSource.mock.calls.map(([a]) => a); },
  };
  return { w, kernel, index, transport: pointed, clock, counters, logs, reads, read };
}

const logged = (r: Rig, msg: string): Record<string, unknown>[] => r.logs.lines.filter((l) => l.msg === msg);

describe('the snapshot', () => {
  it('before the first read: no interface, carrier assumed, IPv6 unknown, an earlier run\'s link-local', async () => {
    const r = await rig({ lastLinkLocal: ll('fe80::7') });
    expect(r.w.snapshot).toEqual({
      index: undefined, mac: undefined, ip: undefined, prefix: undefined, carrier: true, ipv6: 'unknown',
      linkLocal: undefined, lastLinkLocal: ll('fe80::7'),
    });
    expect(r.w.snapshot).toEqual(unreadUnderlay(ll('fe80::7')));
  });

  it('holds index, MAC, IPv4 address and prefix, carrier, IPv6 state and the link-local address, frozen', async () => {
    const r = await rig({ addr: '10.0.0.5' });
    const read = (await r.read())!;
    const want: UnderlaySnapshot = {
      index: r.index, mac: MAC, ip: ip('10.0.0.5'), prefix: 24, carrier: true, ipv6: 'on', linkLocal: EUI,
      lastLinkLocal: EUI, lastAddress: { ip: ip('10.0.0.5'), prefix: 24 },
    };
    expect(read.snapshot).toEqual(want);
    expect(r.w.snapshot).toBe(read.snapshot);
    expect(Object.isFrozen(read.snapshot)).toBe(true);
    expect(read.change).toEqual({ old: undefined, next: ip('10.0.0.5') });
    expect(read.linkLocal).toBe(EUI);
    expect(read.linkLocalMoved).toBe(false); // the first one known is no renumbering
    expect(read.ipv6Changed).toBe(true); // unknown -> on
    expect(read.carrierBack).toBe(false);
    expect(r.counters.underlayChangesOwn).toBe(0); // none -> an address is not a renumbering
    expect(addressOf(read.snapshot)).toEqual({ ip: ip('10.0.0.5'), prefix: 24 });
    expect(onLan(read.snapshot, ip('10.0.0.200'))).toBe(true);
    expect(onLan(read.snapshot, ip('10.0.1.5'))).toBe(false);
  });

  it('reports a missing interface as no index, no carrier and IPv6 unknown', async () => {
    const r = await rig({ noNic: true });
    const read = (await r.read())!;
    expect(read.snapshot).toMatchObject({
      index: undefined, mac: undefined, ip: undefined, carrier: false, ipv6: 'unknown', linkLocal: undefined,
    });
    expect(addressOf(read.snapshot)).toBeUndefined();
    expect(onLan(read.snapshot, ip('10.0.0.1'))).toBe(false);
    expect(logged(r, 'physical link lost carrier (cable, switch or NIC down)')).toHaveLength(1);
  });

  it('reports IPv6 off (disable_ipv6) and dad-failed link-local addresses, with no link-local address', async () => {
    const r = await rig({ addr: '10.0.0.5' });
    await r.read();
    r.kernel.ipv6.setDisabled('eth0', true);
    let read = (await r.read())!;
    expect(read.snapshot.ipv6).toBe('off');
    expect(read.snapshot.linkLocal).toBeUndefined();
    expect(read.snapshot.lastLinkLocal).toBe(EUI); // kept: it comes back the same
    expect(read.ipv6Changed).toBe(true);
    expect(logged(r, 'IPv6 on the physical interface changed state').at(-1)).toMatchObject({ old: 'on', new: 'off' });
    r.kernel.ipv6.setDisabled('eth0', false);
    r.kernel.ipv6.setLinkLocal('eth0', ll('fe80::99'), { tentative: true });
    r.kernel.ipv6.completeDad('eth0', ll('fe80::99'), true);
    read = (await r.read())!;
    expect(read.snapshot.ipv6).toBe('dad-failed');
    expect(read.snapshot.linkLocal).toBeUndefined();
    expect(read.linkLocalMoved).toBe(false);
  });
});

describe('the IPv4 address', () => {
  it('keeps the address it already has while it exists, even when another one is listed first', async () => {
    const r = await rig({ addr: '10.0.0.5' });
    await r.read();
    r.kernel.removeAddr(r.index, ip('10.0.0.5'), 24);
    await r.kernel.addAddr(r.index, ip('192.168.7.9'), 24);
    await r.kernel.addAddr(r.index, ip('10.0.0.5'), 24); // now listed second
    const read = (await r.read())!;
    expect(read.snapshot.ip).toBe(ip('10.0.0.5'));
    expect(read.change).toBeUndefined();
    // a fresh watcher picks the first primary one
    const fresh = new UnderlayWatcher({
      kernel: r.kernel, transport: new FakeLan(r.clock).join(), iface: 'eth0', clock: r.clock, log: r.logs.log,
      counters: new Counters(), retryMs: RETRY_MS, lastLinkLocal: undefined, onRead: () => undefined,
    });
    fresh.request();
    await fresh.idle();
    expect(fresh.snapshot.ip).toBe(ip('192.168.7.9'));
  });

  it('skips 169.254/16 addresses', async () => {
    const r = await rig();
    await r.kernel.addAddr(r.index, ip('169.254.3.4'), 16);
    expect((await r.read())!.snapshot.ip).toBeUndefined();
    await r.kernel.addAddr(r.index, ip('10.0.0.5'), 24);
    const read = (await r.read())!;
    expect(read.snapshot).toMatchObject({ ip: ip('10.0.0.5'), prefix: 24 });
  });

  it('reports a renumbering (counted and logged) and a lost address (logged, not counted)', async () => {
    const r = await rig({ addr: '10.0.0.5' });
    await r.read();
    r.kernel.removeAddr(r.index, ip('10.0.0.5'), 24);
    await r.kernel.addAddr(r.index, ip('10.0.0.6'), 24);
    let read = (await r.read())!;
    expect(read.change).toEqual({ old: ip('10.0.0.5'), next: ip('10.0.0.6') });
    expect(r.counters.underlayChangesOwn).toBe(1);
    expect(logged(r, 'underlay address changed; announcing').at(-1))
      .toMatchObject({ old: '10.0.0.5', new: '10.0.0.6', ifname: 'eth0' });
    r.kernel.removeAddr(r.index, ip('10.0.0.6'), 24);
    read = (await r.read())!;
    expect(read.change).toEqual({ old: ip('10.0.0.6'), next: undefined });
    expect(r.counters.underlayChangesOwn).toBe(1);
    expect(logged(r, 'underlay address lost; waiting for a new one')).toHaveLength(1);
    expect(read.snapshot.lastAddress).toEqual({ ip: ip('10.0.0.6'), prefix: 24 }); // kept while there is none
    read = (await r.read())!;
    expect(read.change).toBeUndefined();
  });

  // The same address with a new prefix (a DHCP lease with another netmask, added before the old one goes) moves the
  // subnet: the Desired value depends on it (which peers need on-link /32 routes, the filter's `lan`).
  it('reports a new prefix on the same address, so the dataplane follows the new subnet', async () => {
    const r = await rig({ addr: '10.0.0.5' });
    await r.read();
    await r.kernel.addAddr(r.index, ip('10.0.0.5'), 16);
    r.kernel.removeAddr(r.index, ip('10.0.0.5'), 24);
    const read = (await r.read())!;
    expect(read.snapshot).toMatchObject({ ip: ip('10.0.0.5'), prefix: 16 }); // the snapshot has it
    expect(underlayActions(read).reprogram).toBe('full');
  });
});

describe('carrier', () => {
  it('reports carrierBack once, when the link is up with carrier again', async () => {
    const r = await rig({ addr: '10.0.0.5' });
    await r.read();
    r.kernel.setCable('eth0', false);
    let read = (await r.read())!;
    expect(read.snapshot.carrier).toBe(false);
    expect(read.carrierBack).toBe(false);
    expect(logged(r, 'physical link lost carrier (cable, switch or NIC down)')).toHaveLength(1);
    r.kernel.setCable('eth0', true);
    read = (await r.read())!;
    expect(read.snapshot.carrier).toBe(true);
    expect(read.carrierBack).toBe(true);
    expect(logged(r, 'physical link has carrier again; announcing')).toHaveLength(1);
    expect((await r.read())!.carrierBack).toBe(false);
  });
});

describe('the link-local address', () => {
  it('is not a move when the same one comes back after the link was down', async () => {
    const r = await rig({ addr: '10.0.0.5' });
    await r.read();
    await r.kernel.setLink(r.index, { up: false });
    let read = (await r.read())!;
    expect(read.snapshot).toMatchObject({ carrier: false, linkLocal: undefined, lastLinkLocal: EUI });
    await r.kernel.setLink(r.index, { up: true });
    read = (await r.read())!;
    expect(read.snapshot.linkLocal).toBe(EUI);
    expect(read.linkLocal).toBeUndefined();
    expect(read.linkLocalMoved).toBe(false);
    expect(read.carrierBack).toBe(true);
    expect(r.counters.underlayChangesOwn).toBe(0);
  });

  it('moves when a different one replaces a known one: counted and logged', async () => {
    const r = await rig({ addr: '10.0.0.5' });
    await r.read();
    r.kernel.ipv6.setLinkLocal('eth0', ll('fe80::42'));
    const read = (await r.read())!;
    expect(read.linkLocal).toBe(ll('fe80::42'));
    expect(read.linkLocalMoved).toBe(true);
    expect(read.snapshot.lastLinkLocal).toBe(ll('fe80::42'));
    expect(r.counters.underlayChangesOwn).toBe(1);
    expect(logged(r, 'link-local address changed; announcing').at(-1)).toMatchObject({ old: EUI, new: 'fe80::42' });
  });

  it('moves when it differs from an earlier run\'s (deps.lastLinkLocal), and not when it is the same', async () => {
    const moved = await rig({ addr: '10.0.0.5', lastLinkLocal: ll('fe80::dead') });
    const a = (await moved.read())!;
    expect(a.linkLocal).toBe(EUI);
    expect(a.linkLocalMoved).toBe(true);
    expect(moved.counters.underlayChangesOwn).toBe(1);
    const same = await rig({ addr: '10.0.0.5', lastLinkLocal: EUI });
    const b = (await same.read())!;
    expect(b.linkLocal).toBeUndefined();
    expect(b.linkLocalMoved).toBe(false);
    expect(b.snapshot.linkLocal).toBe(EUI);
  });

  it('prefers the address it had when the interface holds several', async () => {
    const r = await rig({ addr: '10.0.0.5', lastLinkLocal: ll('fe80::2') });
    r.kernel.ipv6.add('eth0', ll('fe80::2'), 64, { nodad: true }); // listed after the EUI-64 one
    const read = (await r.read())!;
    expect(read.snapshot.linkLocal).toBe(ll('fe80::2'));
    expect(read.linkLocalMoved).toBe(false);
  });
});

describe('the transport', () => {
  it('is pointed at the interface on every read, changed or not', async () => {
    const r = await rig({ addr: '10.0.0.5' });
    await r.read();
    await r.read();
    expect(r.transport.links).toEqual([r.index, r.index]);
    expect(r.transport.sources).toEqual(['10.0.0.5', '10.0.0.5']);
    r.kernel.removeAddr(r.index, ip('10.0.0.5'), 24);
    await r.read();
    expect(r.transport.sources.at(-1)).toBeUndefined();
    expect(r.transport.sources).toHaveLength(3);
  });
});

describe('failures and lifecycle', () => {
  it('retries a failed read after retryMs, and logs it', async () => {
    const r = await rig({ addr: '10.0.0.5' });
    r.kernel.failNext('dump addresses', 'EIO');
    expect(await r.read()).toBeUndefined();
    expect(logged(r, 'reading the underlay address failed; retrying')).toHaveLength(1);
    expect(r.transport.links).toEqual([]);
    await r.clock.advance(RETRY_MS - 1);
    expect(r.reads).toHaveLength(0);
    await r.clock.advance(1);
    await r.w.idle();
    expect(r.reads).toHaveLength(1);
    expect(r.reads[0]!.snapshot.ip).toBe(ip('10.0.0.5'));
  });

  it('reads nothing after stop(), and cancels a pending retry', async () => {
    const r = await rig({ addr: '10.0.0.5' });
    r.kernel.failNext('get link eth0', 'EIO');
    await r.read();
    r.w.stop();
    await r.clock.advance(5 * RETRY_MS);
    expect(await r.read()).toBeUndefined();
    expect(r.reads).toEqual([]);
    expect(r.kernel.calls).toBe(1 + 1); // addAddr, the failed read
  });

  it('concerns() picks the physical interface\'s events', async () => {
    const r = await rig({ addr: '10.0.0.5' });
    // by name before the first read
    expect(r.w.concerns({ type: 'link', op: 'new', index: 99, name: 'eth0' })).toBe(true);
    await r.read();
    expect(r.w.concerns({ type: 'addr', op: 'new', index: r.index, address: ip('10.0.0.9'), prefix: 24 })).toBe(true);
    const addr6: KernelEvent = {
      type: 'addr6', op: 'del', index: r.index, address: EUI, prefix: 64, tentative: false, dadFailed: false,
    };
    expect(r.w.concerns(addr6)).toBe(true);
    expect(r.w.concerns({ type: 'link', op: 'new', index: r.index, name: undefined })).toBe(true);
    expect(r.w.concerns({ type: 'addr', op: 'new', index: r.index + 1, address: ip('10.0.0.9'), prefix: 24 }))
      .toBe(false);
    expect(r.w.concerns({ type: 'link', op: 'new', index: r.index + 1, name: 'scbr-100' })).toBe(false);
    expect(r.w.concerns({ type: 'resync', reason: 'overrun' })).toBe(false);
  });
});

describe('underlayActions', () => {
  const snapshot = unreadUnderlay(undefined);
  const read = (over: Partial<UnderlayRead>): UnderlayRead => ({
    snapshot, change: undefined, linkLocal: undefined, linkLocalMoved: false, prefixChanged: false, ipv6Changed: false,
    carrierBack: false,
    ...over,
  });

  it('asks nothing when nothing changed', () => {
    expect(underlayActions(read({}))).toEqual({ fresh: false, burst: false, family: false, reprogram: undefined });
  });

  it('a new IPv4 address: fresh announcements now, and a full reprogram', () => {
    expect(underlayActions(read({ change: { old: ip('10.0.0.5'), next: ip('10.0.0.6') } })))
      .toEqual({ fresh: true, burst: true, family: false, reprogram: 'full' });
    expect(underlayActions(read({ change: { old: undefined, next: ip('10.0.0.6') } })))
      .toEqual({ fresh: true, burst: true, family: false, reprogram: 'full' });
  });

  it('a lost IPv4 address: only the peers\' part follows (on-link routes), nothing announced', () => {
    expect(underlayActions(read({ change: { old: ip('10.0.0.5'), next: undefined } })))
      .toEqual({ fresh: false, burst: false, family: false, reprogram: 'routes' });
    expect(underlayActions(read({ change: { old: undefined, next: ip('10.0.0.5') } })).reprogram).toBe('full');
  });

  it('carrier back: fresh announcements, no reprogram', () => {
    expect(underlayActions(read({ carrierBack: true })))
      .toEqual({ fresh: true, burst: true, family: false, reprogram: undefined });
  });

  it('IPv6 changed state: a burst and the family choice again, not fresh', () => {
    expect(underlayActions(read({ ipv6Changed: true })))
      .toEqual({ fresh: false, burst: true, family: true, reprogram: undefined });
  });

  it('a first link-local address: the family choice again only', () => {
    expect(underlayActions(read({ linkLocal: EUI })))
      .toEqual({ fresh: false, burst: false, family: true, reprogram: undefined });
  });

  it('a moved link-local address: fresh announcements, the family choice and a full reprogram', () => {
    expect(underlayActions(read({ linkLocal: EUI, linkLocalMoved: true })))
      .toEqual({ fresh: true, burst: true, family: true, reprogram: 'full' });
  });
});
