// Unit: the state file as the agent reads and writes it (agent/records/persistence.ts): refusals, sequence, claim.
import { describe, expect, it } from 'vitest';
import { AgentState, readState } from '../../../src/agent/records/persistence.js';
import { Tenure } from '../../../src/agent/addressing/tenure.js';
import { DEFAULT_TIMINGS } from '../../../src/agent/config.js';
import { parseIpv4, type Ipv4 } from '../../../src/net/ipv4.js';
import { parseIpv6, type Ipv6 } from '../../../src/net/ipv6.js';
import { PeerTable } from '../../../src/peers/table.js';
import { Tombstones } from '../../../src/peers/tombstones.js';
import { SCHEMA, type PersistedState } from '../../../src/state/schema.js';
import { StateStore } from '../../../src/state/store.js';
import { FakeClock } from '../../fakes/clock.js';
import { captureLog, type CapturedLog } from '../../fakes/log.js';
import { MemoryStateFs } from '../../fakes/state.js';
import { agentConfig as config, announceMsg } from '../../fakes/agent.js';

const ip = (s: string): Ipv4 => parseIpv4(s)!;
const DIR = '/var/lib/edge-overlay';
const PATH = `${DIR}/state.json`;
const ID = 'a'.repeat(32);
const PERSIST_MS = DEFAULT_TIMINGS.persistDelayMs;

const doc = (over: Partial<PersistedState> = {}): PersistedState => ({
  version: 1, schema: SCHEMA, nodeId: ID, cluster: 'edge', cidr: '100.64.192.0/24', seqFloor: 0, peers: [], ...over,
});

/** What is on disk now. */
const onDisk = (fs: MemoryStateFs): PersistedState => new StateStore(DIR, fs).load()!.state;

describe('readState', () => {
  it('gives a fresh identity when there is no file', () => {
    const fs = new MemoryStateFs();
    const s = readState(config(), new StateStore(DIR, fs), captureLog().log);
    expect(s).toEqual({ version: 1, schema: SCHEMA, nodeId: expect.stringMatching(/^[0-9a-f]{32}$/), cluster: 'edge',
      cidr: '100.64.192.0/24', seqFloor: 0, peers: [] });
    expect(readState(config(), new StateStore(DIR, fs), captureLog().log).nodeId).not.toBe(s.nodeId);
    expect(fs.writes).toEqual([]); // reading writes nothing
  });

  it('returns the file as written when it fits the configuration', () => {
    const fs = new MemoryStateFs();
    new StateStore(DIR, fs).save(doc({ overlayIp: '100.64.192.9', claimedAt: 5, heldMs: 7 }));
    const s = readState(config(), new StateStore(DIR, fs), captureLog().log);
    expect(s).toMatchObject({ nodeId: ID, overlayIp: '100.64.192.9', claimedAt: 5, heldMs: 7 });
  });

  it('refuses a file of another cluster (E_STATE)', () => {
    const fs = new MemoryStateFs();
    new StateStore(DIR, fs).save(doc({ cluster: 'other' }));
    expect(() => readState(config(), new StateStore(DIR, fs), captureLog().log))
      .toThrow(expect.objectContaining({
        code: 'E_STATE', message: expect.stringContaining('belongs to cluster "other"'),
      }));
  });

  it('refuses a file of another overlay CIDR (E_CIDR_MISMATCH), naming the persisted address', () => {
    const fs = new MemoryStateFs();
    new StateStore(DIR, fs).save(doc({ cidr: '100.64.0.0/16', overlayIp: '100.64.0.9', claimedAt: 1 }));
    expect(() => readState(config(), new StateStore(DIR, fs), captureLog().log)).toThrow(expect.objectContaining({
      code: 'E_CIDR_MISMATCH', message: expect.stringContaining('this host\'s overlay IP is 100.64.0.9'),
    }));
    new StateStore(DIR, fs).save(doc({ cidr: '100.64.192.0/25' })); // same network, other prefix
    expect(() => readState(config(), new StateStore(DIR, fs), captureLog().log))
      .toThrow(expect.objectContaining({ code: 'E_CIDR_MISMATCH' }));
  });

  it('refuses an overlay IP that is no host address of the CIDR (outside it, the VIP, the broadcast)', () => {
    for (const overlayIp of ['100.64.193.5', '100.64.192.1', '100.64.192.255']) {
      const fs = new MemoryStateFs();
      new StateStore(DIR, fs).save(doc({ overlayIp, claimedAt: 1 }));
      expect(() => readState(config(), new StateStore(DIR, fs), captureLog().log))
        .toThrow(expect.objectContaining({
          code: 'E_STATE', message: expect.stringContaining(`holds overlay IP ${overlayIp}`),
        }));
    }
  });

  it('uses the kept previous version of a damaged file, and says so', () => {
    const fs = new MemoryStateFs();
    const store = new StateStore(DIR, fs);
    store.save(doc({ overlayIp: '100.64.192.9', claimedAt: 1 }));
    store.save(doc({ overlayIp: '100.64.192.9', claimedAt: 1, seqFloor: 5 }));
    fs.files.set(PATH, '{"truncated');
    const logs = captureLog();
    const s = readState(config(), new StateStore(DIR, fs), logs.log);
    expect(s.overlayIp).toBe('100.64.192.9');
    expect(logs.lines.find((l) => l.level === 'warn')).toMatchObject({ file: PATH, used: `${PATH}.prev` });
  });
});

interface Rig {
  state: AgentState;
  fs: MemoryStateFs;
  clock: FakeClock;
  logs: CapturedLog;
  tenure: Tenure;
  peers: PeerTable;
  tombstones: Tombstones;
}

function rig(d: PersistedState = doc(), clock = new FakeClock(), fs = new MemoryStateFs()): Rig {
  const logs = captureLog();
  const peers = new PeerTable(DEFAULT_TIMINGS.staleAfterMs);
  const tombstones = new Tombstones();
  const tenure = new Tenure(clock);
  const state = new AgentState(d, {
    store: new StateStore(DIR, fs), clock, log: logs.log, persistDelayMs: PERSIST_MS,
    sources: { peers, tombstones, tenure },
  });
  return { state, fs, clock, logs, tenure, peers, tombstones };
}

describe('sequence numbers', () => {
  it('start above the wall clock (µs) and the persisted floor, and a block is reserved on disk at once', () => {
    const r = rig(doc({ seqFloor: 5 }));
    const start = r.clock.now() * 1000;
    expect(r.state.firstSeq).toBe(start + 1);
    expect(r.fs.writes).toHaveLength(1);
    expect(onDisk(r.fs).seqFloor).toBe(start + 10_000);
    const high = rig(doc({ seqFloor: 1e16 }));
    expect(high.state.firstSeq).toBe(1e16 + 1);
  });

  it('are never reused across a restart, even with the wall clock stepped back', () => {
    const clock = new FakeClock();
    const first = rig(doc(), clock);
    const used: number[] = [];
    for (let i = 0; i < 25; i++) used.push(first.state.nextSeq());
    expect(new Set(used).size).toBe(25);
    expect(used.every((s, i) => i === 0 || s > used[i - 1]!)).toBe(true);
    clock.stepWall(-3_600_000); // the RTC lost an hour
    const again = rig(readState(config(), new StateStore(DIR, first.fs), captureLog().log), clock, first.fs);
    expect(again.state.firstSeq).toBeGreaterThan(Math.max(...used));
    expect(again.state.nextSeq()).toBe(again.state.firstSeq);
  });

  it('reserve the next block on disk before the reserved one runs out', () => {
    const r = rig();
    const writes = r.fs.writes.length;
    let last = 0;
    for (let i = 0; i < 9_999; i++) last = r.state.nextSeq();
    expect(r.fs.writes).toHaveLength(writes);
    last = r.state.nextSeq(); // reaches the reserved floor: the next block is on disk before the number is used
    expect(r.fs.writes).toHaveLength(writes + 1);
    expect(r.state.lastSeq).toBe(last);
    expect(onDisk(r.fs).seqFloor).toBe(last + 10_000);
  });
});

describe('the claim', () => {
  it('is written synchronously by setClaim and read back as claim', () => {
    const r = rig();
    expect(r.state.claim).toBeUndefined();
    expect(r.state.setClaim(ip('100.64.192.9'), 1234)).toBe(true);
    expect(r.fs.writes).toHaveLength(2);
    expect(onDisk(r.fs)).toMatchObject({ overlayIp: '100.64.192.9', claimedAt: 1234, heldMs: 0 });
    expect(r.state.claim).toEqual({ ip: ip('100.64.192.9'), claimedAt: 1234, heldMs: 0 });
    r.state.clearClaim();
    expect(r.state.claim).toBeUndefined();
    expect(onDisk(r.fs).overlayIp).toBeUndefined();
    expect(r.fs.writes).toHaveLength(3);
  });

  it('is not kept when the write fails: setClaim is false, nothing is claimed, the retry writes no claim', async () => {
    const r = rig();
    const before = r.fs.files.get(PATH);
    r.fs.failWrites = 'ENOSPC';
    expect(r.state.setClaim(ip('100.64.192.9'), 1234)).toBe(false);
    expect(r.state.claim).toBeUndefined();
    expect(r.state.persistError).toMatch(/ENOSPC/);
    expect(r.fs.files.get(PATH)).toBe(before); // the previous file stays
    r.fs.failWrites = undefined;
    await r.clock.advance(1000);
    expect(r.state.persistError).toBeUndefined();
    expect(onDisk(r.fs).overlayIp).toBeUndefined();
    expect(onDisk(r.fs).claimedAt).toBeUndefined();
  });

  it('is read with its held time', () => {
    const r = rig(doc({ overlayIp: '100.64.192.9', claimedAt: 5, heldMs: 4000 }));
    expect(r.state.claim).toEqual({ ip: ip('100.64.192.9'), claimedAt: 5, heldMs: 4000 });
  });
});

describe('writes', () => {
  it('carry the peers, the held time, the tombstones and the floors of the moment', async () => {
    const r = rig(doc({ overlayIp: '100.64.192.9', claimedAt: 5, heldMs: 4000 }));
    r.tenure.begin(4000);
    await r.clock.advance(1500);
    const peer = announceMsg({ nodeId: 'b'.repeat(32), overlayIp: ip('100.64.192.20') });
    r.peers.observe(peer, r.clock.now(), r.clock.monotonic());
    r.tombstones.add({ id: 'c'.repeat(32), claimedAt: 3, at: 4 });
    r.peers.acceptSeq('d'.repeat(32), 77, 1);
    r.state.save();
    const s = onDisk(r.fs);
    expect(s.heldMs).toBe(5500);
    expect(s.peers.map((p) => [p.id, p.overlayIp])).toEqual([['b'.repeat(32), '100.64.192.20']]);
    expect(s.forgotten).toEqual([{ id: 'c'.repeat(32), claimedAt: 3, at: 4 }]);
    expect(s.floors).toContainEqual(expect.objectContaining({ id: 'd'.repeat(32), seq: 77 }));
  });

  it('schedule() coalesces: many wishes, one write after persistDelayMs', async () => {
    const r = rig();
    const n = r.fs.writes.length;
    r.state.schedule();
    r.state.schedule();
    await r.clock.advance(PERSIST_MS - 1);
    r.state.schedule();
    expect(r.fs.writes).toHaveLength(n);
    await r.clock.advance(1);
    expect(r.fs.writes).toHaveLength(n + 1);
    await r.clock.advance(10 * PERSIST_MS);
    expect(r.fs.writes).toHaveLength(n + 1);
  });

  it('save() covers a scheduled write', async () => {
    const r = rig();
    const n = r.fs.writes.length;
    r.state.schedule();
    r.state.save();
    await r.clock.advance(10 * PERSIST_MS);
    expect(r.fs.writes).toHaveLength(n + 1);
  });

  it('a failed write keeps persistError, logs, and is retried every second until it works', async () => {
    const r = rig();
    r.fs.failWrites = 'EIO';
    r.state.save();
    expect(r.state.persistError).toMatch(/EIO/);
    expect(r.logs.lines.filter((l) => l.level === 'error' && l.file === PATH)).toHaveLength(1);
    await r.clock.advance(1000);
    expect(r.state.persistError).toMatch(/EIO/);
    expect(r.logs.lines.filter((l) => l.level === 'error')).toHaveLength(2);
    const n = r.fs.writes.length;
    r.fs.failWrites = undefined;
    await r.clock.advance(999);
    expect(r.fs.writes).toHaveLength(n);
    await r.clock.advance(1);
    expect(r.fs.writes).toHaveLength(n + 1);
    expect(r.state.persistError).toBeUndefined();
    expect(r.logs.lines.filter((l) => l.msg === 'state file written again')).toHaveLength(1);
    await r.clock.advance(5000);
    expect(r.fs.writes).toHaveLength(n + 1);
  });

  it('setLinkLocal() schedules a write only for a new address', async () => {
    const r = rig();
    const n = r.fs.writes.length;
    const a = parseIpv6('fe80::1') as Ipv6;
    r.state.setLinkLocal(a);
    await r.clock.advance(PERSIST_MS);
    expect(r.fs.writes).toHaveLength(n + 1);
    expect(onDisk(r.fs).linkLocal).toBe('fe80::1');
    expect(r.state.linkLocal).toBe(a);
    r.state.setLinkLocal(a);
    await r.clock.advance(10 * PERSIST_MS);
    expect(r.fs.writes).toHaveLength(n + 1);
  });

  it('path and nodeId come from the store and the document', () => {
    const r = rig();
    expect(r.state.path).toBe(PATH);
    expect(r.state.nodeId).toBe(ID);
  });
});
