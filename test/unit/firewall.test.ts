// Unit: the nftables ingress filter and its guard table — rules, installs and updates, breaches, netlink messages.
import { describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { NftGuard, guardScript } from '../../src/firewall/guard.js';
import { NftFirewall, setScript, tableScript, type TableMonitor } from '../../src/firewall/nft.js';
import { SHAPE } from '../../src/firewall/script.js';
import type { FilterSpec } from '../../src/firewall/types.js';
import { parseNftChange, setBatch } from '../../src/kernel/netlink/nftables.js';
import { parseCidr, parseIpv4, type Cidr } from '../../src/net/ipv4.js';
import { ipv6ToBytes, parseIpv6 } from '../../src/net/ipv6.js';
import { FakeClock, flush } from '../fakes/clock.js';

const ip = (s: string): number => parseIpv4(s)!;
const options = { iface: 'eth0', vxlanPort: 4789, vni: 100, discoveryPort: 9477 };
const spec = (peers: string[], senders: string[] = [], lan = '10.0.0.0/24'): FilterSpec =>
  ({ peers: peers.map(ip), peers6: [], senders: senders.map(ip), lan: parseCidr(lan) as Cidr });

describe('nftables filter', () => {
  it('declares one idempotent inet table: our VNI only, any destination type, only from peers on the physical NIC',
    () => {
    const t = tableScript(options, spec(['10.0.0.2', '10.0.0.3'], ['10.5.0.9']));
    expect(t).toContain('flush table inet edge_overlay');
    expect(t).toContain('delete table ip edge_overlay'); // releases before 0.2 kept an ip table
    expect(t).toContain('udp dport 4789 @th,96,24 100 fib daddr type { local, broadcast, multicast } jump vxlan');
    expect(t).toContain('iifname != "eth0" counter name dropped drop'); // a pod, loopback, a second NIC: never
    // broadcast or multicast: never from a peer
    expect(t).toContain('fib daddr type != local counter name dropped drop');
    expect(t).toContain('ip saddr @peers accept');
    expect(t).toContain('add element inet edge_overlay peers { 10.0.0.2, 10.0.0.3 }');
    // discovery: the physical NIC, our LAN and known hosts, at a bounded rate
    expect(t).toContain('udp dport 9477 jump discovery');
    // strangers: a trickle
    expect(t).toMatch(/ip saddr != @senders limit rate over 50\/second .* counter name discovery_dropped drop/);
    expect(t).toMatch(/update @discovery_rate \{ ip saddr limit rate over \d+\/second/);
    expect(t).toContain('add element inet edge_overlay senders { 10.0.0.0/24, 10.5.0.9 }');
    // no peers: nobody may send VXLAN
    expect(setScript(spec([]), { peers: true, senders: false })).toBe('flush set inet edge_overlay peers\n');
  });

  it('installs with nft once, then updates the peers through the fast writer, '
    + 'and reinstalls the whole table when that fails', async () => {
    const calls: string[] = [];
    let gone = false;
    const run = async (args: string[], input?: string): Promise<string> => {
      calls.push(`${args.join(' ')}${input ? `: ${input.split('\n')[1]}` : ''}`);
      if (gone && input?.startsWith('flush set')) throw new Error('No such file or directory');
      if (input?.startsWith('table')) gone = false;
      return args.includes('counter') ? '{"nftables":[{"counter":{"packets":7}}]}' : '';
    };
    let fastOk = true;
    const fast: string[] = [];
    const fw = new NftFirewall({
      options, run, clock: new FakeClock(),
      fast: { replace: async (_t, _s, els) => { if (!fastOk) throw new Error('errno 2'); fast.push(els.join(',')); } },
    });
    await fw.apply(spec(['10.0.0.2']));
    expect(calls[0]).toBe('-f -: delete table ip edge_overlay'); // the table of releases before 0.2 goes
    expect(fw.working).toBe(true);
    await fw.apply(spec(['10.0.0.2'])); // unchanged: nothing to do
    await fw.apply(spec(['10.0.0.3', '10.0.0.2']));
    expect(fast).toEqual([`${ip('10.0.0.2')},${ip('10.0.0.3')}`]);
    expect(calls).toHaveLength(1);
    await fw.apply(spec(['10.0.0.3', '10.0.0.2'], ['10.9.0.1'])); // a new seed: senders by nft, peers untouched
    expect(calls.at(-1)).toBe('-f -: add element inet edge_overlay senders { 10.0.0.0/24, 10.9.0.1 }');
    fastOk = false; // someone deleted our table
    gone = true;
    await fw.apply(spec(['10.0.0.4']));
    expect(calls.filter((c) => c.startsWith('-f -: delete table ip')).length).toBe(2); // reinstalled whole
    await fw.refresh(); // reads the counter
    await fw.refresh();
    expect(fw.report()).toMatchObject({ mode: 'filtered', allowed: 1, droppedPackets: 7 });
    expect(calls.filter((c) => c.includes('counter')).length).toBe(1); // not again within 2 s
  });

  it('puts the peer sets in force at once and writes the senders\' set in the background: a slow nft never holds '
    + 'up a peer\'s move', async () => {
    const calls: string[] = [];
    let release: () => void = () => {};
    const run = async (args: string[], input?: string): Promise<string> => {
      calls.push(`${args.join(' ')}${input ? `: ${input.split('\n')[1]}` : ''}`);
      if (input?.startsWith('flush set inet edge_overlay senders')) await new Promise<void>((r) => { release = r; });
      return '';
    };
    const fast: string[] = [];
    const fw = new NftFirewall({
      options, run, clock: new FakeClock(), fast: { replace: async (_t, _s, els) => { fast.push(els.join(',')); } },
    });
    await fw.apply(spec(['10.0.0.2']));
    // a peer beyond the LAN moved: its new address is both a VXLAN peer and a discovery sender
    await fw.apply(spec(['10.9.0.3'], ['10.9.0.3'])); // returns although nft has not answered
    expect(fast).toEqual([`${ip('10.9.0.3')}`]);
    expect(calls.at(-1)).toBe('-f -: add element inet edge_overlay senders { 10.0.0.0/24, 10.9.0.3 }');
    await fw.apply(spec(['10.9.0.4'], ['10.9.0.4'])); // and again, while the first nft still runs
    expect(fast).toEqual([`${ip('10.9.0.3')}`, `${ip('10.9.0.4')}`]);
    expect(calls.filter((c) => c.includes('senders'))).toHaveLength(1); // one nft at a time
    release();
    await flush();
    // the newest spec follows once the first run is done
    expect(calls.at(-1)).toBe('-f -: add element inet edge_overlay senders { 10.0.0.0/24, 10.9.0.4 }');
    release();
    await flush();
    await fw.apply(spec(['10.9.0.4'], ['10.9.0.4']));
    expect(calls.filter((c) => c.includes('senders'))).toHaveLength(2); // nothing left to write
  });

  it('reads the table back when writing the senders\' set fails: gone is a breach, whole is retried later',
    async () => {
    let whole = true;
    let failSenders = true;
    const run = async (args: string[], input?: string): Promise<string> => {
      if (input?.startsWith('flush set inet edge_overlay senders') && failSenders) throw new Error('No such file');
      if (!args.includes('list')) return '';
      return JSON.stringify({ nftables: whole ? [{ table: {} }, ...Array(SHAPE.chains).fill({ chain: {} }),
        ...Array(SHAPE.rules).fill({ rule: {} }), ...Array(SHAPE.sets).fill({ set: {} })] : [] });
    };
    let breaches = 0;
    const fw = new NftFirewall({ options, run, clock: new FakeClock(), onBreach: () => { breaches++; },
      fast: { replace: async () => {} } });
    await fw.apply(spec(['10.0.0.2']));
    await fw.apply(spec(['10.0.0.2'], ['10.9.0.1'])); // the senders' set fails; the table reads back whole
    await flush();
    expect(breaches).toBe(0);
    expect(fw.working).toBe(true);
    failSenders = false;
    await fw.apply(spec(['10.0.0.2'], ['10.9.0.1'])); // retried
    await flush();
    failSenders = true;
    whole = false;
    await fw.apply(spec(['10.0.0.2'], ['10.9.0.2'])); // fails again, and the table is gone now
    await flush();
    expect(breaches).toBe(1);
    expect(fw.working).toBe(false);
  });

  it('reports "unfiltered" with the reason when nft is missing, and does not repeat the error', async () => {
    const fw = new NftFirewall(
      { options, run: async () => { throw new Error('nft is not installed (Debian package nftables)'); } });
    await expect(fw.apply(spec(['10.0.0.1']))).rejects.toThrow('nft is not installed');
    await fw.apply(spec(['10.0.0.2'])); // same failure: reported once
    expect(fw.working).toBe(false);
    expect(fw.report()).toEqual({ mode: 'unfiltered', allowed: 1, droppedPackets: 0,
      error: 'nft is not installed (Debian package nftables)', guard: false });
  });

  it('admits VXLAN from the peers\' IPv6 link-local addresses through a set of their own', () => {
    const six = { ...spec(['10.0.0.2']), peers6: [parseIpv6('fe80::2')!, parseIpv6('fe80::3')!] };
    const t = tableScript(options, six);
    expect(t).toContain('set peers6 { type ipv6_addr; }');
    expect(t).toContain('ip6 saddr @peers6 meta mark set meta mark | 0x10000000 accept');
    expect(t).toContain('add element inet edge_overlay peers6 { fe80::2, fe80::3 }');
    expect(setScript(six, { peers: false, peers6: true, senders: false }))
      .toBe('flush set inet edge_overlay peers6\nadd element inet edge_overlay peers6 { fe80::2, fe80::3 }\n');
    const batch = setBatch('edge_overlay', 'peers6', [parseIpv6('fe80::2')!], 1);
    expect(batch.includes(ipv6ToBytes(parseIpv6('fe80::2')!))).toBe(true);
  });

  it('follows nf_tables: its own installs are not news; someone else deleting from the table is a breach at once',
    async () => {
    type T = { changes: { op: string }[]; pid: number | undefined } | 'lost';
    let notify: (t: T) => void = () => {};
    const monitor: TableMonitor = { start: (_t, f) => { notify = f; }, close: () => {} };
    let listing = JSON.stringify({ nftables: [{ table: {} }, ...Array(SHAPE.chains).fill({ chain: {} }),
      ...Array(SHAPE.rules).fill({ rule: {} }), ...Array(SHAPE.sets).fill({ set: {} })] });
    let pid = 100;
    const run = async (args: string[], _input?: string, started?: (p: number) => void): Promise<string> => {
      started?.(++pid);
      return args.includes('list') ? listing : '';
    };
    let breaches = 0;
    const clock = new FakeClock();
    const fw = new NftFirewall({ options, run, monitor, clock, onBreach: () => { breaches++; } });
    await fw.apply(spec(['10.0.0.2']));
    notify({ changes: [{ op: 'del' }, { op: 'new' }], pid }); // our own install flushes and re-adds our rules
    await clock.advance(1);
    expect(breaches).toBe(0);
    notify({ changes: [{ op: 'new' }], pid: 4242 }); // someone added to our table, but it reads back whole
    await clock.advance(1);
    expect(breaches).toBe(0);
    notify({ changes: [{ op: 'del' }, { op: 'del' }], pid: 4242 }); // nft flush ruleset
    expect(breaches).toBe(1); // at once, before anything is read back
    expect(fw.working).toBe(false);
    await fw.apply(spec(['10.0.0.2'])); // the agent's reconcile puts it back
    expect(fw.working).toBe(true);
    listing = JSON.stringify({ nftables: [] });
    notify('lost'); // lost notifications: read back, and the table is gone
    await clock.advance(1);
    expect(breaches).toBe(2);
  });

  it('builds one atomic nf_tables batch for the inet table: begin, flush, add, end', () => {
    const b = setBatch('edge_overlay', 'peers', [ip('10.0.0.2')], 100);
    const types: number[] = [];
    for (let off = 0; off < b.length;) {
      types.push(b.readUInt16LE(off + 4));
      if (types.length === 2) expect(b[off + 16]).toBe(1); // NFPROTO_INET
      off += b.readUInt32LE(off);
    }
    expect(types).toEqual([0x10, (10 << 8) | 14, (10 << 8) | 12, 0x11]);
    expect(b.includes(Buffer.from([10, 0, 0, 2]))).toBe(true);
    expect(b.includes(Buffer.from('edge_overlay\0'))).toBe(true);
  });

  it('reads nf_tables notifications: which object of which table changed', () => {
    const attr = (type: number, value: string): Buffer => {
      const v = Buffer.from(`${value}\0`, 'latin1');
      const b = Buffer.alloc((4 + v.length + 3) & ~3);
      b.writeUInt16LE(4 + v.length, 0);
      b.writeUInt16LE(type, 2);
      v.copy(b, 4);
      return b;
    };
    const msg = (family: number, ...attrs: Buffer[]): Uint8Array =>
      new Uint8Array(Buffer.concat([Buffer.from([family, 0, 0, 0]), ...attrs]));
    expect(parseNftChange((10 << 8) | 2, msg(1, attr(1, 'edge_overlay'))))
      .toEqual({ op: 'del', what: 'table', family: 1, table: 'edge_overlay' });
    expect(parseNftChange((10 << 8) | 8, msg(1, attr(1, 'edge_overlay'), attr(2, 'vxlan'))))
      .toMatchObject({ op: 'del', what: 'rule' });
    // set elements: our own updates
    expect(parseNftChange((10 << 8) | 12, msg(1, attr(1, 'edge_overlay')))).toBeUndefined();
    expect(parseNftChange((2 << 8) | 2, msg(1, attr(1, 'x')))).toBeUndefined(); // not nf_tables
  });
});

describe('guard table', () => {
  function fakeNft(): { child: ChildProcess; written: () => string; say: (s: string) => void; die: () => void } {
    const child = new EventEmitter() as ChildProcess;
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    let written = '';
    stdin.on('data', (b: Buffer) => { written += b.toString(); });
    Object.assign(child, { stdin, stdout, stderr: new PassThrough(), pid: 4242, exitCode: null, kill: () => true });
    return { child, written: () => written, say: (s) => stdout.write(s), die: () => child.emit('exit', 1) };
  }

  it('is an owned table kept by a long-lived nft -i: it drops our VNI unless the main table vetted it, '
    + 'and comes back if nft dies', async () => {
    const clock = new FakeClock();
    const nfts: ReturnType<typeof fakeNft>[] = [];
    const g = new NftGuard({ options, clock, start: () => { const f = fakeNft(); nfts.push(f); return f.child; } });
    g.start();
    await flush();
    expect(nfts[0]!.written()).toBe(guardScript(options));
    expect(guardScript(options)).toContain('add table inet edge_overlay_guard { flags owner; }');
    expect(guardScript(options)).toMatch(/udp dport 4789 @th,96,24 100 .* meta mark & 0x10000000 == 0 counter drop/);
    expect(tableScript(options, spec([]))).toContain('ip saddr @peers meta mark set meta mark | 0x10000000 accept');
    expect(g.active).toBe(false);
    nfts[0]!.say('table inet edge_overlay_guard { # progname nft\n');
    await flush();
    expect(g.active).toBe(true);
    nfts[0]!.die(); // the kernel removes the table with its owner
    expect(g.active).toBe(false);
    await clock.advance(5000);
    expect(nfts).toHaveLength(2);
    g.close();
  });
});
