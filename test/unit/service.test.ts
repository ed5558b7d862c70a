// Unit: the service-facing parts — sd_notify protocol, SIGHUP reload plan,
// Prometheus metrics, and the files we ship (unit, drop-ins, cloud-init,
// Kairos stages, config example).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ServiceNotifier } from '../../src/service/notify.js';
import { planReload } from '../../src/cli/reload.js';
import { parseConfigFile, parseFlags, resolve } from '../../src/config/config.js';
import { buildRegistry } from '../../src/metrics/metrics.js';
import { Counters } from '../../src/agent/records/counters.js';
import type { StatusReport } from '../../src/agent/records/status.js';
import { FakeClock } from '../fakes/clock.js';
import { peerReport, statusReport } from '../fakes/status.js';

const file = (p: string): string => readFileSync(new URL(`../../${p}`, import.meta.url), 'utf8');

function status(over: { ready?: boolean; ip?: string | null; peers?: ('alive' | 'stale')[] } = {}): StatusReport {
  return statusReport({
    node: over.ip === undefined ? {} : { overlayIp: over.ip },
    peers: (over.peers ?? ['alive']).map((state, i) => peerReport(
      { id: String(i).repeat(32), overlayIp: `100.64.192.${20 + i}`, underlayIp: `10.0.0.${20 + i}`, state })),
    dataplane: { ready: over.ready ?? true },
  });
}

describe('sd_notify', () => {
  it('sends READY=1 once, only when the overlay works, then STATUS on change, WATCHDOG=1 and STOPPING=1', async () => {
    const clock = new FakeClock();
    const sent: string[] = [];
    const n = new ServiceNotifier((m) => sent.push(m), clock, 400_000);
    let s = status({ ready: false, ip: null });
    n.start(() => s);
    await clock.advance(1000);
    expect(sent.filter((m) => m.includes('READY=1'))).toEqual([]);
    s = status();
    await clock.advance(1100);
    expect(sent.filter((m) => m.includes('READY=1')))
      .toEqual(['READY=1\nSTATUS=overlay 100.64.192.9; 1 peers alive, 0 stale; dataplane ready']);
    s = status({ peers: ['alive', 'stale'] });
    await clock.advance(1100);
    expect(sent).toContain('STATUS=overlay 100.64.192.9; 1 peers alive, 1 stale; dataplane ready');
    expect(sent.filter((m) => m.includes('READY=1'))).toHaveLength(1);
    expect(sent.filter((m) => m === 'WATCHDOG=1').length).toBeGreaterThanOrEqual(10); // every 200 ms
    n.stopping();
    expect(sent.at(-1)).toMatch(/^STOPPING=1\n/);
  });
});

describe('SIGHUP reload plan', () => {
  const base = resolve(parseConfigFile('interface: eth0\nvni: 100\nlogLevel: info\n', 'f'), {});
  it('applies log level, seeds and keys; refuses CIDR, VNI and device changes with one line each', () => {
    const next = resolve(parseConfigFile('interface: eth0\nvni: 200\nlogLevel: debug\noverlayCidr: 10.9.0.0/24\n'
      + 'peers: [10.1.0.5]\nunderlay: ipv4\n', 'f'), {});
    const p = planReload(base, next);
    expect(p.logLevel).toBe('debug');
    expect(p.seeds).toEqual([{ address: '10.1.0.5', port: 9477 }]);
    expect(p.refused).toEqual([
      'overlayCidr cannot change (100.64.192.0/24 -> 10.9.0.0/24): it is fixed for the life of the cluster; '
        + 'this host keeps its persisted address',
      'vni cannot change (100 -> 200): every host of the cluster must use the same VNI; '
        + 'change it everywhere and restart',
      'vxlanDevice cannot change while the agent runs (scvx-100 -> scvx-200); restart the agent to apply it',
      'underlay cannot change while the agent runs (auto -> ipv4); restart the agent to apply it',
    ]);
  });
  it('changes nothing when nothing changed', () => {
    const p = planReload(base,
      resolve(parseConfigFile('interface: eth0\nvni: 100\nlogLevel: info\n', 'f'), parseFlags({})));
    expect(p).toEqual({ refused: [], keyFile: '/etc/edge-overlay/cluster.key' });
  });
});

describe('metrics', () => {
  it('exposes the documented metric names with values from the agent', async () => {
    const counters = new Counters();
    counters.sent('announce');
    counters.drop('bad-auth');
    counters.drop('bad-auth');
    counters.underlayChangesPeer = 3;
    const reg = buildRegistry({ status: () => status({ peers: ['alive', 'alive', 'stale'] }), counters });
    counters.onReconcile?.(0.002);
    const text = await reg.metrics();
    for (const line of [
      'edge_overlay_peers{state="alive"} 2', 'edge_overlay_peers{state="stale"} 1', 'edge_overlay_fdb_entries 2',
      'edge_overlay_announcements_sent_total{type="announce"} 1',
      'edge_overlay_announcements_dropped_total{reason="bad-auth"} 2',
      'edge_overlay_underlay_changes_total{who="peer"} 3', 'edge_overlay_conflicts_total 0',
      'edge_overlay_dataplane_ready 1',
      'edge_overlay_filter_dropped_packets_total 3', 'edge_overlay_reconcile_duration_seconds_count 1',
    ]) expect(text).toContain(line);
    expect(text).toMatch(new RegExp(
      /edge_overlay_info\{node="a{32}",overlay_ip="100\.64\.192\.9",underlay_ip="10\.0\.0\.2",/.source
      + /cluster="edge",cidr="100\.64\.192\.0\/24",vip="100\.64\.192\.1",interface="eth0"\} 1/.source));
    expect(text).toContain('edge_overlay_last_reconcile_timestamp_seconds 1767225600');
    expect(text).toContain('edge_overlay_process_resident_memory_bytes');
  });

  it('exposes each discovery channel: up or not, and how long since it carried a peer packet', async () => {
    const st = statusReport({ discovery: { udp: { lastPeerPacketMs: 1500 },
      raw: { state: 'down', error: 'ENETDOWN', lastPeerPacketMs: 42_000 } } });
    const text = await buildRegistry({ status: () => st, counters: new Counters() }).metrics();
    for (const line of [
      'edge_overlay_discovery_channel_up{channel="udp"} 1', 'edge_overlay_discovery_channel_up{channel="raw"} 0',
      'edge_overlay_discovery_last_peer_packet_seconds{channel="udp"} 1.5',
      'edge_overlay_discovery_last_peer_packet_seconds{channel="raw"} 42',
    ]) expect(text).toContain(line);
  });
});

describe('shipped files', () => {
  it('the unit is Type=notify, restarts always, keeps its run dir, and is hardened', () => {
    const u = file('systemd/edge-overlay.service');
    const lines = u.split('\n');
    for (const l of ['Type=notify', 'Restart=always', 'StateDirectory=edge-overlay', 'RuntimeDirectory=edge-overlay',
      'RuntimeDirectoryPreserve=yes',
      'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW', 'ProtectSystem=strict', 'ProtectHome=yes',
      'NoNewPrivileges=yes', 'PrivateTmp=yes',
      'RestrictAddressFamilies=AF_NETLINK AF_INET AF_INET6 AF_UNIX AF_PACKET',
      'ExecReload=/bin/sh -c \'kill -HUP "$$MAINPID"\'',
      'ProtectKernelModules=yes', 'ProtectKernelLogs=yes', 'ProtectKernelTunables=yes',
      'ReadWritePaths=/proc/sys/net/ipv4/conf',
      'PrivateDevices=yes', 'PrivateMounts=yes', 'ProtectProc=invisible', 'UMask=0077', 'MemoryDenyWriteExecute=yes',
      'SystemCallFilter=@system-service', 'SystemCallFilter=pkey_alloc pkey_free pkey_mprotect',
      'SystemCallFilter=~@privileged @resources', 'SystemCallFilter=capset setuid',
      'SystemCallErrorNumber=EPERM']) expect(lines).toContain(l);
    expect(u).toMatch(/^WatchdogSec=\d+$/m);
    // systemd applies SystemCallFilter= lines in order: capset and setuid
    // are allowed again only after @privileged was denied
    expect(lines.indexOf('SystemCallFilter=capset setuid'))
      .toBeGreaterThan(lines.indexOf('SystemCallFilter=~@privileged @resources'));
    // what the agent cannot live with: it configures the host's network and writes /proc/sys/net/ipv4/conf
    expect(u).not.toMatch(/^(PrivateNetwork|PrivateUsers|ProcSubset|IPAddressDeny|DynamicUser|User)=/m);
    expect(u).not.toMatch(/^AmbientCapabilities=/m); // root: the bounding set is what counts
    expect(u).not.toMatch(/^After=.*network-online\.target/m); // must not block boot while DHCP is down
  });

  it('the drop-ins tell networkd and NetworkManager to leave scbr-100 alone', () => {
    expect(file('systemd/10-edge-overlay-unmanaged.network')).toMatch(/Name=scbr-100 scvx-\*[\s\S]*Unmanaged=yes/);
    expect(file('systemd/edge-overlay-unmanaged.conf'))
      .toContain('unmanaged-devices=interface-name:scbr-100;interface-name:scvx-*');
  });

  it('the cloud-init user-data asks for two things only (package source, key), writes a valid config and installs '
    + 'and enables the agent', () => {
    const text = file('scripts/cloud-init/user-data.yaml');
    const ud = parseYaml(text) as { write_files: { path: string; content: string; permissions: string }[];
      runcmd: (string | string[])[]; packages?: string[] };
    const cfg = ud.write_files.find((f) => f.path === '/etc/edge-overlay/config.yaml')!;
    // no interface: the agent takes the default route's NIC at first start (no eth0 guess)
    expect(resolve(parseConfigFile(cfg.content, 'user-data'), {}).agent)
      .toMatchObject({ interface: '', cluster: 'edge' });
    expect(ud.write_files.find((f) => f.path === '/etc/edge-overlay/cluster.key')!)
      .toMatchObject({ permissions: '0600', content: expect.stringContaining('REPLACE-WITH-THE-CLUSTER-KEY') });
    // the package source is set in one visible place, read by the install command
    const pkg = ud.write_files.find((f) => f.path === '/etc/edge-overlay/package.env')!;
    expect(pkg.content.trim().split('\n'))
      .toEqual([expect.stringMatching(/^EDGE_OVERLAY_DEB=https:\/\/\S+_amd64\.deb$/)]);
    expect(text.match(/EDGE_OVERLAY_DEB=/g)).toHaveLength(1);
    expect(text).not.toMatch(/\$\{RELEASE_URL|Node\.js 20 must/);
    const install = ud.runcmd.find((c) => Array.isArray(c) && c.join(' ').includes('apt-get install'))! as string[];
    expect(install.slice(0, 2)).toEqual(['sh', '-ec']);
    expect(install[2]).toContain('. /etc/edge-overlay/package.env');
    expect(ud.runcmd).toContainEqual(['systemctl', 'enable', '--now', 'edge-overlay.service']);
    expect(ud.packages).toBeUndefined(); // the package's Depends bring nftables and iproute2
  });

  it('the Kairos stages configure the agent (no interface, the key to replace), '
    + 'fix VMXNET3 offloads on its NIC and start it', () => {
    const k = parseYaml(file('scripts/cloud-init/kairos-stages.yaml'), { version: '1.1' }) as {
      stages: Record<string, { name: string; commands?: string[]; files?: { path: string; content: string;
        permissions: number }[]; systemctl?: { enable?: string[]; start?: string[] } }[]>;
    };
    expect(Object.keys(k.stages)).toEqual(['boot', 'network']);
    const files = k.stages.boot![0]!.files!;
    const cfg = files.find((f) => f.path === '/etc/edge-overlay/config.yaml')!;
    expect(cfg.permissions).toBe(0o600);
    expect(resolve(parseConfigFile(cfg.content, 'kairos'), {}).agent.interface).toBe('');
    expect(files.find((f) => f.path === '/etc/edge-overlay/cluster.key')!.permissions).toBe(0o600);
    expect(k.stages.network![0]!.commands).toEqual(['edge-overlay doctor --fix >/dev/null || true']);
    expect(k.stages.network![0]!.systemctl).toEqual({ enable: ['edge-overlay'], start: ['edge-overlay'] });
    expect(file('scripts/cloud-init/kairos-stages.yaml')).not.toMatch(/ethtool --offload eth0/);
  });
});
