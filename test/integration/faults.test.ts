// Integration: faults around the state file and the process — SIGKILL in the
// middle of writes (a store writer 250 times; the real agent 25 times while
// it starts, claims and persists), damaged files, a full disk (a tiny tmpfs),
// and signals (SIGTERM leaves the data path up; a second agent on the same
// state dir refuses). The one property behind all of it: a host's overlay
// IP never changes and is never lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_BIN, Lab, ROOT, labUnavailable, sleep, until, type Host } from '../lab/lab.js';
import { StateStore, nodeStateFs } from '../../src/state/store.js';

/**
 * These tests read IPv4 FDB entries and filter sets: the IPv4 underlay
 * (family.test.ts and underlay.test.ts cover link-local).
 */
const IPV4 = ['--underlay', 'ipv4'];

const why = labUnavailable();
if (why) console.warn(`SKIPPED fault integration tests: ${why}`);
const WRITER = join(ROOT, 'test', 'integration', 'children', 'state-writer.mjs');

interface Writer { p: ChildProcess; out: () => string }

/** A writer started ahead of time: its start-up overlaps the previous victim's writes. */
function spawnWriter(dir: string): Writer {
  const p = spawn(process.execPath, [WRITER, dir], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  p.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  return { p, out: () => out };
}

/** Sets the writer loose, kills it `delayMs` after it reported ready; returns what it printed. */
async function killWriterAfter(w: Writer, delayMs: number): Promise<{ ready: string; acked: number | undefined }> {
  const exited = new Promise<void>((r) => w.p.once('exit', () => r()));
  w.p.stdin!.write('go\n');
  await until('the writer to be ready', () => w.out().includes('\n') || undefined, 10_000, 1);
  await sleep(delayMs);
  w.p.kill('SIGKILL');
  await exited;
  const lines = w.out().split('\n');
  lines.pop(); // a line cut by the kill
  const numbers = lines.slice(1).map(Number);
  return { ready: lines[0]!, acked: numbers.at(-1) };
}

describe('the state file survives SIGKILL at any instant', () => {
  it('is always the old or the new version, never partial, over 250 kills mid-write', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eo-crash-'));
    try {
      let floor = 0; // last version a save() returned for
      let torn = 0;
      const kills = 250;
      let next = spawnWriter(dir);
      for (let i = 0; i < kills; i++) {
        const w = next;
        next = spawnWriter(dir);
        const { ready, acked } = await killWriterAfter(w, Math.random() * 12);
        // what the next process found: the last acknowledged version, or the one being renamed into place
        const [, how, found] = ready.split(' ');
        expect(how).toBe('clean');
        if (i > 0) expect([floor, floor + 1]).toContain(Number(found));
        floor = acked ?? Number(found);
        if (readdirSync(dir).some((n) => n.includes('.tmp-'))) torn++; // killed between write and rename
      }
      next.p.kill('SIGKILL');
      const loaded = new StateStore(dir, nodeStateFs).load()!;
      expect(loaded.fallback).toBeUndefined();
      expect(loaded.state.overlayIp).toBe('100.64.192.77');
      expect([floor, floor + 1]).toContain(loaded.state.seqFloor);
      expect(readdirSync(dir).sort()).toEqual(['state.json', 'state.json.prev']); // leftovers cleared on load
      expect(torn).toBeGreaterThan(kills / 10); // the kills did land inside writes
      console.log(`state file: ${kills} SIGKILLs, ${torn} of them between a write and its rename; `
        + `every restart found the old or the new version`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe.skipIf(why)('the agent under faults, on namespace hosts', () => {
  let lab: Lab;
  let ip1: string;
  const h = (i: number): Host => lab.hosts[i]!;
  const stateDir = (x: Host): string => join(x.dir, 'state');
  const stateFile = (x: Host): string => join(stateDir(x), 'state.json');
  const log = (x: Host): string => readFileSync(join(x.dir, 'agent.log'), 'utf8');

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 2, agentArgs: IPV4 });
    const st = await lab.startAll();
    ip1 = st[0]!.node.overlayIp!;
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  it('keeps its overlay IP through 25 SIGKILLs while it starts, probes, adopts and persists', async () => {
    const x = h(0);
    const writes = (): number => (log(x).match(/"msg":"/g) ?? []).length;
    const logged = writes();
    for (let i = 0; i < 25; i++) {
      await lab.stopAgent(x, 'SIGKILL');
      expect(new StateStore(stateDir(x), nodeStateFs).load()!.state.overlayIp).toBe(ip1);
      lab.startAgent(x);
      await sleep(Math.random() * 700);
    }
    await lab.stopAgent(x, 'SIGKILL');
    expect(writes()).toBeGreaterThan(logged); // the killed agents did run (and log) between the kills
    const loaded = new StateStore(stateDir(x), nodeStateFs).load()!;
    expect(loaded.fallback).toBeUndefined();
    expect(loaded.state.overlayIp).toBe(ip1);
    lab.startAgent(x);
    const st = await lab.converged();
    expect(st[0]!.node.overlayIp).toBe(ip1);
    expect(lab.ping(h(1), ip1, 2, 0.05)).toBe(true);
  });

  it('uses the kept previous version when the file is damaged, and refuses with one line when both are', async () => {
    const x = h(0);
    await lab.stopAgent(x);
    const good = readFileSync(stateFile(x), 'utf8');
    // a torn file (as a filesystem without data journaling can leave after a power cut)
    writeFileSync(stateFile(x), good.slice(0, 100));
    lab.startAgent(x);
    const st = await lab.converged();
    expect(st[0]!.node.overlayIp).toBe(ip1);
    expect(log(x)).toMatch(new RegExp(
      /"msg":"state file [^"]+ is damaged \(it is not valid JSON \(truncated\?\)\); /.source
      + /using the kept previous version [^"]+state.json.prev"/.source));
    await lab.stopAgent(x);

    // both damaged: one line, exit status 1, nothing written, the data path untouched
    writeFileSync(stateFile(x), good.replace(ip1, '100.64.192.250')); // checksum no longer matches
    writeFileSync(`${stateFile(x)}.prev`, '');
    const before = readFileSync(stateFile(x), 'utf8');
    const r = spawnSync('ip', ['netns', 'exec', x.ns, ...lab.agentArgv(x)], { encoding: 'utf8', timeout: 10_000 });
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`state file ${stateFile(x)} is damaged (its checksum does not match its content) `
      + `and so is the previous version ${stateFile(x)}.prev (it is empty); refusing to pick a new overlay address`);
    expect(lines[0]).toContain('delete both files');
    expect(readFileSync(stateFile(x), 'utf8')).toBe(before);
    expect(lab.exec(x, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'scbr-100'])).toContain(`inet ${ip1}/`);
    // the operator restores the file: back as before
    writeFileSync(stateFile(x), good, { mode: 0o600 });
    lab.startAgent(x);
    expect((await lab.converged())[0]!.node.overlayIp).toBe(ip1);
  });

  it('keeps running on a full disk: reports the failed write, retries, and writes once there is room', async () => {
    const x = h(0);
    const y = h(1);
    await lab.stopAgent(x);
    const saved = join(x.dir, 'state-on-disk');
    cpSync(stateDir(x), saved, { recursive: true });
    rmSync(stateDir(x), { recursive: true, force: true });
    mkdirSync(stateDir(x), { mode: 0o700 });
    const mount =
      spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'eo-state', stateDir(x)], { encoding: 'utf8' });
    expect(mount.status, mount.stderr).toBe(0);
    try {
      cpSync(saved, stateDir(x), { recursive: true });
      lab.startAgent(x);
      await lab.converged();
      // fill the disk to the last block
      spawnSync('dd', ['if=/dev/zero', `of=${join(stateDir(x), 'filler')}`, 'bs=4k'], { encoding: 'utf8' });
      const onDisk = readFileSync(stateFile(x), 'utf8');
      // a peer moves: the agent must persist its new address, and cannot
      const oldY = y.ip!;
      const [moved] = await lab.renumber([y]);
      const failing = await until('the write to fail', async () => {
        const s = await lab.status(x);
        return s.agent.persistError ? s : undefined;
      }, 10_000, 50);
      expect(failing.agent.persistError).toContain('ENOSPC');
      expect(failing.peers[0]!.underlayIp).toBe(moved!.ip); // the agent followed the move anyway
      expect(lab.ping(x, (await lab.status(y)).node.overlayIp!, 2, 0.05)).toBe(true); // and traffic flows
      expect(readFileSync(stateFile(x), 'utf8')).toBe(onDisk); // the old version, whole
      expect(onDisk).toContain(oldY);
      const shown =
        spawnSync('ip', ['netns', 'exec', x.ns, AGENT_BIN, 'status', '--run-dir', lab.runDir(x)], { encoding: 'utf8' });
      expect(shown.stdout).toMatch(/state file error: cannot write state file .*: ENOSPC/);
      expect(log(x)).toMatch(
        /"code":"E_STATE"[^\n]*"msg":"writing the state file failed; keeping the previous version and retrying"/);
      rmSync(join(stateDir(x), 'filler'));
      const t0 = Date.now();
      await until('the retry to succeed', async () => ((await lab.status(x)).agent.persistError === null)
        || undefined, 5000, 50);
      const retriedMs = Date.now() - t0;
      const now = new StateStore(stateDir(x), nodeStateFs).load()!;
      expect(now.state.overlayIp).toBe(ip1);
      expect(now.state.peers.map((p) => p.underlayIp)).toContain(moved!.ip);
      console.log(
        `full disk: the agent kept running, reported ENOSPC, and wrote ${retriedMs} ms after space was freed`);
    } finally {
      await lab.stopAgent(x);
      rmSync(saved, { recursive: true, force: true });
      cpSync(stateDir(x), saved, { recursive: true });
      spawnSync('umount', [stateDir(x)]);
      rmSync(stateDir(x), { recursive: true, force: true });
      cpSync(saved, stateDir(x), { recursive: true });
    }
    rmSync(join(stateDir(x), 'filler'), { force: true });
    lab.startAgent(x);
    expect((await lab.converged())[0]!.node.overlayIp).toBe(ip1);
  });

  it('exits within 2 s on SIGTERM and leaves the data path carrying traffic', async () => {
    const x = h(0);
    const p = x.agent!;
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    const t0 = Date.now();
    p.kill('SIGTERM');
    const code = await exited;
    const ms = Date.now() - t0;
    x.agent = undefined;
    expect(code).toBe(0);
    expect(ms).toBeLessThan(2000);
    expect(lab.exec(x, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'scbr-100'])).toContain(`inet ${ip1}/`);
    expect(lab.exec(x, ['bridge', 'fdb', 'show', 'dev', 'scvx-100'])).toContain(`00:00:00:00:00:00 dst ${h(1).ip}`);
    expect(lab.ping(h(1), ip1, 3, 0.05)).toBe(true); // no agent running, the overlay still works
    console.log(`SIGTERM: the agent exited in ${ms} ms; the overlay kept working without it`);
    lab.startAgent(x);
    await lab.converged();
  });

  it('refuses a second agent on the same state directory with one line, and the first keeps running', async () => {
    const x = h(0);
    const r = spawnSync('ip', ['netns', 'exec', x.ns, ...lab.agentArgv(x, [], join(x.dir, 'run2'))],
      { encoding: 'utf8', timeout: 10_000 });
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual([`edge-overlay: another edge-overlay agent is using state `
      + `directory ${stateDir(x)}; refusing to start a second one`]);
    expect(existsSync(join(x.dir, 'run2', 'agent.sock'))).toBe(false);
    const st = await lab.status(x);
    expect(st.node.overlayIp).toBe(ip1);
    expect(st.dataplane.ready).toBe(true);
  });
});
