// Unit: the physical interface when the configuration names none (agent/underlay/iface.ts)
// — the order of the choice, the wait for a default route on the fake clock,
// the choice kept in the state across a "reboot" with DHCP down, and the
// state layout that carries it (schema 3, readable by the releases before),
// and default routes as rtnetlink reports them.
import { describe, expect, it } from 'vitest';
import { chooseInterface, isLoneNic, pickFromKernel, settleFromState } from '../../src/agent/underlay/iface.js';
import type { AgentConfig } from '../../src/agent/config.js';
import { DEFAULT_TIMINGS } from '../../src/agent/config.js';
import { parseCidr, parseIpv4, type Cidr } from '../../src/net/ipv4.js';
import type { Link } from '../../src/kernel/types.js';
import { toDefaultRoute } from '../../src/kernel/netlink/messages.js';
import type { RtMessage } from '../../src/kernel/netlink/socket.js';
import { migrate } from '../../src/state/migrate.js';
import { SCHEMA, stateSchema, type PersistedState } from '../../src/state/schema.js';
import { StateStore, peekState, sealState, unsealState } from '../../src/state/store.js';
import { FakeKernel } from '../fakes/kernel.js';
import { FakeClock, flush } from '../fakes/clock.js';
import { captureLog } from '../fakes/log.js';
import { MemoryStateFs } from '../fakes/state.js';
import { Sim } from '../fakes/sim.js';

const OURS = ['scbr-100', 'scvx-100'];
const config: AgentConfig = {
  cluster: 'edge', interface: '', cidr: parseCidr('100.64.192.0/24') as Cidr, vni: 100, vxlanPort: 4789,
  bridge: 'scbr-100', vxlanDevice: 'scvx-100',
  discoveryPort: 9477, stateDir: '/var/lib/edge-overlay', runDir: '/run/edge-overlay', seeds: [], underlay: 'auto',
  timings: { ...DEFAULT_TIMINGS },
};

/** A host with NICs eth0 and eth1 (both with an IPv4 address, so either can carry an IPv4 default route). */
async function host(): Promise<FakeKernel> {
  const k = new FakeKernel();
  for (const [i, name] of ['eth0', 'eth1'].entries()) {
    await k.addAddr(k.addPhysical(name, 1500, `52:54:00:00:00:0${i + 1}`), parseIpv4(`10.${i}.0.2`)!, 24);
  }
  return k;
}

const link = (over: Partial<Link> & Pick<Link, 'index' | 'name'>): Link =>
  ({ kind: undefined, mtu: 1500, up: true, carrier: true,
    mac: `52:54:00:00:00:${over.index.toString(16).padStart(2, '0')}`, master: undefined, vxlan: undefined, ...over });

describe('choosing the physical interface', () => {
  it('in order: configured, kept in the state, IPv4 default route (lowest metric), IPv6 default route, '
    + 'the only NIC, nothing', async () => {
    const k = await host();
    k.addDefaultRoute('eth1', 4, 200);
    k.addDefaultRoute('eth0', 4, 100);
    k.addDefaultRoute('eth1', 6, 1);
    expect(await chooseInterface('ens3', 'eth9', k, OURS)).toEqual({ ifname: 'ens3', source: 'config' });
    // kept: even absent now
    expect(await chooseInterface('', 'eth9', k, OURS)).toEqual({ ifname: 'eth9', source: 'state' });
    // metric 100 beats 200
    expect(await chooseInterface('', undefined, k, OURS)).toEqual({ ifname: 'eth0', source: 'default-route' });
    k.removeDefaultRoute('eth0', 4);
    expect(await chooseInterface('', undefined, k, OURS)).toEqual({ ifname: 'eth1', source: 'default-route' });
    k.removeDefaultRoute('eth1', 4);
    expect(await chooseInterface('', undefined, k, OURS)).toEqual({ ifname: 'eth1', source: 'default-route6' });
    k.removeDefaultRoute('eth1', 6);
    expect(await chooseInterface('', undefined, k, OURS)).toBeUndefined(); // two NICs, no route: nothing to choose
    await k.deleteLink(k.link('eth1')!.index);
    await k.createBridge('scbr-100', 1450, '02:00:00:00:00:09'); // ours, and a bridge: never counted
    await k.createBridge('docker0', 1500, '02:00:00:00:00:0a');
    expect(await chooseInterface('', undefined, k, OURS)).toEqual({ ifname: 'eth0', source: 'only-nic' });
  });

  it('the only NIC: a plain device or a veth with a MAC, not enslaved, not ours; lo, bridges, VXLAN, '
    + 'dummies and tunnels do not count', () => {
    const lo = link({ index: 1, name: 'lo', mac: '00:00:00:00:00:00' });
    const eth0 = link({ index: 2, name: 'eth0', kind: 'veth' }); // the lab's NICs are veths
    expect(isLoneNic(eth0, OURS)).toBe(true);
    for (const l of [lo, link({ index: 3, name: 'br0', kind: 'bridge' }),
      link({ index: 4, name: 'scvx-100', kind: 'vxlan' }),
      link({ index: 5, name: 'dummy0', kind: 'dummy' }), link({ index: 6, name: 'wg0', kind: 'wireguard', mac: '' }),
      link({ index: 7, name: 'tun0', mac: '' }), link({ index: 8, name: 'enp2s0', master: 3 }),
      link({ index: 9, name: 'scbr-100' })]) {
      expect(isLoneNic(l, OURS), l.name).toBe(false);
    }
    expect(pickFromKernel([], [lo, eth0, link({ index: 8, name: 'enp2s0', master: 3 })], OURS))
      .toEqual({ ifname: 'eth0', source: 'only-nic' });
    expect(pickFromKernel([], [lo, eth0, link({ index: 10, name: 'wlan0' })], OURS)).toBeUndefined();
  });

  it('skips a default route through our own devices or a device without a MAC (a VPN tunnel)', () => {
    const links = [link({ index: 2, name: 'eth0' }), link({ index: 3, name: 'scbr-100', kind: 'bridge' }),
      link({ index: 4, name: 'tun0', mac: '' })];
    const routes = [{ family: 4 as const, index: 3, metric: 0 }, { family: 4 as const, index: 4, metric: 1 },
      { family: 4 as const, index: 2, metric: 600 }];
    expect(pickFromKernel(routes, links, OURS)).toEqual({ ifname: 'eth0', source: 'default-route' });
    expect(pickFromKernel(routes.slice(0, 2), links, OURS)).toEqual({ ifname: 'eth0', source: 'only-nic' });
  });
});

describe('the agent settles its interface at start', () => {
  const start = (k: FakeKernel, fs: MemoryStateFs, clock = new FakeClock(), cfg = config) => {
    const logs = captureLog();
    const done = settleFromState(cfg, new StateStore(cfg.stateDir, fs),
      { kernel: k, clock, log: logs.log, configFile: '/etc/edge-overlay/config.yaml' });
    return { done, logs, clock };
  };
  const kept = (fs: MemoryStateFs): string | undefined => peekState(config.stateDir, fs)?.interface;

  it('chooses the default route\'s interface, writes it to the state before returning, and says so once', async () => {
    const k = await host();
    k.addDefaultRoute('eth1', 4, 100);
    const fs = new MemoryStateFs();
    const { done, logs } = start(k, fs);
    const { config: c, doc } = await done;
    expect(c).toMatchObject({ interface: 'eth1', interfaceSource: 'default-route' });
    expect(doc.interface).toBe('eth1');
    expect(kept(fs)).toBe('eth1');
    expect(logs.lines.filter((l) => l.msg === 'interface eth1 chosen (the default route\'s); '
      + 'kept in /var/lib/edge-overlay; set interface: to change it')).toHaveLength(1);
  });

  it('after a reboot with DHCP down (no default route) and another NIC holding a default route, '
    + 'it keeps the chosen one', async () => {
    const fs = new MemoryStateFs();
    const first = await host();
    first.addDefaultRoute('eth0', 4, 100);
    expect((await start(first, fs).done).config.interface).toBe('eth0');
    const writes = fs.writes.length;
    const rebooted = await host(); // DHCP down: no route through eth0; eth1 (an LTE stick, a second port) has one
    rebooted.addDefaultRoute('eth1', 4, 50);
    const { done, logs } = start(rebooted, fs);
    expect((await done).config).toMatchObject({ interface: 'eth0', interfaceSource: 'state' });
    expect(fs.writes.length).toBe(writes); // nothing chosen, nothing written
    expect(logs.lines.map((l) => l.msg))
      .toEqual(['interface eth0 (chosen at first start, kept in /var/lib/edge-overlay; set interface: to change it)']);
    // kept even while the NIC is gone (the agent waits for it)
    const bare = new FakeKernel();
    expect((await start(bare, fs).done).config.interface).toBe('eth0');
  });

  it('the configuration wins and is not kept', async () => {
    const fs = new MemoryStateFs();
    const k = await host();
    k.addDefaultRoute('eth1', 4, 100);
    const { config: c } = await start(k, fs, new FakeClock(), { ...config, interface: 'eth0' }).done;
    expect(c).toMatchObject({ interface: 'eth0', interfaceSource: 'config' });
    expect(fs.writes).toHaveLength(0);
  });

  it('with no default route and no lone NIC it waits, re-checking every second, '
    + 'and chooses when a default route appears', async () => {
    const k = await host(); // two NICs, no route: nothing to choose
    const fs = new MemoryStateFs();
    const { done, logs, clock } = start(k, fs);
    let settled: string | undefined;
    void done.then((r) => { settled = r.config.interface; });
    await clock.advance(5000);
    expect(settled).toBeUndefined();
    expect(kept(fs)).toBeUndefined();
    const waiting = logs.lines.filter((l) => l.msg === 'no interface configured and no default route yet: '
      + 'waiting for one (set interface: in /etc/edge-overlay/config.yaml to choose)');
    expect(waiting).toHaveLength(1);
    expect(waiting[0]!.level).toBe('info');
    k.addDefaultRoute('eth1', 6, 1024); // a router advertisement, say
    await clock.advance(999);
    expect(settled).toBeUndefined();
    await clock.advance(1);
    expect(settled).toBe('eth1');
    expect(kept(fs)).toBe('eth1');
  });

  it('refuses a state file of another cluster before choosing anything', async () => {
    const fs = new MemoryStateFs();
    const store = new StateStore(config.stateDir, fs);
    store.save({ version: 1, schema: SCHEMA, nodeId: 'ab'.repeat(16), cluster: 'other', cidr: '100.64.192.0/24',
      seqFloor: 0, peers: [] });
    const k = await host();
    k.addDefaultRoute('eth0', 4, 1);
    await expect(start(k, fs).done).rejects.toMatchObject({ code: 'E_STATE' });
    expect(kept(fs)).toBeUndefined();
  });
});

describe('the running agent keeps the choice', () => {
  it('every state write of the agent (first, claim, peers, stop) carries the interface, '
    + 'and status says where it came from', async () => {
    const sim = new Sim(3);
    const h1 = sim.addHost('h1', '10.0.0.11', { interface: '' });
    const h2 = sim.addHost('h2', '10.0.0.12');
    await flush(); // the fake kernel's addresses are in
    h1.kernel.addDefaultRoute('eth0', 4, 100);
    const store = new StateStore(h1.config.stateDir, h1.fs);
    h1.config = (await settleFromState(h1.config, store,
      { kernel: h1.kernel, clock: h1.clock, log: h1.logs.log, configFile: 'c.yaml' })).config;
    await sim.start(h1);
    await sim.start(h2);
    await sim.run(5000);
    expect(h1.agent!.status().node).toMatchObject({ interface: 'eth0', interfaceSource: 'default-route' });
    expect(h2.agent!.status().node).toMatchObject({ interface: 'eth0', interfaceSource: 'config' });
    await sim.stop(h1);
    const versions = h1.fs.writes.map((w) => unsealState(w.data) as PersistedState);
    expect(versions.length).toBeGreaterThan(3);
    expect(versions.map((v) => v.interface)).toEqual(versions.map(() => 'eth0'));
    expect(versions.at(-1)).toMatchObject({ schema: SCHEMA, overlayIp: expect.any(String),
      peers: [expect.objectContaining({ underlayIp: '10.0.0.12' })] });
    expect(peekState(h2.config.stateDir, h2.fs)?.interface).toBeUndefined(); // configured: never kept
  });
});

describe('state layout 3: the kept interface', () => {
  const v2: PersistedState = {
    version: 1, schema: 2, nodeId: 'ab'.repeat(16), cluster: 'edge', cidr: '100.64.192.0/24', overlayIp: '100.64.192.9',
    claimedAt: 5, seqFloor: 10,
    peers: [], linkLocal: 'fe80::1',
  };

  it('a 0.2 file (no interface) loads and migrates to schema 3 with every field kept', () => {
    const loaded = unsealState(sealState(v2));
    expect(typeof loaded).not.toBe('string');
    const { state, from } = migrate(loaded as PersistedState);
    expect(from).toBe(2);
    expect(SCHEMA).toBe(3);
    expect(state).toEqual({ ...v2, schema: 3 });
  });

  it('round-trips the interface; refuses one that is not an interface name', () => {
    const s3 = { ...v2, schema: 3, interface: 'enp3s0' };
    expect(unsealState(sealState(s3))).toEqual(s3);
    expect(stateSchema.safeParse({ ...s3, interface: 'a/b' }).success).toBe(false);
    expect(stateSchema.safeParse({ ...s3, interface: 'x'.repeat(16) }).success).toBe(false);
  });

  it('stays readable by the releases before: version 1, and a schema without the field (a zod '
    + 'object, as theirs) drops it', () => {
    const s3 = { ...v2, schema: 3, interface: 'eth0' };
    expect(stateSchema.parse(s3).version).toBe(1);
    const previous = stateSchema.omit({ interface: true });
    const read = previous.parse(s3);
    expect(read).toEqual({ ...v2, schema: 3 });
    expect('interface' in read).toBe(false);
  });
});

describe('reading default routes from rtnetlink (toDefaultRoute)', () => {
  const route = (data: Record<string, unknown>, attrs: Record<string, unknown>): RtMessage =>
    ({ kind: 'route', data: { family: 2, dstLen: 0, table: 254, type: 'UNICAST', ...data },
      attrs }) as unknown as RtMessage;
  /** struct rtnexthop of one hop: len 8, flags, hops, ifindex */
  const hop = (ifindex: number): Buffer => {
    const b = Buffer.alloc(8);
    b.writeUInt16LE(8, 0);
    b.writeInt32LE(ifindex, 4);
    return b;
  };

  it('the main table\'s unicast default routes, by device (a multipath route\'s first hop) and metric', () => {
    expect(toDefaultRoute(route({}, { oif: 2, priority: 100 }))).toEqual({ family: 4, index: 2, metric: 100 });
    expect(toDefaultRoute(route({ family: 10 }, { oif: 3 }))).toEqual({ family: 6, index: 3, metric: 0 });
    expect(toDefaultRoute(route({ table: 252 }, { table: 254, multipath: Buffer.concat([hop(5), hop(6)]) })))
      .toEqual({ family: 4, index: 5, metric: 0 });
  });

  it('not a default route: another table, prefix, type, or no device', () => {
    expect(toDefaultRoute(route({ table: 255 }, { oif: 2 }))).toBeUndefined();
    expect(toDefaultRoute(route({}, { oif: 2, table: 100 }))).toBeUndefined(); // policy routing table
    expect(toDefaultRoute(route({ dstLen: 24 }, { oif: 2 }))).toBeUndefined();
    expect(toDefaultRoute(route({ type: 'UNREACHABLE' }, { oif: 1 }))).toBeUndefined();
    expect(toDefaultRoute(route({}, {}))).toBeUndefined(); // a nexthop object names no device here
  });
});
