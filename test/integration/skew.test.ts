// Integration: version skew with the previous release (0.1.0, built from this
// repository's history by test/lab/release.ts), with real agents on namespace
// hosts. A 0.1.0 host keeps the cluster on IPv4; upgraded in place it moves
// the cluster to link-local by itself with every overlay IP unchanged and
// traffic flowing; and 0.1.0 reads the state file the new release wrote (a
// downgrade keeps the overlay IP).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_BIN, Lab, labUnavailable, sleep, until, type Host } from '../lab/lab.js';
import { ensureRelease, type Release } from '../lab/release.js';
import type { StatusReport } from '../../src/agent/records/status.js';
import { SCHEMA } from '../../src/state/schema.js';
import {
  MAX_SWITCH_MS, PING_S, fdbOf as fdbIn, losses, onFamily as onFamilyIn, stateOf,
} from '../lab/fixtures/underlay.js';

const why = labUnavailable();
if (why) console.warn(`SKIPPED version skew integration tests: ${why}`);

describe.skipIf(why)('version skew with the previous release (0.1.0, no link-local support)', () => {
  let lab: Lab;
  let release: Release;
  const ids = new Map<Host, string>();
  const overlay = new Map<Host, string>();
  const h = (i: number): Host => lab.hosts[i - 1]!;
  const ipOf = (x: Host): string => overlay.get(x)!;
  const fdbOf = (x: Host): string => fdbIn(lab, x);
  const onFamily = (hs: Host[], family: 'link-local' | 'ipv4'): Promise<StatusReport[]> =>
    onFamilyIn(lab, hs, family, 20_000);

  beforeAll(async () => {
    release = await ensureRelease();
    if (release.built) {
      console.log(`built release 0.1.0 (${release.commit.slice(0, 12)}) in ${release.dir} in ${release.ms} ms`);
    }
    lab = await Lab.create({ hosts: 3 });
    h(3).bin = release.bin;
    const st = await lab.startAll();
    lab.hosts.forEach((x, i) => {
      ids.set(x, st[i]!.node.id);
      overlay.set(x, st[i]!.node.overlayIp!);
    });
  }, 600_000); // a first build of the release: npm ci and npm run build

  afterAll(async () => {
    await lab?.destroy();
  });

  it('runs the whole cluster on IPv4 while a 0.1.0 host is in it; pings flow', async () => {
    const st = await onFamily([h(1), h(2)], 'ipv4');
    const old = await lab.status(h(3));
    expect(old.agent.version).toBe('0.1.0');
    expect((old as Partial<StatusReport>).underlay).toBeUndefined(); // the old release knows nothing of it
    for (const s of st) {
      expect(s.underlay.why).toBe(`peer ${ids.get(h(3))!.slice(0, 8)} runs a release without link-local support`);
      expect(s.peers.find((p) => p.id === ids.get(h(3)))).toMatchObject({ linkLocalCapable: null, linkLocal: null });
    }
    for (const x of lab.hosts) {
      for (const o of lab.hosts) {
        if (o !== x) expect(fdbOf(x)).toContain(`00:00:00:00:00:00 dst ${o.ip} self permanent`);
      }
      expect(fdbOf(x)).not.toContain('fe80::');
    }
    for (const a of lab.hosts) {
      for (const b of lab.hosts) {
        if (a !== b) expect(lab.ping(a, ipOf(b), 2, 0.05), `${a.name} -> ${b.name}`).toBe(true);
      }
    }
  });

  it('moves to link-local by itself when the 0.1.0 host is upgraded in place; overlay IPs unchanged, '
    + 'traffic flows throughout', async () => {
    const x = h(3);
    const before = stateOf(x);
    expect(before.overlayIp).toBe(ipOf(x));
    expect(before.schema).toBeUndefined(); // written by 0.1.0
    const switches = (await Promise.all([h(1), h(2)].map((y) => lab.status(y)))).map((s) => s.counters.familySwitches);
    const pingers = [h(1), h(2)].map((a) => ({ name: `${a.name}->h3`, p: lab.pinger(a, ipOf(x), PING_S) }));
    await sleep(300);
    const t0 = Date.now();
    await lab.stopAgent(x);
    x.bin = undefined; // the new release, same state dir
    lab.startAgent(x);
    const readyMs = await until('the upgraded agent to be ready',
      async () => ((await lab.tryStatus(x))?.dataplane.ready ? Date.now() - t0 : undefined), 15_000, 20);
    const st = await onFamily(lab.hosts, 'link-local');
    const llMs = Date.now() - t0;
    await lab.converged(10_000);
    await sleep(500);
    const results = await Promise.all(pingers.map(async ({ name, p }) => ({ name, ...losses(await p.stop()) })));
    console.log(`upgrade 0.1.0 -> new on h3: ready ${readyMs} ms, every host on link-local ${llMs} ms after the `
      + `old agent was stopped; `
      + `pings every 5 ms lost `
      + `${results.map((r) => `${r.name} ${r.lost}/${r.answered + r.lost} (longest silence ${r.maxGapMs} ms)`)
        .join(', ')}`);
    lab.hosts.forEach((y, i) => {
      expect(st[i]!.node.overlayIp).toBe(ipOf(y)); // unchanged, the upgraded host's included
      expect(st[i]!.node.id).toBe(ids.get(y));
    });
    expect(st[2]!.agent.version).not.toBe('0.1.0');
    st.slice(0, 2).forEach((s, i) => expect(s.counters.familySwitches, 'one switch, no flapping')
      .toBe(switches[i]! + 1));
    for (const y of lab.hosts) expect(fdbOf(y)).not.toMatch(/dst \d+\.\d+\.\d+\.\d+/);
    for (const r of results) {
      expect(r.answered, `${r.name}: replies after the upgrade`).toBeGreaterThan(0);
      expect(r.lost * PING_S * 1000, `${r.name}: interruption during the upgrade (ms of lost probes)`)
        .toBeLessThan(MAX_SWITCH_MS);
    }
    const after = stateOf(x);
    expect(after.overlayIp).toBe(ipOf(x));
    await until('the new release to write its state layout',
      () => (stateOf(x).schema === SCHEMA ? true : undefined), 10_000, 50);
  }, 60_000);

  it('downgrade: 0.1.0 starts from the state file the new release wrote (after edge-overlay down) '
    + 'with the same overlay IP', async () => {
    const x = h(2);
    const written = stateOf(x);
    expect(written.schema).toBe(SCHEMA); // the new release's layout...
    expect(written.linkLocal).toBe(lab.linkLocalOf(x)); // ...with its additions
    await lab.stopAgent(x);
    const down = lab.exec(x, [process.execPath, AGENT_BIN, 'down', '--run-dir', lab.runDir(x)]);
    expect(down).toContain('scvx-100: removed');
    x.bin = release.bin;
    const logFrom = readFileSync(join(x.dir, 'agent.log'), 'utf8').length;
    lab.startAgent(x);
    const st = await lab.converged(20_000);
    expect(st[1]!.agent.version).toBe('0.1.0');
    expect(st[1]!.node.overlayIp).toBe(ipOf(x)); // the same overlay IP
    expect(st[1]!.node.id).toBe(ids.get(x));
    const log = await until('the 0.1.0 agent to log its start', () => {
      const l = readFileSync(join(x.dir, 'agent.log'), 'utf8').slice(logFrom);
      return l.includes('"msg":"agent started with its overlay address"') ? l : undefined;
    }, 5000, 50);
    expect(log).not.toMatch(/damaged|refusing|"level":"(error|fatal)"/);
    // the others see a release without link-local support again: back to IPv4, traffic flows
    await onFamily([h(1), h(3)], 'ipv4');
    for (const a of lab.hosts) for (const b of lab.hosts) if (a !== b) {
      await until(`overlay ping ${a.name} -> ${b.name}`, () => lab.ping(a, ipOf(b), 1, 0.05) || undefined, 5000, 20);
    }
  }, 60_000);
});
