// Integration: a host whose configuration names no interface, with the real
// agent and doctor in lab namespaces. doctor --json answers JSON before
// anything is configured: it checks eth0, the default route's interface; in
// a namespace with no default route and no NIC its interface check fails
// (exit 1); a bad config file is a failed check. The agent chooses eth0 (the
// default route's), keeps it in its state, and restarted with DHCP down (no
// default route) while another interface holds the default route, keeps eth0.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, labUnavailable, until, type Host } from '../lab/lab.js';
import { AGENT_BIN, agentCommand } from '../lab/agents.js';

const why = labUnavailable();
if (why) console.warn(`SKIPPED doctor-fresh integration tests: ${why}`);

interface Check { id: string; ok: boolean; detail: string; advice?: string; skipped?: boolean }
interface Report { ok: boolean; agentRunning: boolean; interface: string | null; checks: Check[] }

/** Runs the CLI in namespace `ns`; its exit code, stdout and stderr (never throws on a non-zero exit). */
function cli(ns: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns, process.execPath, AGENT_BIN, ...args], { timeout: 30_000 },
      (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const json = (r: { stdout: string; stderr: string }): Report => {
  try {
    return JSON.parse(r.stdout) as Report;
  } catch {
    throw new Error(`doctor --json printed no JSON: ${JSON.stringify(r)}`);
  }
};
const check = (r: Report, id: string): Check => r.checks.find((c) => c.id === id)!;

describe.skipIf(why)('no interface configured: the agent chooses and keeps one, doctor still answers', () => {
  let lab: Lab;
  let x: Host;
  let bare: { ns: string };
  const stateDir = (): string => join(x.dir, 'state');
  const config = (): string => join(x.dir, 'config.yaml');
  const log = (): string => readFileSync(join(x.dir, 'agent.log'), 'utf8');

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 1 });
    x = lab.hosts[0]!;
    bare = { ns: `${lab.prefix}-bare` };
    lab.addNamespace(bare.ns); // lo only: no NIC, no route
    // what configure.sh writes from now on: no `interface:`
    writeFileSync(config(),
      `cluster: lab\nclusterKeyFile: ${lab.keyFile}\nstateDir: ${stateDir()}\nrunDir: ${lab.runDir(x)}\n`);
    writeFileSync(join(lab.dir, 'bare.yaml'), `cluster: lab\nclusterKeyFile: ${lab.keyFile}\n`
      + `stateDir: ${join(lab.dir, 'bare-state')}\nrunDir: ${join(lab.dir, 'bare-run')}\n`);
    writeFileSync(join(lab.dir, 'bad.yaml'), 'cluster: lab\nvni: 0\n');
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  const startAgent = (): void => {
    x.agent = lab.spawnIn(x.ns, [...agentCommand(), 'agent', '--config', config()], join(x.dir, 'agent.log'));
  };

  it('doctor --json before anything is configured: eth0 as the default route\'s; no route and no NIC: '
    + 'a failed interface check, exit 1', async () => {
    const [fresh, none, bad, badText] = await Promise.all([
      cli(x.ns, ['doctor', '--json', '--config', config()]),
      cli(bare.ns, ['doctor', '--json', '--config', join(lab.dir, 'bare.yaml')]),
      cli(bare.ns, ['doctor', '--json', '--config', join(lab.dir, 'bad.yaml')]),
      cli(bare.ns, ['doctor', '--config', join(lab.dir, 'bad.yaml')]),
    ]);
    const f = json(fresh);
    expect(f.interface).toBe('eth0');
    expect(check(f, 'interface')).toMatchObject({
      ok: true, detail: `no interface configured: checking eth0, the default route's interface (the agent will choose `
        + `it at first start); eth0 is up with ${x.ip}/24`,
    });
    expect(check(f, 'mtu').ok, JSON.stringify(check(f, 'mtu'))).toBe(true);

    const n = json(none);
    expect(none.code).toBe(1);
    expect(n).toMatchObject({ ok: false, interface: null });
    expect(check(n, 'interface')).toMatchObject({ ok: false, detail: expect.stringMatching(
      /^no interface configured, none kept in .*, no default route and not exactly one NIC/) });
    for (const id of ['ipv6', 'mtu', 'offloads']) expect(check(n, id), id).toMatchObject({ ok: false, skipped: true });
    expect(n.checks.filter((c) => c.detail.startsWith('check failed'))).toEqual([]);

    expect(bad.code).toBe(1);
    expect(json(bad).checks).toEqual([expect.objectContaining(
      { id: 'config', ok: false, detail: expect.stringMatching(/bad\.yaml: vni: must be 1-16777215$/) })]);
    expect(badText.code).toBe(1);
    expect(badText.stdout).toMatch(/^✗ config: config file .*bad\.yaml: vni: must be 1-16777215$/m);
  }, 40_000);

  it('the agent chooses eth0 (the default route\'s), keeps it, and keeps it after a restart with DHCP down and '
    + 'another NIC\'s default route', async () => {
    startAgent();
    const s = await until('the agent to run on eth0', async () => {
      const st = await lab.tryStatus(x);
      return st?.dataplane.ready ? st : undefined;
    }, 20_000, 50);
    expect(s.node).toMatchObject({ interface: 'eth0', interfaceSource: 'default-route' });
    expect(log())
      .toContain(`"interface eth0 chosen (the default route's); kept in ${stateDir()}; set interface: to change it"`);
    expect(JSON.parse(readFileSync(join(stateDir(), 'state.json'), 'utf8')))
      .toMatchObject({ interface: 'eth0', schema: 3 });

    // reboot with DHCP down: no address, no default route; a second interface holds the default route now
    await lab.stopAgent(x);
    await lab.stopDhcpServer();
    await lab.stopDhcp(x);
    lab.exec(x, ['ip', '-4', 'addr', 'flush', 'dev', 'eth0']);
    const pod = lab.addPod(x);
    lab.exec(x, ['ip', 'route', 'replace', 'default', 'via', pod.ip, 'dev', pod.hostIface]);
    expect(lab.exec(x, ['ip', '-4', 'route', 'show', 'default']).trim())
      .toBe(`default via ${pod.ip} dev ${pod.hostIface}`);
    const logFrom = log().length;
    startAgent();
    const again = await until('the restarted agent to answer', () => lab.tryStatus(x), 20_000, 50);
    expect(again.node).toMatchObject({ interface: 'eth0', interfaceSource: 'state', id: s.node.id,
      overlayIp: s.node.overlayIp });
    const restarted = log().slice(logFrom);
    expect(restarted)
      .toContain(`"interface eth0 (chosen at first start, kept in ${stateDir()}; set interface: to change it)"`);
    expect(restarted).not.toMatch(/chosen \(/);

    // doctor with the agent running and still no interface configured: the agent's
    const d = json(await cli(x.ns, ['doctor', '--json', '--config', config()]));
    expect(d).toMatchObject({ agentRunning: true, interface: 'eth0' });
    expect(check(d, 'interface').detail).toMatch(
      /^no interface configured: checking eth0, the running agent's interface; eth0 is up but has no IPv4 address$/);
  }, 60_000);
});
