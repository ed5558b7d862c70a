// Unit: doctor checks against a fake host.
import { describe, expect, it } from 'vitest';
import { runChecks, formatChecks, type DoctorEnv, type CheckResult } from '../../src/doctor/checks.js';
import { parseIpv6 } from '../../src/net/ipv6.js';
import { parseCidr, parseIpv4, type Cidr } from '../../src/net/ipv4.js';
import type { Link } from '../../src/kernel/types.js';
import type { EthtoolFeature } from '../../src/native/addon.js';
import { peerReport, statusReport } from '../fakes/status.js';

const link = (index: number, name: string, kind: string | undefined, mtu: number, up = true): Link =>
  ({ index, name, kind, mtu, up, carrier: up, mac: '02:00:00:00:00:01', master: undefined, vxlan: undefined });

interface Fake extends DoctorEnv {
  set: string[][];
  installed: boolean;
}

type Rule = { rule: { table: string; expr: unknown[] } };

/**
 * `nft list tables` and `nft -j list table inet NAME` over `rules`; tables in
 * `broken` print cut-off JSON (nft 1.0.6 with `flags owner`).
 */
function nft(args: string[], rules: Rule[], broken: string[]): { code: number; stdout: string } {
  const names = [...new Set([...rules.map((r) => r.rule.table), ...broken, 'edge_overlay_guard'])];
  if (args.join(' ') === 'list tables') return { code: 0, stdout: names.map((n) => `table inet ${n}\n`).join('') };
  const name = args[args.length - 1]!;
  if (broken.includes(name) || name === 'edge_overlay_guard') {
    return { code: 0, stdout: '{"nftables": [{"table": {"family": "inet", "name": "x", "flags": ' };
  }
  return { code: 0, stdout: JSON.stringify({ nftables: rules.filter((r) => r.rule.table === name) }) };
}

function fakeEnv(over: Partial<DoctorEnv> & { driverName?: string; tunnelOffloads?: boolean; nftRules?: Rule[];
  nftBroken?: string[]; nmcli?: string; networkd?: string } = {}): Fake {
  const links =
    [link(2, 'eth0', undefined, 1500), link(3, 'scbr-100', 'bridge', 1450), link(4, 'scvx-100', 'vxlan', 1450)];
  let offloads = over.tunnelOffloads ?? false;
  const env: Fake = {
    iface: 'eth0', bridge: 'scbr-100', vxlanDevice: 'scvx-100', cidr: parseCidr('100.64.192.0/24') as Cidr,
    vxlanPort: 4789,
    status: undefined, set: [], installed: false,
    link: async (n) => links.find((l) => l.name === n),
    addrs: async (i) => (i === 2 ? [{ index: 2, address: parseIpv4('10.0.0.2')!, prefix: 24, secondary: false }] : []),
    ipv6: async () => ({
      disabled: false,
      addrs: [{ index: 2, address: parseIpv6('fe80::5054:ff:fe12:3456')!, prefix: 64, linkLocal: true, tentative: false,
        dadFailed: false }],
    }),
    routes: async () => [{ dst: '10.0.0.0/24', dev: 'eth0' }, { dst: '100.64.192.0/24', dev: 'scbr-100' }],
    probeDevices: async () => undefined,
    driver: () => over.driverName ?? 'virtio_net',
    features: (): EthtoolFeature[] => ['tx-udp_tnl-segmentation', 'tx-udp_tnl-csum-segmentation']
      .map((name) => ({ name, available: true, requested: offloads, active: offloads, fixed: false })),
    setFeatures(ifname, names, on) { env.set.push([ifname, ...names, String(on)]); offloads = on; },
    read: (p) => (p.startsWith('/run/systemd/netif/links/') ? over.networkd : undefined),
    run: async (cmd, args) => {
      if (cmd === 'nft') return nft(args, over.nftRules ?? [], over.nftBroken ?? []);
      if (cmd === 'nmcli') return over.nmcli === undefined ? undefined : { code: 0, stdout: over.nmcli };
      if (cmd === 'ping') return { code: 0, stdout: '' };
      return undefined;
    },
    installUnmanaged: async () => { env.installed = true; return ['/etc/x.network']; },
    listen: async () => ({ ours: 3, foreign: [] }),
    now: () => Date.UTC(2026, 10, 22),
    ...over,
  };
  return env;
}

const opts = { fix: false, disableTunnelOffloads: false, listenMs: 3000 };
const byId = (rs: CheckResult[], id: string): CheckResult => rs.find((r) => r.id === id)!;

describe('doctor', () => {
  it('passes every check on a healthy host, and prints ✓ lines', async () => {
    const rs = await runChecks(fakeEnv(), opts);
    expect(rs.map((r) => r.id)).toEqual(['kernel', 'interface', 'ipv6', 'underlay', 'broadcast', 'discovery', 'filter',
      'mtu', 'cidr', 'other-clusters', 'vxlan-port', 'offloads', 'network-managers', 'clock']);
    expect(rs.filter((r) => !r.ok)).toEqual([]);
    expect(formatChecks(rs)).toContain('✓ interface: eth0 is up with 10.0.0.2/24');
  });

  it.each([
    ['interface', { link: async () => undefined }, 'eth0 does not exist'],
    ['interface', { addrs: async () => [] }, 'eth0 is up but has no IPv4 address'],
    ['kernel', { link: async (n: string) => (n === 'eth0' ? link(2, 'eth0', undefined, 1500) : undefined),
      probeDevices: async () => 'create vxlan: EOPNOTSUPP' },
      'creating test bridge/vxlan devices failed: create vxlan: EOPNOTSUPP'],
    ['broadcast', { listen: async () => ({ ours: 0, foreign: [] }) },
      'no discovery packet of this cluster heard in 3 s'],
    ['mtu', { link: async (n: string) => (n === 'eth0' ? link(2, 'eth0', undefined, 1300) : undefined) },
      'eth0 MTU 1300 leaves 1230 for the overlay'],
    ['cidr', { routes: async () => [{ dst: '100.64.0.0/10', dev: 'tailscale0' }] },
      '100.64.192.0/24 overlaps 100.64.0.0/10 dev tailscale0'],
    ['other-clusters', { listen: async () => ({ ours: 1, foreign: [{ name: 'shop-b', cidr: '100.64.192.0/25' }] }) },
      'cluster "shop-b" (100.64.192.0/25) overlaps 100.64.192.0/24'],
    ['vxlan-port', { nftRules: [{ rule: { table: 'filter', expr: [{ match: { right: 4789 } }, { drop: null }] } }] },
      '1 firewall rule(s) drop UDP 4789'],
    ['offloads', { driverName: 'vmxnet3', tunnelOffloads: true }, 'eth0 uses vmxnet3 with tx-udp_tnl-segmentation, '
      + 'tx-udp_tnl-csum-segmentation on: TCP over VXLAN silently breaks on VMXNET3'],
    ['network-managers', { networkd: 'ADMIN_STATE=configured\n' }, 'systemd-networkd manages scbr-100'],
    ['network-managers', { nmcli: 'eth0:connected\nscbr-100:connected (externally)\n' },
      'NetworkManager manages scbr-100'],
    ['clock', { now: () => Date.UTC(2001, 0, 1) }, 'the clock says 2001-01-01T00:00:00.000Z'],
    ['ipv6', { ipv6: async () => ({ disabled: true, addrs: [] }) },
      'IPv6 is disabled on eth0 (net.ipv6.conf.eth0.disable_ipv6=1): the cluster carries VXLAN over IPv4 and loses '
        + 'packets while hosts renumber'],
    ['ipv6', { ipv6: async () => ({ disabled: false, addrs: [{ index: 2, address: parseIpv6('fe80::1')!, prefix: 64,
      linkLocal: true, tentative: true, dadFailed: true }] }) },
      'fe80::1 on eth0 failed duplicate address detection: another host on the LAN has it'],
    ['ipv6', { ipv6: async () => ({ disabled: false, addrs: [] }) }, 'eth0 has no IPv6 link-local address'],
    ['underlay', { status: statusReport({ underlay: { family: 'link-local', device: 'ipv4',
      why: 'every host can use link-local addresses on this segment' } }) },
      'the cluster uses IPv6 link-local (every host can use link-local addresses on this segment) '
        + 'but the VXLAN device still carries IPv4'],
  ])('fails %s with one line and advice', async (id, over, detail) => {
    const r = byId(await runChecks(fakeEnv(over as Partial<DoctorEnv>), opts), id);
    expect(r).toMatchObject({ ok: false, detail });
    expect(r.advice).toBeTruthy();
  });

  it('leaves tunnel offloads alone on drivers that handle them, and fixes them on VMXNET3 with --fix', async () => {
    expect(byId(await runChecks(fakeEnv({ tunnelOffloads: true }), opts), 'offloads').ok).toBe(true);
    const env = fakeEnv({ driverName: 'vmxnet3', tunnelOffloads: true });
    const r = byId(await runChecks(env, { ...opts, fix: true }), 'offloads');
    expect(r).toMatchObject({ ok: true, fixed: true });
    expect(env.set).toEqual([['eth0', 'tx-udp_tnl-segmentation', 'tx-udp_tnl-csum-segmentation', 'false']]);
    const forced = fakeEnv({ driverName: 'veth', tunnelOffloads: true });
    expect(byId(await runChecks(forced, { ...opts, disableTunnelOffloads: true }), 'offloads'))
      .toMatchObject({ ok: true, fixed: true });
  });

  it('installs the network manager drop-ins with --fix', async () => {
    const env = fakeEnv({ networkd: 'ADMIN_STATE=configured\n' });
    expect(byId(await runChecks(env, { ...opts, fix: true }), 'network-managers'))
      .toMatchObject({ ok: true, fixed: true });
    expect(env.installed).toBe(true);
  });

  it('says which underlay the cluster uses and why; IPv6 off is fine when the host is told to use IPv4', async () => {
    const why = 'peer bbbbbbbb runs a release without link-local support';
    const st = statusReport({ underlay: { family: 'ipv4', setting: 'auto', device: 'ipv4', why } });
    expect(byId(await runChecks(fakeEnv({ status: st }), opts), 'underlay'))
      .toMatchObject({ ok: true,
        detail: `VXLAN over IPv4: ${why} (renumbering interrupts VXLAN until the new address is announced)` });
    const off = fakeEnv({ status: statusReport(), ipv6: async () => ({ disabled: true, addrs: [] }) });
    expect(byId(await runChecks(off, opts), 'ipv6'))
      .toMatchObject({ ok: true, detail: 'IPv6 is disabled on eth0; not needed (underlay: ipv4)' });
  });

  it('uses the running agent\'s view: peers heard, foreign clusters, clock skew, path MTU', async () => {
    const st = statusReport({ peers: [peerReport({ id: 'b'.repeat(32), overlayIp: '100.64.192.3',
      underlayIp: '10.0.0.3', state: 'alive', clockSkewMs: 600_000 })] });
    const rs = await runChecks(
      fakeEnv({ status: st, run: async (cmd) => (cmd === 'ping' ? { code: 1, stdout: '' } : undefined) }), opts);
    expect(byId(rs, 'broadcast')).toMatchObject({ ok: true, detail: 'the agent hears 1 peer' });
    expect(byId(rs, 'clock')).toMatchObject({ ok: false, detail: "a peer's clock is 600 s off ours" });
    expect(byId(rs, 'mtu'))
      .toMatchObject({ ok: false, detail: 'full-size (1500) frames to 10.0.0.3 do not get through' });
  });

  it('vxlan-port reads table by table: a table nft 1.0.6 prints as broken JSON (flags owner) '
    + 'spoils neither the check nor the others', async () => {
    const drop = { rule: { table: 'filter', expr: [{ match: { right: 4789 } }, { drop: null }] } };
    const rs = await runChecks(fakeEnv({ nftRules: [drop], nftBroken: ['firewalld'] }), opts);
    expect(byId(rs, 'vxlan-port')).toMatchObject({ ok: false,
      detail: '1 firewall rule(s) drop UDP 4789 (nft could not print table inet firewalld as JSON: not inspected)' });
    // our guard table (flags owner) is always broken JSON on Debian 12: never read, never an error
    expect(byId(await runChecks(fakeEnv({}), opts), 'vxlan-port'))
      .toMatchObject({ ok: true, detail: 'no firewall rule outside ours drops UDP 4789' });
  });

  it('mtu: a ping that cannot run (the unit\'s sandbox denies its capset, exit 255) '
    + 'is "not checked", not a failed path', async () => {
    const st = statusReport({
      peers: [peerReport({ id: 'b'.repeat(32), overlayIp: '100.64.192.3', underlayIp: '10.0.0.3', state: 'alive' })] });
    const rs = await runChecks(
      fakeEnv({ status: st, run: async (cmd) => (cmd === 'ping' ? { code: 255, stdout: '' } : undefined) }), opts);
    expect(byId(rs, 'mtu')).toMatchObject(
      { ok: true, detail: expect.stringContaining('full frames to 10.0.0.3 not checked (ping exited 255)') });
  });

  it.each([
    [{ raw: { state: 'down' as const, error: 'ENETDOWN' } }, 'raw is down (ENETDOWN)'],
    [{ udp: { state: 'down' as const, error: 'no IPv4 address on the physical interface' } },
      'udp is down (no IPv4 address on the physical interface)'],
    // the socket lost on a link flap: raw heard peers once, now only udp does
    [{ raw: { lastPeerPacketMs: 40_000 }, udp: { lastPeerPacketMs: 800 } },
      'raw heard peers before but nothing for 40 s, while udp still does'],
  ])('reports a dead discovery channel from the agent\'s view (%o)', async (discovery, detail) => {
    const r = byId(await runChecks(fakeEnv({ status: statusReport({ discovery }) }), opts), 'discovery');
    expect(r).toMatchObject({ ok: false, detail });
    expect(r.advice).toBeTruthy();
  });

  it.each([
    [{ mode: 'unfiltered' as const, error: 'nft is not installed' },
      'the VXLAN ingress filter is NOT in force (nft is not installed): the overlay is held down'],
    [{ mode: 'disabled' as const },
      'the VXLAN ingress filter is OFF (filter: off): anyone on the LAN can send into the overlay'],
  ])('says loudly when the ingress filter is not in force (%o)', async (filter, detail) => {
    const r = byId(await runChecks(fakeEnv({ status: statusReport({ filter }) }), opts), 'filter');
    expect(r).toMatchObject({ ok: false, detail });
    expect(r.advice).toBeTruthy();
  });

  it('passes the discovery check when both channels hear peers, or raw is off on this host', async () => {
    expect(byId(await runChecks(fakeEnv({ status: statusReport() }), opts), 'discovery'))
      .toMatchObject({ ok: true, detail: 'channels up: udp, raw' });
    const off = statusReport({ discovery: { raw: { state: 'off', lastPeerPacketMs: null } } });
    expect(byId(await runChecks(fakeEnv({ status: off }), opts), 'discovery'))
      .toMatchObject({ ok: true, detail: 'channels up: udp' });
  });
});
