// Integration: running it like a real edge service — the systemd unit
// (systemd-analyze verify), sd_notify READY/STATUS/WATCHDOG/STOPPING seen by
// a real notification socket, cloud-init schema, install.sh and the .deb,
// doctor --fix on a NIC with tunnel offloads, the metrics endpoint, SIGHUP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync,
  writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENT_BIN, Lab, ROOT, have, labUnavailable, sleep, until, type Host } from '../lab/lab.js';

/**
 * These tests read IPv4 FDB entries and filter sets: the IPv4 underlay
 * (family.test.ts and underlay.test.ts cover link-local).
 */
const IPV4 = ['--underlay', 'ipv4'];

const why = labUnavailable();
if (why) console.warn(`SKIPPED service integration tests: ${why}`);

describe.skipIf(why)('packaging and shipped files', () => {
  const dest = mkdtempSync(join(tmpdir(), 'eo-install-'));
  afterAll(() => rmSync(dest, { recursive: true, force: true }));

  it('install.sh installs into a DESTDIR, is idempotent, and uninstalls cleanly', () => {
    const run = (...args: string[]) =>
      execFileSync('bash', [join(ROOT, 'scripts/install.sh'), '--destdir', dest, ...args], { encoding: 'utf8' });
    run('--interface', 'eth7');
    for (const f of ['opt/edge-overlay/edge-overlay.cjs', 'opt/edge-overlay/edge_overlay.node',
      'opt/edge-overlay/netlink_binding.node', 'opt/edge-overlay/configure.sh',
      'etc/systemd/system/edge-overlay.service', 'etc/systemd/network/10-edge-overlay-unmanaged.network',
      'etc/NetworkManager/conf.d/edge-overlay-unmanaged.conf', 'etc/edge-overlay/config.yaml',
      'etc/edge-overlay/cluster.key']) {
      expect(existsSync(join(dest, f)), f).toBe(true);
    }
    // the command is a link to the bundle, which names this host's node in its shebang
    expect(readlinkSync(join(dest, 'usr/local/bin/edge-overlay'))).toBe('/opt/edge-overlay/edge-overlay.cjs');
    expect(readFileSync(join(dest, 'opt/edge-overlay/edge-overlay.cjs'), 'utf8').split('\n', 1)[0])
      .toBe(`#!/usr/bin/env -S ${realpathSync(process.execPath)} --max-semi-space-size=1 --lite-mode --no-expose-wasm`);
    expect(readFileSync(join(dest, 'etc/systemd/system/edge-overlay.service'), 'utf8'))
      .toMatch(/^ExecStart=\/usr\/local\/bin\/edge-overlay agent /m);
    expect(execFileSync('stat', ['-c', '%a', join(dest, 'etc/edge-overlay/cluster.key')], { encoding: 'utf8' })
      .trim()).toBe('600');
    expect(readFileSync(join(dest, 'etc/edge-overlay/config.yaml'), 'utf8')).toMatch(/^interface: eth7 /m);
    const key = readFileSync(join(dest, 'etc/edge-overlay/cluster.key'), 'utf8');
    expect(key).toMatch(/^[0-9a-f]{64}\n$/);
    run('--interface', 'eth8'); // idempotent: config and key untouched
    expect(readFileSync(join(dest, 'etc/edge-overlay/cluster.key'), 'utf8')).toBe(key);
    expect(readFileSync(join(dest, 'etc/edge-overlay/config.yaml'), 'utf8')).toMatch(/^interface: eth7 /m);
    // the installed release runs on its own
    expect(execFileSync(join(dest, 'opt/edge-overlay/edge-overlay.cjs'),
      ['--version'], { encoding: 'utf8', cwd: tmpdir() }).trim())
      .toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    run('--uninstall');
    expect(existsSync(join(dest, 'opt/edge-overlay'))).toBe(false);
    expect(() => readlinkSync(join(dest, 'usr/local/bin/edge-overlay'))).toThrow();
    expect(existsSync(join(dest, 'etc/systemd/system/edge-overlay.service'))).toBe(false);
    expect(existsSync(join(dest, 'etc/edge-overlay/cluster.key'))).toBe(true); // kept without --purge
    run('--uninstall', '--purge');
    expect(readdirSync(join(dest, 'etc'))).not.toContain('edge-overlay');
  });

  // A checkout owned by an ordinary user, with sloppy modes (umask 000): what
  // `sudo scripts/install.sh` from a home directory meets.
  let userTree: string | undefined;
  afterAll(() => { if (userTree) rmSync(userTree, { recursive: true, force: true }); });
  function untrustedCheckout(): string {
    if (userTree) return userTree;
    userTree = mkdtempSync(join(tmpdir(), 'eo-user-checkout-'));
    for (const p of ['package.json', 'package-lock.json', 'README.md', 'dist', 'node_modules', 'systemd',
      'scripts/install.sh', 'scripts/build-deb.sh', 'scripts/configure.sh', 'build/Release/edge_overlay.node']) {
      execFileSync('cp', ['-a', '--parents', p, userTree], { cwd: ROOT });
    }
    execFileSync('chmod', ['-R', 'g+w,o+w', userTree]);
    execFileSync('chown', ['-R', '65534:65534', userTree]);
    return userTree;
  }
  /** "uid:gid mode type path" of `paths` and everything under them */
  const listing = (paths: string[]): string[] =>
    execFileSync('find', [...paths, '-printf', '%U:%G %m %y %p\\n'], { encoding: 'utf8' }).trim().split('\n');

  it('install.sh from a checkout an ordinary user owns installs root:root files nobody else can '
    + 'write, whatever the umask', () => {
    const src = untrustedCheckout();
    for (const umask of ['000', '077']) {
      const dir = mkdtempSync(join(tmpdir(), 'eo-owned-'));
      try {
        execFileSync('sh', ['-c', `umask ${umask}; exec bash "$0/scripts/install.sh" --destdir "$1" --interface eth7`,
          src, dir], { encoding: 'utf8' });
        const rel = ['opt/edge-overlay', 'usr/local/bin/edge-overlay', 'etc/systemd/system/edge-overlay.service',
          'etc/systemd/network/10-edge-overlay-unmanaged.network',
          'etc/NetworkManager/conf.d/edge-overlay-unmanaged.conf'];
        const all = listing(rel.map((r) => join(dir, r)));
        expect(all.length).toBeGreaterThan(10);
        const bad = all.filter((l) => !/^0:0 (755 d|644 f|755 f|777 l) /.test(l));
        expect(bad, `umask ${umask}`).toEqual([]);
        expect(all.filter((l) => / f .*\/(edge-overlay\.cjs|configure\.sh)$/.test(l)).map((l) => l.split(' ')[1]))
          .toEqual(['755', '755']);
        // the parents it made, and the configuration, are root's too
        expect(listing([join(dir, 'opt'), join(dir, 'usr/local/bin'), join(dir, 'etc/systemd/system')])
          .filter((l) => / d /.test(l) && !l.startsWith('0:0 755 d'))).toEqual([]);
        expect(listing([join(dir, 'etc/edge-overlay')]).map((l) => l.replace(`${dir}/`, '')))
          .toEqual(expect.arrayContaining([
            '0:0 700 d etc/edge-overlay', '0:0 600 f etc/edge-overlay/cluster.key',
            '0:0 600 f etc/edge-overlay/config.yaml']));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it('the bundle loads only what a command needs: --version and status never compile the commands half, '
    + 'child_process or the validator', () => {
    const bundle = join(ROOT, 'dist', 'edge-overlay.cjs');
    const flags = (readFileSync(bundle, 'utf8').split('\n', 1)[0] ?? '').split(' ').filter((f) => f.startsWith('--'));
    const dir = mkdtempSync(join(tmpdir(), 'eo-loads-'));
    try {
      // at exit, the Node modules the process loaded (vm: the commands half was compiled)
      const preload = join(dir, 'preload.cjs');
      writeFileSync(preload, "process.on('exit', () => require('fs').writeFileSync(process.env.EO_LOADS, "
        + "JSON.stringify({ builtins: process.moduleLoadList })));\n");
      const loads = (args: string[]): { builtins: string[] } => {
        const file = join(dir, `${args[0]}.json`);
        spawnSync(process.execPath, [...flags, '-r', preload, bundle, ...args],
          { env: { ...process.env, EO_LOADS: file }, stdio: ['ignore', 'pipe', 'pipe'] });
        return JSON.parse(readFileSync(file, 'utf8')) as { builtins: string[] };
      };
      const heavy =
        ['NativeModule vm', 'NativeModule child_process', 'NativeModule zlib', 'NativeModule worker_threads'];
      for (const args of [['--version'], ['status', '--run-dir', join(dir, 'none')],
        ['peers', '--json', '--run-dir', join(dir, 'none')]]) {
        const { builtins } = loads(args);
        expect(builtins.filter((m) => heavy.includes(m)), args.join(' ')).toEqual([]);
      }
      // nothing to connect to, no stdout stream
      expect(loads(['--version']).builtins).not.toContain('NativeModule net');
      // control: a command that needs the commands half compiles it (vm) and so would show above
      expect(loads(['keygen']).builtins).toContain('NativeModule vm');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!have('systemd-analyze'))('systemd-analyze verify accepts the unit (and rejects a broken one)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eo-unit-'));
    try {
      execFileSync('bash', [join(ROOT, 'scripts/install.sh'), '--destdir', dir, '--files-only'], { encoding: 'utf8' });
      const unit = join(dir, 'edge-overlay.service');
      // verify checks that ExecStart exists: point it at the installed program in the DESTDIR
      writeFileSync(unit, readFileSync(join(dir, 'etc/systemd/system/edge-overlay.service'), 'utf8')
        .replace('/usr/local/bin/edge-overlay', join(dir, 'opt/edge-overlay/edge-overlay.cjs')));
      const ok = spawnSync('systemd-analyze', ['verify', '--man=no', unit], { encoding: 'utf8' });
      expect(ok.stderr).toBe('');
      expect(ok.status).toBe(0);
      const bad = join(dir, 'broken.service');
      writeFileSync(bad, readFileSync(unit, 'utf8').replace('Type=notify', 'Type=notifyy')
        .replace('Restart=always', 'Restart=sometimes'));
      const no = spawnSync('systemd-analyze', ['verify', '--man=no', bad], { encoding: 'utf8' });
      expect(no.stderr).toMatch(/Failed to parse service type|Failed to parse service restart specifier/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!have('cloud-init'))('cloud-init schema accepts the user-data (and rejects a broken one)', () => {
    const ud = join(ROOT, 'scripts/cloud-init/user-data.yaml');
    const ok = spawnSync('cloud-init', ['schema', '--config-file', ud], { encoding: 'utf8' });
    expect(ok.stdout).toContain('Valid cloud-config');
    expect(ok.status).toBe(0);
    const bad = join(tmpdir(), `eo-bad-user-data-${process.pid}.yaml`);
    writeFileSync(bad, readFileSync(ud, 'utf8').replace("permissions: '0600'", 'permissions: 384')
      .replace('runcmd:', 'runcmd: "not a list"\nignored:'));
    const no = spawnSync('cloud-init', ['schema', '--config-file', bad], { encoding: 'utf8' });
    rmSync(bad);
    expect(no.status).not.toBe(0);
    expect(`${no.stdout}${no.stderr}`).toMatch(/is not of type/);
  });

  it.skipIf(!have('dpkg-deb'))('build-deb.sh builds a package that brings its own Node 20, the bundle, '
    + 'the unit and maintainer scripts (root:root, from a user\'s checkout)', () => {
    const out = mkdtempSync(join(tmpdir(), 'eo-deb-'));
    try {
      const deb =
        execFileSync('sh', ['-c', 'umask 000; exec bash "$0/scripts/build-deb.sh" "$1" --fast --version 0.2.0+t1',
          untrustedCheckout(), out], { encoding: 'utf8' }).trim();
      expect(deb).toBe(join(out,
        `edge-overlay_0.2.0+t1_${execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim()}.deb`));
      const info = execFileSync('dpkg-deb', ['--info', deb], { encoding: 'utf8' });
      expect(info).toMatch(/Package: edge-overlay/);
      expect(info).toMatch(/^ Version: 0\.2\.0\+t1$/m);
      for (const s of ['postinst', 'prerm', 'postrm']) expect(info).toMatch(new RegExp(`\\b${s}\\b`));
      const files = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8' });
      for (const f of ['./usr/bin/edge-overlay -> ../lib/edge-overlay/edge-overlay.cjs',
        './usr/lib/systemd/system/edge-overlay.service', './usr/lib/edge-overlay/edge-overlay.cjs',
        './usr/lib/edge-overlay/node',
        './usr/lib/edge-overlay/edge_overlay.node', './usr/lib/edge-overlay/netlink_binding.node',
        './usr/share/edge-overlay/configure.sh']) expect(files).toContain(f);
      expect(files).not.toContain('cluster.key'); // keys are made on the host, never shipped
      const entries = files.trim().split('\n');
      expect(entries.filter((l) => !/^(drwxr-xr-x|-rw-r--r--|-rwxr-xr-x|lrwxrwxrwx) root\/root /.test(l))).toEqual([]);
      expect(entries.find((l) => l.endsWith(' ./'))).toMatch(/^drwxr-xr-x /);
      // nothing under /etc: the host's configuration is written by postinst, removed by purge
      expect(files).not.toMatch(/ \.\/etc\//);
      // the agent refuses READY without its ingress filter: nftables is a hard dependency; Node is not one
      expect(info).toMatch(/^ Depends: nftables, iproute2, libc6 \(>= 2\.28\), libstdc\+\+6 \(>= 11\), libgcc-s1$/m);
      expect(info).not.toMatch(/Recommends:|nodejs/);
      // the runtime it brings is Node 20 and loads both addons (the same ABI they were built for)
      const x = join(out, 'x');
      execFileSync('dpkg-deb', ['-x', deb, x]);
      const lib = join(x, 'usr/lib/edge-overlay');
      expect(execFileSync(join(lib, 'node'), ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' })
        .trim()).toBe('20');
      expect(execFileSync(join(lib, 'node'), ['-e', `require(${JSON.stringify(join(lib, 'edge_overlay.node'))}); `
        + `require(${JSON.stringify(join(lib, 'netlink_binding.node'))}); console.log('ok')`], { encoding: 'utf8' })
        .trim()).toBe('ok');
      expect(execFileSync(join(lib, 'node'), [join(lib, 'edge-overlay.cjs'), '--version'], { encoding: 'utf8' }).trim())
        .toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
      expect(readFileSync(join(lib, 'edge-overlay.cjs'), 'utf8').split('\n', 1)[0])
        .toBe('#!/usr/bin/env -S /usr/lib/edge-overlay/node --max-semi-space-size=1 --lite-mode --no-expose-wasm');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);
});

describe.skipIf(why)('the agent as a systemd service, on namespace hosts', () => {
  let lab: Lab;
  const h = (i: number): Host => lab.hosts[i - 1]!;
  const listener = fileURLToPath(new URL('./children/notify-listener.py', import.meta.url));

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 2, agentArgs: IPV4 });
    lab.startAgent(h(2));
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  async function notifications(x: Host, socket: string): Promise<{ read: () => Record<string, unknown>[] }> {
    const log = join(x.dir, `notify-${Date.now()}.log`);
    lab.spawnIn(x.ns, ['python3', listener, socket], log);
    await until('the notify listener',
      () => (existsSync(log) && readFileSync(log, 'utf8').includes('listening')) || undefined);
    return { read: () => readFileSync(log, 'utf8').trim().split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => 'msg' in r) };
  }

  it('sends READY=1 only once the overlay works, then STATUS, WATCHDOG=1 pings and STOPPING=1 (path socket)',
    async () => {
    lab.startAgent(h(1));
    const first = await lab.converged();
    await lab.stopAgent(h(1));
    // take the overlay down, so READY must wait until it is rebuilt and programmed
    lab.exec(h(1), ['ip', 'link', 'del', 'scvx-100']);
    lab.exec(h(1), ['ip', 'link', 'del', 'scbr-100']);
    const socket = join(h(1).dir, 'notify.sock');
    const n = await notifications(h(1), socket);
    lab.startAgent(h(1), [], { NOTIFY_SOCKET: socket, WATCHDOG_USEC: '400000' });
    const ready = await until('READY=1', () => n.read().find((r) => String(r.msg).includes('READY=1')), 15_000);
    expect(String(ready.addr)).toContain(`inet ${first[0]!.node.overlayIp}/24`);
    expect(String(ready.fdb)).toContain(`00:00:00:00:00:00 dst ${h(2).ip} self permanent`);
    expect(String(ready.msg)).toMatch(new RegExp(
      /STATUS=overlay 100\.64\.192\.\d+; 1 peers alive, 0 stale; dataplane ready/.source
      + '|' + /STATUS=overlay 100\.64\.192\.\d+; 0 peers alive, 1 stale; dataplane ready/.source));
    await sleep(1000);
    expect(n.read().filter((r) => r.msg === 'WATCHDOG=1').length).toBeGreaterThanOrEqual(4);
    expect(n.read().filter((r) => String(r.msg).includes('READY=1'))).toHaveLength(1);
    await lab.stopAgent(h(1));
    // the listener prints the datagram on its own schedule: wait for it, then check it came last
    await until('STOPPING=1 to be printed', () => n.read().some((r) => String(r.msg).startsWith('STOPPING=1'))
      || undefined, 2000);
    expect(String(n.read().at(-1)!.msg)).toMatch(/^STOPPING=1/);
  });

  it('notifies an abstract socket too', async () => {
    const socket = `@eo-notify-${process.pid}`;
    const n = await notifications(h(1), socket);
    lab.startAgent(h(1), [], { NOTIFY_SOCKET: socket });
    await until('READY=1 on the abstract socket',
      () => n.read().find((r) => String(r.msg).includes('READY=1')), 15_000);
  });

  it('doctor --disable-tunnel-offloads switches the UDP tunnel offloads off on a veth NIC', async () => {
    await lab.converged(); // the restarted agent has heard its peer again
    const features = (): Record<string, boolean> => JSON.parse(lab.exec(h(1), [process.execPath, '-e',
      `const a=require(${JSON.stringify(join(ROOT, 'build/Release/edge_overlay.node'))});`
        + `console.log(JSON.stringify(Object.fromEntries(a.ethtoolFeatures('eth0')`
        + `.filter(f=>/udp_tnl/.test(f.name)).map(f=>[f.name,f.active]))))`]));
    expect(features()).toEqual({ 'tx-udp_tnl-segmentation': true, 'tx-udp_tnl-csum-segmentation': true });
    const r = spawnSync('ip', ['netns', 'exec', h(1).ns, process.execPath, AGENT_BIN, 'doctor', '--interface', 'eth0',
      '--run-dir', lab.runDir(h(1)),
      '--disable-tunnel-offloads', '--json'], { encoding: 'utf8' });
    const out = JSON.parse(r.stdout) as { checks: { id: string; ok: boolean; fixed?: boolean; detail: string }[] };
    expect(out.checks.find((c) => c.id === 'offloads')).toMatchObject({ ok: true, fixed: true });
    expect(features()).toEqual({ 'tx-udp_tnl-segmentation': false, 'tx-udp_tnl-csum-segmentation': false });
    const text = spawnSync('ip', ['netns', 'exec', h(1).ns, process.execPath, AGENT_BIN, 'doctor', '--interface',
      'eth0', '--run-dir', lab.runDir(h(1))], { encoding: 'utf8' });
    expect(text.stdout).toMatch(/^✓ kernel: /m);
    expect(text.stdout, text.stdout + text.stderr).toMatch(/^✓ broadcast: the agent hears 1 peer$/m);
    // without an agent, it listens on the LAN itself (with this cluster's name and key)
    await lab.stopAgent(h(1));
    const alone = spawnSync('ip', ['netns', 'exec', h(1).ns, process.execPath, AGENT_BIN, 'doctor', '--interface',
      'eth0', '--run-dir', lab.runDir(h(1)),
      '--cluster', 'lab', '--cluster-key-file', lab.keyFile], { encoding: 'utf8' });
    expect(alone.stdout, alone.stdout + alone.stderr)
      .toMatch(/^✓ broadcast: heard \d+ discovery packets? of this cluster in 6 s$/m);
    lab.startAgent(h(1));
  });

  it('serves Prometheus metrics and reloads on SIGHUP: log level and keys live, CIDR and VNI refused', async () => {
    await lab.stopAgent(h(1));
    const cfgFile = join(h(1).dir, 'config.yaml');
    writeFileSync(cfgFile, `interface: eth0\ncluster: lab\nclusterKeyFile: ${lab.keyFile}\n`
      + `stateDir: ${join(h(1).dir, 'state')}\nrunDir: ${lab.runDir(h(1))}\nmetricsListen: 127.0.0.1:9478\n`
      + `logLevel: info\n`);
    lab.startAgent(h(1), ['--config', cfgFile]);
    await lab.converged();
    const scrape = (): string => lab.exec(h(1), [process.execPath, '-e',
      'fetch("http://127.0.0.1:9478/metrics").then(r=>r.text()).then(t=>process.stdout.write(t))']);
    const text = await until('metrics', () => { try { return scrape(); } catch { return undefined; } });
    for (const m of ['edge_overlay_peers{state="alive"} 1', 'edge_overlay_fdb_entries 2',
      'edge_overlay_announcements_sent_total{type="announce"}',
      'edge_overlay_reconcile_duration_seconds_bucket', 'edge_overlay_info{node=',
      'edge_overlay_filter_enabled 1']) expect(text).toContain(m);
    writeFileSync(cfgFile, readFileSync(cfgFile, 'utf8').replace('logLevel: info', 'logLevel: debug')
      + 'vni: 200\noverlayCidr: 10.1.0.0/24\n');
    h(1).agent!.kill('SIGHUP');
    const log = await until('the reload', () => {
      const l = readFileSync(join(h(1).dir, 'agent.log'), 'utf8');
      return l.includes('SIGHUP: log level changed') && l.includes('cluster keyring reloaded') ? l : undefined;
    });
    expect(log).toContain('SIGHUP: vni cannot change (100 -> 200): every host of the cluster must use the same VNI');
    expect(log).toContain('SIGHUP: overlayCidr cannot change (100.64.192.0/24 -> 10.1.0.0/24)');
    const st = await lab.status(h(1));
    expect(st.cluster).toMatchObject({ vni: 100, cidr: '100.64.192.0/24' }); // unchanged
  });
});
