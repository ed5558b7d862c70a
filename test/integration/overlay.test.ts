// Integration: the real agent on the real kernel. Three namespace hosts on a
// bridge "LAN" with dnsmasq as the building's DHCP server and dhclient on each
// host; the hosts get renumbered through DHCP while traffic flows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_BIN, Lab, labUnavailable, sleep, until, type Host } from '../lab/lab.js';
import { median } from '../../bench/stats.js';
import { contains, parseCidr, parseIpv4, type Cidr } from '../../src/net/ipv4.js';
import type { StatusReport } from '../../src/agent/records/status.js';

/**
 * These tests read IPv4 FDB entries and filter sets: the IPv4 underlay
 * (family.test.ts and underlay.test.ts cover link-local).
 */
const IPV4 = ['--underlay', 'ipv4'];

const why = labUnavailable();
if (why) console.warn(`SKIPPED overlay integration tests: ${why}`);

const CIDR = parseCidr('100.64.192.0/24') as Cidr;

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [AGENT_BIN, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(why)('overlay on namespace hosts with real DHCP', () => {
  let lab: Lab;
  let overlay: Map<Host, string>;
  const h = (i: number): Host => lab.hosts[i]!;
  const ipOf = (x: Host): string => overlay.get(x)!;

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 3, agentArgs: IPV4 });
    const st = await lab.startAll();
    overlay = new Map(lab.hosts.map((x, i) => [x, st[i]!.node.overlayIp!]));
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  it('gives three distinct overlay IPs inside the CIDR, none of them the VIP, and persists them', async () => {
    const ips = [...overlay.values()];
    expect(new Set(ips).size).toBe(3);
    for (const x of lab.hosts) {
      const ip = ipOf(x);
      expect(contains(CIDR, parseIpv4(ip)!)).toBe(true);
      expect(ip).not.toBe('100.64.192.1');
      const state = JSON.parse(readFileSync(join(x.dir, 'state', 'state.json'), 'utf8')) as { overlayIp: string };
      expect(state.overlayIp).toBe(ip);
      expect(lab.exec(x, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'scbr-100'])).toContain(`inet ${ip}/24`);
      expect(lab.exec(x, ['ip', '-o', 'link', 'show', 'scbr-100'])).toContain('mtu 1450');
    }
  });

  it('carries ping between every pair of overlay IPs', () => {
    for (const a of lab.hosts) for (const b of lab.hosts) if (a !== b) expect(lab.ping(a, ipOf(b), 3, 0.05)).toBe(true);
  });

  describe('renumbering through DHCP, with a TCP connection open across it', () => {
    let tcp: Awaited<ReturnType<Lab['tcp']>>;
    const pids = new Map<Host, number | undefined>();

    beforeAll(async () => {
      for (const x of lab.hosts) pids.set(x, x.agent?.pid);
      tcp = await lab.tcp(h(0), h(1), ipOf(h(1)));
    });

    it('restores traffic to a renumbered host without restarting anything (5 tries)', async () => {
      const recoveries: number[] = [];
      for (let trial = 0; trial < 5; trial++) {
        const pinger = lab.pinger(h(0), ipOf(h(1)), 0.005);
        await sleep(300);
        const [r] = await lab.renumber([h(1)]);
        expect(r!.ip).not.toBe(r!.old);
        expect(lab.addressOf(h(1))).toBe(r!.ip);
        await sleep(700);
        const { replies } = await pinger.stop();
        const first = replies.find((t) => t > r!.boundAt);
        expect(first, 'overlay traffic resumed after renumbering').toBeDefined();
        recoveries.push(first! - r!.boundAt);
      }
      console.log(`recovery from new DHCP address to overlay ping reply `
        + `(ms): ${recoveries.map((x) => x.toFixed(1)).join(', ')}; median ${median(recoveries).toFixed(1)}`);
      for (const x of lab.hosts) expect(x.agent?.pid).toBe(pids.get(x)); // no restart
      const st = await lab.status(h(0));
      expect(st.peers.find((p) => p.overlayIp === ipOf(h(1)))!.underlayIp).toBe(h(1).ip);
    });

    it('restores traffic when every host is renumbered at once', async () => {
      const results = await lab.renumber(lab.hosts);
      expect(results.every((r) => r.ip !== r.old)).toBe(true);
      await until('every pair to ping again', () => lab.hosts.every((a) =>
        lab.hosts.every((b) => a === b || lab.ping(a, ipOf(b), 1, 0.05))) || undefined, 10_000, 100);
      const st = await lab.converged();
      st.forEach((s, i) => expect(s.node.overlayIp).toBe(ipOf(h(i)))); // overlay IPs unchanged
      for (const x of lab.hosts) expect(x.agent?.pid).toBe(pids.get(x));
    });

    it('keeps the TCP connection opened before renumbering alive and delivering', async () => {
      await sleep(500);
      const r = await tcp.stop();
      expect(r.error).toBeNull();
      expect(r.closed).toBe(false);
      expect(r.sent).toBeGreaterThan(0);
      expect(r.received).toBe(r.sent); // the server got every byte...
      expect(r.echoed).toBe(r.sent); // ...and every byte came back...
      expect(r.intact).toBe(true); // ...in order and unchanged
      console.log(`tcp over the overlay across 6 renumberings: sent ${r.sent} B, received ${r.received} B, `
        + `echoed ${r.echoed} B intact, longest gap ${r.maxGapMs} ms`);
    });
  });

  it('keeps its overlay IP across an agent restart and loses no ping meanwhile', async () => {
    const pinger = lab.pinger(h(1), ipOf(h(0)), 0.01);
    await sleep(300);
    await lab.stopAgent(h(0));
    // the data path stays up
    expect(lab.exec(h(0), ['ip', '-4', '-o', 'addr', 'show', 'dev', 'scbr-100'])).toContain(ipOf(h(0)));
    await sleep(300);
    const logBefore = readFileSync(join(h(0).dir, 'agent.log'), 'utf8').length;
    lab.startAgent(h(0));
    const st = await until('the restarted agent to be ready', async () => {
      const s = await lab.tryStatus(h(0));
      return s?.dataplane.ready ? s : undefined;
    });
    await sleep(500);
    const { replies, sent } = await pinger.stop();
    expect(st.node.overlayIp).toBe(ipOf(h(0)));
    expect(sent - replies.length).toBeLessThanOrEqual(1); // the last echo may still be in flight when ping stops
    // the restarted agent adopted the FDB: it deleted nothing (pino writes msg last, after the ops)
    const restarted = readFileSync(join(h(0).dir, 'agent.log'), 'utf8').slice(logBefore);
    expect(restarted).toContain('"msg":"agent started with its overlay address"');
    expect(restarted).not.toMatch(/"ops":\[[^\]\n]*"fdb del[^\n]*"msg":"dataplane updated"/);
  });

  it('rides out a storm of 10,000 netlink events, resyncs, and repairs what changed meanwhile', async () => {
    const x = h(0);
    await lab.stopAgent(x);
    lab.startAgent(x, [], { EDGE_OVERLAY_EVENT_RCVBUF: '4096' }); // tiny buffer: the storm must overrun it
    await lab.converged();
    const pid = x.agent!.pid;
    lab.exec(x, ['ip', 'link', 'add', 'stormA', 'type', 'veth', 'peer', 'name', 'stormB']);
    lab.exec(x, ['ip', 'link', 'set', 'stormA', 'up']);
    const victim = lab.exec(x, ['bridge', 'fdb', 'show', 'dev', 'scvx-100']).split('\n')
      .find((l) => l.startsWith('00:00:00:00:00:00'))!;
    const dst = /dst (\S+)/.exec(victim)![1]!;
    const batch = join(x.dir, 'storm.batch');
    const lines: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      lines.push(`neigh add 10.250.${(i >> 8) & 255}.${i & 255} lladdr 02:00:00:00:00:01 dev stormA nud permanent`);
    }
    writeFileSync(batch, `${lines.join('\n')}\n`);
    // The agent is descheduled (SIGSTOP) while the storm and a change to its
    // FDB happen: its 4 KiB event buffer overruns for sure, and the change's
    // event is lost with the rest.
    x.agent!.kill('SIGSTOP');
    const storm = spawnSync('ip', ['netns', 'exec', x.ns, 'sh', '-c',
      `ip -batch ${batch} && bridge fdb del 00:00:00:00:00:00 dev scvx-100 dst ${dst}`], { encoding: 'utf8' });
    x.agent!.kill('SIGCONT');
    expect(storm.status).toBe(0);
    await until('the flood entry to be restored', () => lab.exec(x, ['bridge', 'fdb', 'show', 'dev', 'scvx-100'])
      .includes(`00:00:00:00:00:00 dst ${dst} self permanent`) || undefined, 10_000, 50);
    const st = await lab.status(x);
    expect(x.agent!.pid).toBe(pid);
    expect(x.agent!.exitCode).toBeNull();
    expect(st.counters.kernelResyncs).toBeGreaterThanOrEqual(1);
    expect(st.dataplane.ready).toBe(true);
    lab.exec(x, ['ip', 'link', 'del', 'stormA']);
    await lab.stopAgent(x);
    lab.startAgent(x);
    await lab.converged();
  });

  it('answers status and peers on the CLI, with each peer at its current physical IP', async () => {
    const runDir = lab.runDir(h(2));
    const json = cli(['status', '--json', '--run-dir', runDir]);
    expect(json.code).toBe(0);
    const s = JSON.parse(json.stdout) as StatusReport;
    expect(s.node).toMatchObject({ overlayIp: ipOf(h(2)), underlayIp: h(2).ip, interface: 'eth0',
      bridge: 'scbr-100', mtu: 1450 });
    expect(s.cluster).toMatchObject({ name: 'lab', cidr: '100.64.192.0/24', vip: '100.64.192.1', vni: 100 });
    expect(s.peers.map((p) => [p.overlayIp, p.underlayIp, p.state]).sort()).toEqual(
      [h(0), h(1)].map((x) => [ipOf(x), x.ip, 'alive']).sort());
    for (const p of s.peers) expect(p.lastSeenMs).toBeLessThan(5000);
    const text = cli(['status', '--run-dir', runDir]);
    expect(text.stdout).toContain('OVERLAY IP');
    expect(text.stdout).toContain(`${ipOf(h(2))}`);
    const peers = JSON.parse(cli(['peers', '--json', '--run-dir', runDir]).stdout) as unknown[];
    expect(peers).toHaveLength(2);
    const none = cli(['status', '--run-dir', join(lab.dir, 'nowhere')]);
    expect(none.code).toBe(1);
    expect(none.stderr.trim().split('\n')).toHaveLength(1);
    expect(none.stderr).toContain('no edge-overlay agent is running');
  });

  it('refuses bad input with one line and changes nothing', async () => {
    const x = h(2);
    await lab.stopAgent(x);
    const before = lab.exec(x, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'scbr-100']);
    const common = ['agent', '--interface', 'eth0', '--cluster', 'lab', '--state-dir', join(x.dir, 'state'),
      '--run-dir', lab.runDir(x)];
    const inNs = (args: string[]) => spawnSync('ip', ['netns', 'exec', x.ns, process.execPath, AGENT_BIN, ...args],
      { encoding: 'utf8', timeout: 20_000 });
    const cidr = inNs([...common, '--cluster-key-file', lab.keyFile, '--overlay-cidr', '10.123.0.0/24']);
    expect(cidr.status).toBe(1);
    expect(cidr.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(
      /^edge-overlay: overlay CIDR 10\.123\.0\.0\/24 differs from 100\.64\.192\.0\/24 /.source
      + /persisted in .*state\.json \(this host's overlay IP is 100\.64\.192\.\d+\); refusing to start/.source))]);
    const openKey = join(lab.dir, 'open.key');
    writeFileSync(openKey, readFileSync(lab.keyFile));
    chmodSync(openKey, 0o644);
    const key = inNs([...common, '--cluster-key-file', openKey]);
    expect(key.status).toBe(2);
    expect(key.stderr).toBe(
      `edge-overlay: cluster key file ${openKey} is readable by every user (mode 0644); run: chmod 600 ${openKey}\n`);
    const badFlag = inNs([...common, '--cluster-key-file', lab.keyFile, '--vni', '0']);
    expect(badFlag.status).toBe(2);
    expect(badFlag.stderr).toBe('edge-overlay: --vni: must be 1-16777215\n');
    // its persisted peers name the holder
    const taken = inNs([...common, '--cluster-key-file', lab.keyFile, '--overlay-ip', ipOf(h(0))]);
    expect(taken.status).toBe(1);
    expect(taken.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^edge-overlay: `
      + `overlay IP ${ipOf(h(0)).replaceAll('.', '\\.')} pinned by --overlay-ip is already taken: `
      + `node [0-9a-f]{32} holds it`))]);
    expect(lab.exec(x, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'scbr-100'])).toBe(before);
    lab.startAgent(x);
    await lab.converged();
  });

  it('edge-overlay down refuses while the agent runs, then removes the bridge and VXLAN device', async () => {
    const x = h(2);
    const down = (extra: string[] = []) => spawnSync('ip', ['netns', 'exec', x.ns, process.execPath, AGENT_BIN, 'down',
      '--run-dir', lab.runDir(x), ...extra], { encoding: 'utf8' });
    const refused = down();
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('an agent is still running');
    await lab.stopAgent(x);
    const ok = down();
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe('scvx-100: removed\nscbr-100: removed\nnftables table edge_overlay: removed\n');
    expect(lab.exec(x, ['ip', 'link', 'show', 'scbr-100'], true)).toBe('');
    expect(lab.exec(x, ['nft', 'list', 'tables'])).not.toContain('edge_overlay');
    expect(down().stdout)
      .toBe('scvx-100: not present\nscbr-100: not present\nnftables table edge_overlay: not present\n');
    // and the agent brings it all back with the same address
    lab.startAgent(x);
    const st = await lab.converged();
    expect(st[2]!.node.overlayIp).toBe(ipOf(x));
  });
});
