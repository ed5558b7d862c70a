// Unit: the address claim state machine (agent/addressing/claim.ts): probe, persist, conflicts, forget, exhaustion.
import { describe, expect, it } from 'vitest';
import { Addressing } from '../../../src/agent/addressing/claim.js';
import { Tenure } from '../../../src/agent/addressing/tenure.js';
import { DEFAULT_TIMINGS } from '../../../src/agent/config.js';
import type { Actions } from '../../../src/agent/actions.js';
import { pickAddress } from '../../../src/alloc/allocator.js';
import { formatIpv4, parseCidr, parseIpv4, type Cidr, type Ipv4 } from '../../../src/net/ipv4.js';
import { PeerTable } from '../../../src/peers/table.js';
import type { AnnounceMsg, DefendMsg, ProbeMsg } from '../../../src/wire/codec.js';
import { FakeClock } from '../../fakes/clock.js';
import { captureLog, type CapturedLog } from '../../fakes/log.js';
import { announceMsg, sentOf } from '../../fakes/agent.js';

const ME = 'a'.repeat(32);
const OTHER = 'b'.repeat(32);
const LOWER = '0'.repeat(32);
const ip = (s: string): Ipv4 => parseIpv4(s)!;
const CIDR = parseCidr('100.64.192.0/24') as Cidr;
// random() = 0.5: the first probe waits floor(0.5 * 200) = 100 ms
const WAIT = 100;
const T = DEFAULT_TIMINGS;
/** from setCanSend(true) to established: the wait, the probes apart, the quiet time */
const CLAIM_MS = WAIT + (T.probeCount - 1) * T.probeIntervalMs + T.announceWaitMs;

interface Rig {
  a: Addressing;
  clock: FakeClock;
  peers: PeerTable;
  tenure: Tenure;
  logs: CapturedLog;
  emitted: Actions[];
  probes: { candidate: Ipv4; startedAt: number; at: number }[];
  saved: { ip: Ipv4; claimedAt: number }[];
  store: { fail: boolean; cleared: number };
  send: { ok: boolean };
  counters: { conflicts: number };
}

function rig(opts: { pinned?: Ipv4; cidr?: Cidr } = {}): Rig {
  const clock = new FakeClock();
  const logs = captureLog();
  const peers = new PeerTable(T.staleAfterMs);
  const tenure = new Tenure(clock);
  const emitted: Actions[] = [];
  const probes: Rig['probes'] = [];
  const saved: Rig['saved'] = [];
  const store = { fail: false, cleared: 0 };
  const send = { ok: true };
  const counters = { conflicts: 0 };
  const a = new Addressing({
    clock, log: logs.log, cidr: opts.cidr ?? CIDR, nodeId: ME, peers, timings: T, random: () => 0.5,
    pinned: opts.pinned,
    send: {
      probe: (candidate, startedAt) => {
        if (!send.ok) return false;
        probes.push({ candidate, startedAt, at: clock.monotonic() });
        return true;
      },
    },
    claims: {
      setClaim: (at, claimedAt) => {
        if (store.fail) return false;
        saved.push({ ip: at, claimedAt });
        return true;
      },
      clearClaim: () => { store.cleared++; },
    },
    tenure, counters, emit: (x) => emitted.push(x),
  });
  return { a, clock, peers, tenure, logs, emitted, probes, saved, store, send, counters };
}

const announce = (over: Partial<AnnounceMsg> & Pick<AnnounceMsg, 'nodeId' | 'overlayIp'>): AnnounceMsg =>
  announceMsg({ cluster: 'c', underlayIp: ip('10.0.0.9'), mac: '02:00:00:00:00:02', claimedAt: 1, heldMs: 0, ...over });

const probe = (over: Partial<ProbeMsg> & Pick<ProbeMsg, 'nodeId' | 'overlayIp' | 'claimedAt'>): ProbeMsg => ({
  type: 'probe', cluster: 'c', seq: 1, sentAt: 0, underlayIp: ip('10.0.0.9'), mac: '02:00:00:00:00:02', heldMs: 0,
  cidr: CIDR, vni: 100, ...over,
});

const defend = (over: Partial<DefendMsg> & Pick<DefendMsg, 'nodeId' | 'overlayIp' | 'holderId'>): DefendMsg => ({
  type: 'defend', cluster: 'c', seq: 1, sentAt: 0, holderClaimedAt: 1, holderHeldMs: 0, targetId: ME, ...over,
});

/** the nonces of the challenges emitted so far */
const challenges = (r: Rig): { target: string; nonce: string; overlayIp: Ipv4 }[] => sentOf(r.emitted, 'challenge');

/** Records a peer announcing `overlayIp` in the peer table, as the agent does before it tells Addressing. */
function heard(r: Rig, msg: AnnounceMsg): AnnounceMsg {
  r.peers.observe(msg, r.clock.now(), r.clock.monotonic());
  return msg;
}

async function established(r: Rig, persisted = { ip: ip('100.64.192.50'), claimedAt: 1000, heldMs: 0 }): Promise<void> {
  r.a.start(persisted);
  r.a.setCanSend(true);
  await r.clock.advance(0);
}

describe('a persisted claim', () => {
  it('is kept without probing, with its held time counted on from the persisted one', async () => {
    const r = rig();
    r.a.start({ ip: ip('100.64.192.50'), claimedAt: 1234, heldMs: 5000 });
    expect(r.a.phase).toEqual({ kind: 'established', ip: ip('100.64.192.50'), claimedAt: 1234 });
    r.a.setCanSend(true);
    await r.clock.advance(10_000);
    expect(r.probes).toEqual([]);
    expect(r.saved).toEqual([]);
    expect(r.emitted).toEqual([]); // the agent configures it itself at start
    expect(r.a.ip).toBe(ip('100.64.192.50'));
    expect(r.a.claimedAt).toBe(1234);
    expect(r.a.heldMs).toBe(15_000);
    await expect(r.a.pinSettled).resolves.toBeUndefined();
  });
});

describe('a new host', () => {
  it('waits to be able to send, probes (wait, probes apart, quiet time), persists, then is established', async () => {
    const r = rig();
    r.a.start(undefined);
    await r.clock.advance(1000);
    expect(r.a.phase.kind).toBe('waiting');
    expect(r.probes).toEqual([]);
    const t0 = r.clock.monotonic();
    const startedAt = r.clock.now();
    r.a.setCanSend(true);
    const want = pickAddress(CIDR, ME, new Set())!;
    expect(r.a.phase).toEqual({ kind: 'probing', candidate: want, startedAt, sent: 0 });
    await r.clock.advance(WAIT - 1);
    expect(r.probes).toEqual([]);
    await r.clock.advance(CLAIM_MS - WAIT);
    expect(r.probes.map((p) => p.at - t0)).toEqual([WAIT, WAIT + T.probeIntervalMs, WAIT + 2 * T.probeIntervalMs]);
    expect(r.probes.every((p) => p.candidate === want && p.startedAt === startedAt)).toBe(true);
    expect(r.a.phase.kind).toBe('probing'); // one ms of the quiet time left
    expect(r.saved).toEqual([]);
    expect(r.a.ip).toBeUndefined();
    await r.clock.advance(1);
    expect(r.saved).toEqual([{ ip: want, claimedAt: r.clock.now() }]);
    expect(r.a.phase).toEqual({ kind: 'established', ip: want, claimedAt: r.clock.now() });
    expect(r.emitted).toEqual([{ reprogram: 'full', burst: true }]);
    expect(r.a.heldMs).toBe(0);
    const claimed = r.logs.lines.filter((l) => l.msg === 'overlay address claimed and persisted');
    expect(claimed.map((l) => l.new)).toEqual([formatIpv4(want)]);
  });

  it('never establishes a claim it could not persist, and tries again after retryMs', async () => {
    const r = rig();
    r.store.fail = true;
    r.a.start(undefined);
    r.a.setCanSend(true);
    await r.clock.advance(CLAIM_MS);
    expect(r.probes).toHaveLength(T.probeCount);
    expect(r.a.phase.kind).toBe('waiting');
    expect(r.a.ip).toBeUndefined();
    expect(r.a.heldMs).toBeUndefined();
    expect(r.emitted).toEqual([]);
    r.store.fail = false;
    await r.clock.advance(T.retryMs - 1);
    expect(r.a.phase.kind).toBe('waiting');
    await r.clock.advance(1);
    expect(r.a.phase.kind).toBe('probing'); // a new probe: the old one is stale
    await r.clock.advance(CLAIM_MS);
    expect(r.probes).toHaveLength(2 * T.probeCount);
    expect(r.a.phase.kind).toBe('established');
    expect(r.saved).toHaveLength(1);
    expect(r.emitted).toEqual([{ reprogram: 'full', burst: true }]);
  });

  it('abandons a probe when it can no longer send (or a probe cannot be sent) and starts over later', async () => {
    const r = rig();
    r.a.start(undefined);
    r.a.setCanSend(true);
    await r.clock.advance(WAIT + 1);
    expect(r.probes).toHaveLength(1);
    r.a.setCanSend(false);
    expect(r.a.phase.kind).toBe('waiting');
    await r.clock.advance(5000);
    expect(r.probes).toHaveLength(1);
    r.send.ok = false;
    r.a.setCanSend(true);
    await r.clock.advance(WAIT);
    expect(r.a.phase.kind).toBe('waiting');
    expect(r.logs.lines.some((l) => l.msg === 'probe abandoned: a probe could not be sent')).toBe(true);
  });

  it('loses to an established announcer of its candidate and picks another address', async () => {
    const r = rig();
    r.a.start(undefined);
    r.a.setCanSend(true);
    const first = (r.a.phase as { candidate: Ipv4 }).candidate;
    await r.clock.advance(WAIT + 1);
    expect(r.a.onAnnounce(heard(r, announce({ nodeId: OTHER, overlayIp: first, heldMs: 1 })))).toBe(false);
    expect(r.a.phase.kind).toBe('probing');
    const second = (r.a.phase as { candidate: Ipv4 }).candidate;
    expect(second).not.toBe(first);
    await r.clock.advance(CLAIM_MS);
    expect(r.saved).toEqual([{ ip: second, claimedAt: r.clock.now() }]);
    expect(r.probes.filter((p) => p.candidate === first)).toHaveLength(1);
  });

  it('loses to an earlier prober of the same address and keeps clear of it; beats a later one', async () => {
    const r = rig();
    r.a.start(undefined);
    r.a.setCanSend(true);
    const first = (r.a.phase as { candidate: Ipv4; startedAt: number }).candidate;
    const startedAt = (r.a.phase as { startedAt: number }).startedAt;
    expect(r.a.onProbe(probe({ nodeId: OTHER, overlayIp: first, claimedAt: startedAt + 1 }))).toBeUndefined();
    expect(r.a.phase).toMatchObject({ kind: 'probing', candidate: first }); // a later prober loses
    expect(r.a.onProbe(probe({ nodeId: LOWER, overlayIp: first, claimedAt: startedAt }))).toBeUndefined();
    // a tie on the time: the lower node id (LOWER) wins
    const second = (r.a.phase as { candidate: Ipv4 }).candidate;
    expect(second).not.toBe(first);
    await r.clock.advance(CLAIM_MS);
    expect(r.a.ip).toBe(second);
  });

  it('keeps clear of the address an earlier prober took for 10 s, then may try it again', async () => {
    const r = rig();
    r.a.start(undefined);
    r.a.setCanSend(true);
    const first = (r.a.phase as { candidate: Ipv4 }).candidate;
    r.a.onProbe(probe({ nodeId: LOWER, overlayIp: first, claimedAt: 0 }));
    const second = (r.a.phase as { candidate: Ipv4 }).candidate;
    expect(second).not.toBe(first);
    r.a.setCanSend(false); // the probe is abandoned; a new one picks again
    await r.clock.advance(5000);
    r.a.setCanSend(true);
    expect(r.a.phase).toMatchObject({ kind: 'probing', candidate: second });
    r.a.setCanSend(false);
    await r.clock.advance(5001);
    r.a.setCanSend(true);
    expect(r.a.phase).toMatchObject({ kind: 'probing', candidate: first });
  });

  it('leaves an address a defend says a known host holds', async () => {
    const r = rig();
    r.a.start(undefined);
    r.a.setCanSend(true);
    const first = (r.a.phase as { candidate: Ipv4 }).candidate;
    r.a.onDefend(defend({ nodeId: OTHER, overlayIp: first, holderId: 'c'.repeat(32), targetId: OTHER })); // not for us
    expect(r.a.phase).toMatchObject({ kind: 'probing', candidate: first });
    r.a.onDefend(defend({ nodeId: OTHER, overlayIp: first, holderId: 'c'.repeat(32) }));
    expect((r.a.phase as { candidate: Ipv4 }).candidate).not.toBe(first);
  });

  it('retries an exhausted CIDR every 5 s and claims the address once it is free', async () => {
    const cidr = parseCidr('100.64.192.0/30') as Cidr; // one host address: .2
    const r = rig({ cidr });
    heard(r, announce({ nodeId: OTHER, overlayIp: ip('100.64.192.2') }));
    r.a.start(undefined);
    r.a.setCanSend(true);
    expect(r.a.phase.kind).toBe('exhausted');
    const exhausted = (): number => r.logs.lines.filter((l) => l.code === 'E_EXHAUSTED').length;
    expect(exhausted()).toBe(1);
    await r.clock.advance(5000);
    expect(r.a.phase.kind).toBe('exhausted');
    expect(exhausted()).toBe(2);
    r.peers.forget(OTHER);
    await r.clock.advance(4999);
    expect(r.a.phase.kind).toBe('exhausted');
    await r.clock.advance(1);
    expect(r.a.phase).toMatchObject({ kind: 'probing', candidate: ip('100.64.192.2') });
    await r.clock.advance(CLAIM_MS);
    expect(r.a.ip).toBe(ip('100.64.192.2'));
  });

  it('is not started over by every read of the underlay while exhausted: one line, one 5 s wait', async () => {
    const cidr = parseCidr('100.64.192.0/30') as Cidr;
    const r = rig({ cidr });
    heard(r, announce({ nodeId: OTHER, overlayIp: ip('100.64.192.2') }));
    r.a.start(undefined);
    r.a.setCanSend(true);
    r.peers.forget(OTHER);
    for (let i = 0; i < 4; i++) {
      await r.clock.advance(1000);
      r.a.setCanSend(true); // the agent tells it on every read of the physical interface
    }
    expect(r.logs.lines.filter((l) => l.code === 'E_EXHAUSTED')).toHaveLength(1);
    expect(r.a.phase.kind).toBe('exhausted');
    await r.clock.advance(1000);
    expect(r.a.phase).toMatchObject({ kind: 'probing', candidate: ip('100.64.192.2') });
  });
});

describe('a pinned address', () => {
  it('is probed for and settles pinSettled once established', async () => {
    const pin = ip('100.64.192.77');
    const r = rig({ pinned: pin });
    r.a.start(undefined);
    r.a.setCanSend(true);
    expect(r.a.phase).toMatchObject({ kind: 'probing', candidate: pin });
    let settled = false;
    void r.a.pinSettled.then(() => { settled = true; });
    await r.clock.advance(CLAIM_MS - 1);
    expect(settled).toBe(false);
    await r.clock.advance(1);
    expect(settled).toBe(true);
    expect(r.a.isPinned).toBe(true);
  });

  it('rejects pinSettled with E_CONFLICT when a known host holds it at start', async () => {
    const pin = ip('100.64.192.77');
    const r = rig({ pinned: pin });
    heard(r, announce({ nodeId: OTHER, overlayIp: pin }));
    r.a.start(undefined);
    await expect(r.a.pinSettled).rejects.toMatchObject({ code: 'E_CONFLICT' });
    expect(r.a.phase.kind).toBe('failed');
    r.a.setCanSend(true);
    await r.clock.advance(5000);
    expect(r.probes).toEqual([]);
  });

  it('rejects pinSettled with E_CONFLICT when an established host announces it during the probe', async () => {
    const pin = ip('100.64.192.77');
    const r = rig({ pinned: pin });
    r.a.start(undefined);
    r.a.setCanSend(true);
    await r.clock.advance(WAIT + 1);
    r.a.onAnnounce(heard(r, announce({ nodeId: OTHER, overlayIp: pin })));
    await expect(r.a.pinSettled).rejects.toThrow(/100\.64\.192\.77 pinned by --overlay-ip is already taken/);
    expect(r.a.phase.kind).toBe('failed');
    await r.clock.advance(CLAIM_MS);
    expect(r.saved).toEqual([]);
    expect(r.probes).toHaveLength(1);
  });

  it('never moves when a pinned claim held longer arrives: it logs the conflict and sends no challenge', async () => {
    const pin = ip('100.64.192.77');
    const r = rig({ pinned: pin });
    await established(r, { ip: pin, claimedAt: 1000, heldMs: 0 });
    expect(r.a.isPinned).toBe(true);
    const older = heard(r, announce({ nodeId: OTHER, overlayIp: pin, heldMs: 1e6, pinned: true }));
    expect(r.a.onAnnounce(older)).toBe(false);
    expect(challenges(r)).toEqual([]);
    expect(r.a.ip).toBe(pin);
    const logged = r.logs.lines.filter((l) => l.code === 'E_CONFLICT');
    expect(logged.some((l) => String(l.msg).includes('a pinned address never moves'))).toBe(true);
  });
});

describe('an established host', () => {
  it('asks a re-announce (defend) when its claim beats the announcer\'s', async () => {
    const r = rig();
    await established(r, { ip: ip('100.64.192.50'), claimedAt: 1000, heldMs: 100_000 });
    expect(r.a.onAnnounce(heard(r, announce({ nodeId: OTHER, overlayIp: ip('100.64.192.50'), heldMs: 5 })))).toBe(true);
    const elsewhere = heard(r, announce({ nodeId: OTHER, overlayIp: ip('100.64.192.60'), heldMs: 5 }));
    expect(r.a.onAnnounce(elsewhere)).toBe(false);
    expect(challenges(r)).toEqual([]);
  });

  it('answers probes: announce for its own address, defend for a peer\'s, nothing for a free one', async () => {
    const r = rig();
    await established(r);
    const ours = r.a.onProbe(probe({ nodeId: OTHER, overlayIp: ip('100.64.192.50'), claimedAt: 0 }));
    expect(ours).toEqual({ kind: 'announce' });
    heard(r, announce({ nodeId: 'c'.repeat(32), overlayIp: ip('100.64.192.60') }));
    const reply = r.a.onProbe(probe({ nodeId: OTHER, overlayIp: ip('100.64.192.60'), claimedAt: 0 }));
    expect(reply).toMatchObject({ kind: 'defend', holder: { id: 'c'.repeat(32) } });
    expect(r.a.onProbe(probe({ nodeId: OTHER, overlayIp: ip('100.64.192.70'), claimedAt: 0 }))).toBeUndefined();
  });

  it('challenges a better claim and moves only on the echo of its nonce', async () => {
    const r = rig();
    const ours = ip('100.64.192.50');
    await established(r, { ip: ours, claimedAt: 1000, heldMs: 0 });
    const better = heard(r, announce({ nodeId: OTHER, overlayIp: ours, heldMs: 100_000 }));
    expect(r.a.onAnnounce(better)).toBe(false);
    const sent = challenges(r);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ target: OTHER, overlayIp: ours });
    expect(r.a.ip).toBe(ours);
    r.a.onAnnounce({ ...better, echo: 'not-the-nonce' });
    r.a.onAnnounce(better); // a replay without echo
    expect(r.a.ip).toBe(ours);
    expect(challenges(r)).toHaveLength(1); // one challenge out at a time
    expect(r.counters.conflicts).toBe(0);
    expect(r.emitted.some((x) => x.reprogram !== undefined)).toBe(false);

    r.a.onAnnounce({ ...better, echo: sent[0]!.nonce });
    expect(r.a.ip).not.toBe(ours);
    expect(r.a.phase.kind).toBe('probing'); // it can send: a new address at once
    expect((r.a.phase as { candidate: Ipv4 }).candidate).not.toBe(ours);
    expect(r.emitted.at(-1)).toEqual({ reprogram: 'full' });
    expect(r.counters.conflicts).toBe(1);
    expect(r.store.cleared).toBe(1);
    expect(r.a.heldMs).toBeUndefined();
    const conflict = r.logs.lines.filter((l) => l.code === 'E_CONFLICT');
    expect(conflict.some((l) => String(l.msg).startsWith('ADDRESS CONFLICT'))).toBe(true);
    await r.clock.advance(CLAIM_MS);
    expect(r.a.phase.kind).toBe('established');
    expect(r.saved).toHaveLength(1);
    expect(r.saved[0]!.ip).not.toBe(ours);
  });

  it('challenges the peer defending a better claim; keeps its address when the challenge goes unanswered', async () => {
    const r = rig();
    const ours = ip('100.64.192.50');
    await established(r, { ip: ours, claimedAt: 1000, heldMs: 0 });
    const holder = 'c'.repeat(32);
    r.a.onDefend(defend({ nodeId: OTHER, overlayIp: ours, holderId: holder, holderHeldMs: 100_000 }));
    expect(challenges(r)).toEqual([expect.objectContaining({ target: OTHER, overlayIp: ours })]);
    expect(r.a.unconfirmed).toBe(0);
    await r.clock.advance(1000);
    expect(r.a.unconfirmed).toBe(1);
    expect(r.a.ip).toBe(ours);
    expect(r.counters.conflicts).toBe(0);
  });
});

describe('onForgotten', () => {
  it('moves off a forgotten claim and dates the next claim after it, even with the wall clock behind', async () => {
    const r = rig();
    const ours = ip('100.64.192.50');
    const forgottenAt = r.clock.now() + 3_600_000; // claimed while the wall clock was an hour ahead
    await established(r, { ip: ours, claimedAt: forgottenAt, heldMs: 0 });
    r.a.onForgotten(OTHER, forgottenAt);
    expect(r.a.ip).toBeUndefined();
    expect(r.emitted).toEqual([{ reprogram: 'full' }]);
    expect(r.counters.conflicts).toBe(1);
    expect(r.store.cleared).toBe(1);
    expect(r.logs.lines.some((l) => l.code === 'E_FORGOTTEN' && l.peer === OTHER)).toBe(true);
    expect((r.a.phase as { candidate: Ipv4 }).candidate).not.toBe(ours);
    await r.clock.advance(CLAIM_MS);
    expect(r.saved).toHaveLength(1);
    expect(r.saved[0]!.claimedAt).toBe(forgottenAt + 1);
    expect(r.a.claimedAt).toBe(forgottenAt + 1);
  });

  it('only raises the floor while probing: the claim it makes is dated after the forgotten one', async () => {
    const r = rig();
    r.a.start(undefined);
    r.a.setCanSend(true);
    const floor = r.clock.now() + 60_000;
    r.a.onForgotten(OTHER, floor);
    expect(r.a.phase.kind).toBe('probing');
    expect(r.emitted).toEqual([]);
    await r.clock.advance(CLAIM_MS);
    expect(r.saved[0]!.claimedAt).toBe(floor + 1);
  });
});

describe('stop', () => {
  it('cancels the probe timer', async () => {
    const r = rig();
    r.a.start(undefined);
    r.a.setCanSend(true);
    r.a.stop();
    await r.clock.advance(10_000);
    expect(r.probes).toEqual([]);
    expect(r.clock.pending).toBe(0);
  });
});
