// Integration: the long haul on namespace hosts with real DHCP. 20 rounds of
// renumbering every host, spaced irregularly (some back to back, some while
// an agent restarts), under a TCP stream whose bytes are checked at both
// ends; a host powered off long enough to go stale that comes back with a
// new physical IP; a host whose wall clock is stepped by hours (libfaketime
// on that one agent: the machine's clock is left alone).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_BIN, Lab, labUnavailable, sleep, until, type Host } from '../lab/lab.js';
import { median } from '../../bench/stats.js';
import type { StatusReport } from '../../src/agent/records/status.js';

/**
 * These tests read IPv4 FDB entries and filter sets: the IPv4 underlay
 * (family.test.ts and underlay.test.ts cover link-local).
 */
const IPV4 = ['--underlay', 'ipv4'];

const why = labUnavailable();
if (why) console.warn(`SKIPPED soak integration tests: ${why}`);

/** libfaketime from the Debian package (scripts/setup.sh installs it), if present. */
const FAKETIME = ((): string | undefined => {
  try {
    for (const d of readdirSync('/usr/lib')) {
      const p = join('/usr/lib', d, 'faketime', 'libfaketime.so.1');
      if (existsSync(p)) return p;
    }
  } catch { /* no /usr/lib */ }
  return undefined;
})();
if (!why && !FAKETIME) {
  console.warn('SKIPPED the wall-clock step test: libfaketime is not installed (apt-get install libfaketime)');
}

const HOUR = 3_600_000;

describe.skipIf(why)('soak: renumbering, vanished hosts, clock steps', () => {
  let lab: Lab;
  let ip: string[];
  let ids: string[];
  const h = (i: number): Host => lab.hosts[i]!;

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 3, agentArgs: IPV4 });
    const st = await lab.startAll();
    ip = st.map((s) => s.node.overlayIp!);
    ids = st.map((s) => s.node.id);
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  const pingOnce = (from: Host, to: string): boolean =>
    lab.exec(from, ['ping', '-c', '1', '-W', '0.3', '-q', to], true).includes(' 1 received');
  const allPairs = (): boolean => lab.hosts.every((a, i) => lab.hosts.every((_, j) => i === j || pingOnce(a, ip[j]!)));
  const overlayIps = async (): Promise<string[]> => (await lab.converged(20_000)).map((s) => s.node.overlayIp!);

  it('survives 20 rounds of renumbering every host: the TCP stream intact, no overlay IP changed, '
    + 'every round recovered', async () => {
    const tcp = await lab.tcp(h(0), h(1), ip[1]!);
    const recovered: number[] = [];
    const perRound: string[] = [];
    let afterBackToBack = false;
    const modes: string[] = [];
    for (let r = 0; r < 20; r++) {
      const mode = r % 4 === 1 ? 'back-to-back' : r % 4 === 3 ? 'during a restart' : 'spaced';
      modes.push(mode);
      const restarted = mode === 'during a restart' ? h(r % 3) : undefined;
      if (restarted) await lab.stopAgent(restarted);
      const rs = await lab.renumber(lab.hosts);
      const t0 = Math.max(...rs.map((x) => x.boundAt));
      if (restarted) {
        await sleep(Math.random() * 300);
        lab.startAgent(restarted);
      }
      if (mode === 'back-to-back') { // the next round starts before this one recovered
        afterBackToBack = true;
        continue;
      }
      await until(`round ${r + 1} to recover`, () => allPairs() || undefined, 15_000, 10);
      recovered.push(Math.round(Date.now() - t0));
      perRound.push(
        `${afterBackToBack ? '2 rounds:' : mode === 'during a restart' ? 'restart:' : ''}${recovered.at(-1)}`);
      afterBackToBack = false;
      expect(await overlayIps()).toEqual(ip);
      await sleep(100 + Math.random() * 1400);
    }
    // A restarted agent hears its peers' news at once (fresh announcements,
    // answered even inside an earlier episode), not at their next period:
    // generous for 2 busy cores, but well under one announce period.
    expect(Math.max(...recovered)).toBeLessThan(3000);
    const st: StatusReport[] = await lab.converged();
    for (const [i, s] of st.entries()) {
      expect(s.node.overlayIp).toBe(ip[i]);
      expect(s.node.underlayIp).toBe(h(i).ip);
    }
    const t = await tcp.stop();
    expect(t.error).toBeNull();
    expect(t.closed).toBe(false);
    expect(t.received).toBe(t.sent);
    expect(t.echoed).toBe(t.sent);
    expect(t.intact).toBe(true);
    console.log(
      `soak: 20 renumberings of all 3 hosts (${modes.filter((m) => m === 'back-to-back').length} back to back, `
      + `${modes.filter((m) => m === 'during a restart').length} during an agent restart); ${recovered.length} `
      + `checked rounds recovered, `
      + `median ${median(recovered)} ms, max ${Math.max(...recovered)} ms from the last new address to `
      + `every pair pinging; `
      + `TCP ${t.sent} B sent, ${t.received} B received, ${t.echoed} B echoed intact, longest gap ${t.maxGapMs} ms; `
      + `per checked round (ms): ${perRound.join(' ')}`);
  }, 240_000);

  it('keeps a powered-off host reserved (stale, entries kept) and gives it its address back when it returns renumbered',
    async () => {
    const x = h(2);
    const oldUnderlay = x.ip!;
    // power off: the agent dies with the host, DHCP client and link go down
    await lab.stopAgent(x, 'SIGKILL');
    await lab.stopDhcp(x, 'SIGKILL');
    lab.exec(x, ['ip', 'link', 'set', 'eth0', 'down']);
    const stale = await until('the host to be shown stale', async () => {
      const s = await lab.status(h(0));
      return s.peers.find((p) => p.id === ids[2])?.state === 'stale' ? s : undefined;
    }, 30_000, 250);
    expect(stale.peers.find((p) => p.id === ids[2])!.overlayIp).toBe(ip[2]);
    for (const y of [h(0), h(1)]) {
      expect(lab.exec(y, ['bridge', 'fdb', 'show', 'dev', 'scvx-100']))
        .toContain(`00:00:00:00:00:00 dst ${oldUnderlay} self permanent`);
      expect(lab.exec(y, ['ip', 'neigh', 'show', 'dev', 'scbr-100'])).toContain(`${ip[2]} lladdr`);
    }
    const table = lab.exec(h(0), [AGENT_BIN, 'peers', '--run-dir', lab.runDir(h(0))]);
    expect(table.split('\n').find((l) => l.includes(ip[2]!))).toMatch(/stale/);
    // power on, somewhere else on the LAN
    lab.exec(x, ['ip', 'link', 'set', 'eth0', 'up']);
    const [back] = await lab.renumber([x]);
    expect(back!.ip).not.toBe(oldUnderlay);
    lab.startAgent(x);
    const st = await lab.converged();
    expect(st[2]!.node.overlayIp).toBe(ip[2]);
    expect(st[0]!.peers.find((p) => p.id === ids[2]))
      .toMatchObject({ state: 'alive', underlayIp: back!.ip, overlayIp: ip[2] });
    await until('traffic to the returned host', () => pingOnce(h(0), ip[2]!) || undefined, 5000, 10);
    expect(lab.exec(h(0), ['bridge', 'fdb', 'show', 'dev', 'scvx-100'])).not.toContain(`dst ${oldUnderlay} `);
  }, 60_000);

  it.skipIf(!FAKETIME)(
    'keeps a host whose wall clock is stepped hours forward and back, and after a restart on the stepped-back clock',
    async () => {
    const x = h(0);
    const clockFile = join(x.dir, 'faketime');
    writeFileSync(clockFile, '+0\n');
    const env =
      { LD_PRELOAD: FAKETIME!, FAKETIME_TIMESTAMP_FILE: clockFile, FAKETIME_NO_CACHE: '1', DONT_FAKE_MONOTONIC: '1' };
    const drops = async (): Promise<number[]> => Promise.all([h(1), h(2)].map(async (y) => {
      const d = (await lab.status(y)).counters.dropped;
      return d.replay! + d['bad-auth']! + d.forgotten!;
    }));
    try {
      await lab.stopAgent(x);
      lab.startAgent(x, [], env);
      await lab.converged();
      const before = await drops();
      for (const [text, skew] of [['+3h', 3 * HOUR], ['-3h', -3 * HOUR]] as const) {
        writeFileSync(clockFile, `${text}\n`);
        // until both peers have heard an announcement sent on the stepped clock (one period, 5 s ± 10 %)
        await until(`both peers to see the ${text} step`, async () => {
          for (const y of [h(1), h(2)]) {
            const p = (await lab.status(y)).peers.find((q) => q.id === ids[0]);
            if (p?.clockSkewMs == null || Math.abs(p.clockSkewMs - skew) >= 60_000) return undefined;
          }
          return true;
        }, 15_000, 200);
        for (const y of [h(1), h(2)]) {
          const p = (await lab.status(y)).peers.find((q) => q.id === ids[0])!;
          expect(p.state).toBe('alive');
          expect(p.lastSeenMs).toBeLessThan(6000);
          expect(Math.abs(p.clockSkewMs! - skew)).toBeLessThan(60_000);
        }
        const own = await lab.status(x);
        expect(own.node.overlayIp).toBe(ip[0]);
        expect(own.peers.map((p) => p.state)).toEqual(['alive', 'alive']);
        expect(await drops()).toEqual(before);
      }
      // restarted while 3 h behind: its sequence numbers continue from the persisted floor
      await lab.stopAgent(x);
      lab.startAgent(x, [], env);
      const st = await lab.converged();
      expect(st[0]!.node.overlayIp).toBe(ip[0]);
      await sleep(1000);
      expect(await drops()).toEqual(before);
      expect(pingOnce(h(1), ip[0]!)).toBe(true);
    } finally {
      await lab.stopAgent(x);
      lab.startAgent(x);
      await lab.converged();
    }
  }, 60_000);
});
