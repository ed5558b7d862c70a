// Unit: agent/trust/challenge.ts: one challenge out at a time, only the asked node's echo confirms, timeouts count.
import { describe, expect, it } from 'vitest';
import { Challenges } from '../../../src/agent/trust/challenge.js';
import type { Actions, Outgoing } from '../../../src/agent/actions.js';
import { PeerTable } from '../../../src/peers/table.js';
import { parseIpv4 } from '../../../src/net/ipv4.js';
import { FakeClock } from '../../fakes/clock.js';
import { captureLog } from '../../fakes/log.js';
import { announceMsg } from '../../fakes/agent.js';

const ip = (s: string): number => parseIpv4(s)!;
const SELF = 'e'.repeat(32);
const P = 'a'.repeat(32);
const Q = 'b'.repeat(32);
const OURS = ip('100.64.192.9');

interface Setup {
  c: Challenges;
  clock: FakeClock;
  sent: Outgoing[];
  emitted: Actions[];
  lines: Record<string, unknown>[];
}

function setup(): Setup {
  const clock = new FakeClock();
  const { log, lines } = captureLog();
  const peers = new PeerTable(20_000);
  const msg = announceMsg({ nodeId: P, overlayIp: OURS, underlayIp: ip('10.0.0.7') });
  peers.observe(msg, clock.now(), clock.monotonic());
  const emitted: Actions[] = [];
  const sent: Outgoing[] = [];
  let n = 0;
  const c = new Challenges({
    clock, log, nodeId: SELF, peers, nonce: () => `${++n}`.padStart(16, '0'),
    emit: (a) => { emitted.push(a); sent.push(...(a.send ?? [])); },
  });
  return { c, clock, sent, emitted, lines };
}
const nonce = (i: number): string => `${i}`.padStart(16, '0');

describe('challenges', () => {
  it('sends a challenge for a claim on our address, to the claimant\'s known underlay address', () => {
    const { c, sent, emitted } = setup();
    expect(c.confirm(P, undefined, OURS)).toBe(false);
    expect(emitted).toEqual([
      { send: [{ kind: 'challenge', target: P, overlayIp: OURS, nonce: nonce(1), to: ip('10.0.0.7') }] },
    ]);
    expect(sent).toHaveLength(1);
  });

  it('broadcasts the challenge to a node whose address we do not know', () => {
    const { c, sent } = setup();
    c.confirm(Q, undefined, OURS);
    expect(sent).toEqual([{ kind: 'challenge', target: Q, overlayIp: OURS, nonce: nonce(1), to: undefined }]);
  });

  it('keeps one challenge out at a time', () => {
    const { c, sent } = setup();
    c.confirm(P, undefined, OURS);
    expect(c.confirm(P, undefined, OURS)).toBe(false);
    expect(c.confirm(Q, undefined, OURS)).toBe(false);
    expect(c.confirm(P, 'ffffffffffffffff', OURS)).toBe(false);
    expect(sent).toHaveLength(1);
  });

  it('is confirmed by the asked node echoing the nonce, and by nothing else', () => {
    const { c } = setup();
    c.confirm(P, undefined, OURS);
    expect(c.confirm(Q, nonce(1), OURS)).toBe(false); // the right nonce from another node
    expect(c.confirm(P, nonce(2), OURS)).toBe(false); // the asked node, a wrong nonce
    expect(c.confirm(P, nonce(1), OURS)).toBe(true);
  });

  it('a confirmed challenge is spent: the next claim is challenged afresh, the old echo counts no more', async () => {
    const { c, sent, clock } = setup();
    c.confirm(P, undefined, OURS);
    expect(c.confirm(P, nonce(1), OURS)).toBe(true);
    await clock.advance(5000);
    expect(c.unconfirmed).toBe(0); // the answered challenge never times out
    expect(c.confirm(P, nonce(1), OURS)).toBe(false); // a replay of the answer
    expect(sent.map((o) => o.kind === 'challenge' && o.nonce)).toEqual([nonce(1), nonce(2)]);
  });

  it('counts and logs a challenge unanswered within a second, then challenges again', async () => {
    const { c, clock, sent, lines } = setup();
    c.confirm(P, undefined, OURS);
    await clock.advance(999);
    expect(c.unconfirmed).toBe(0);
    expect(c.confirm(P, undefined, OURS)).toBe(false);
    expect(sent).toHaveLength(1);
    await clock.advance(1);
    expect(c.unconfirmed).toBe(1);
    expect(lines.filter((l) => l.level === 'warn')).toEqual([expect.objectContaining({ peer: P, node: SELF })]);
    expect(c.confirm(P, nonce(1), OURS)).toBe(false); // too late: it starts a new challenge instead
    expect(sent).toHaveLength(2);
    expect(c.confirm(P, nonce(2), OURS)).toBe(true);
  });

  it('stop() drops the challenge out, and its timer', async () => {
    const { c, clock } = setup();
    c.confirm(P, undefined, OURS);
    expect(clock.pending).toBe(1);
    c.stop();
    expect(clock.pending).toBe(0);
    await clock.advance(2000);
    expect(c.unconfirmed).toBe(0);
  });
});
