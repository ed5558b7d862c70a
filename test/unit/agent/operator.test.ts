// Unit: agent/operator.ts: `forget NODE` resolved to one peer or refused in one line; forget, keys and seeds reloads.
import { describe, expect, it } from 'vitest';
import { forgetSends, reloadKeys, reloadSeeds, resolvePeer } from '../../../src/agent/operator.js';
import { NOTHING } from '../../../src/agent/actions.js';
import { Seeds } from '../../../src/agent/membership/seeds.js';
import { EdgeError } from '../../../src/errors.js';
import { PeerTable } from '../../../src/peers/table.js';
import { parseIpv4 } from '../../../src/net/ipv4.js';
import { parseKeyText, type Keyring } from '../../../src/wire/keyfile.js';
import type { AnnounceMsg } from '../../../src/wire/codec.js';
import { captureLog } from '../../fakes/log.js';
import { announceMsg } from '../../fakes/agent.js';

const ip = (s: string): number => parseIpv4(s)!;
const STALE_MS = 20_000;
const A = `abcd0000${'1'.repeat(24)}`;
const B = `abcd9999${'2'.repeat(24)}`;
const C = `c0ffee00${'3'.repeat(24)}`;
const announce = (id: string, overlay: string): AnnounceMsg =>
  announceMsg({ nodeId: id, overlayIp: ip(overlay), underlayIp: ip('10.0.0.7'), claimedAt: 1234, heldMs: 0 });

/** A heard at 0 (stale at `now`), B heard at 0 too, C heard just now (alive); B and C share an overlay IP. */
function table(now: number): PeerTable {
  const t = new PeerTable(STALE_MS);
  t.observe(announce(A, '100.64.192.10'), 0, 0);
  t.observe(announce(B, '100.64.192.20'), 0, 0);
  t.observe(announce(C, '100.64.192.20'), now, now - 1500);
  return t;
}
const NOW = 100_000;

function refusal(f: () => unknown): EdgeError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(EdgeError);
    const e = err as EdgeError;
    expect(e.code).toBe('E_CONTROL');
    expect(e.message).not.toContain('\n');
    return e;
  }
  throw new Error('expected a refusal');
}

describe('resolvePeer', () => {
  it('finds a peer by its full node id, in any case and with spaces around it', () => {
    const t = table(NOW);
    expect(resolvePeer(t, A, false, NOW).id).toBe(A);
    expect(resolvePeer(t, `  ${A.toUpperCase()} `, false, NOW).id).toBe(A);
  });

  it('finds a peer by a unique prefix of at least 4 hex digits', () => {
    const t = table(NOW);
    expect(resolvePeer(t, 'abcd0', false, NOW).id).toBe(A);
    expect(resolvePeer(t, 'c0ff', true, NOW).id).toBe(C);
  });

  it('finds a peer by its overlay IP', () => {
    expect(resolvePeer(table(NOW), '100.64.192.10', false, NOW).id).toBe(A);
  });

  it('refuses what is neither an id nor an address', () => {
    const t = table(NOW);
    for (const q of ['abc', 'node-a', `${A}0`, '100.64.192']) {
      expect(refusal(() => resolvePeer(t, q, true, NOW)).message).toContain('neither a node id');
    }
  });

  it('refuses a query that matches no peer', () => {
    const t = table(NOW);
    const none = refusal(() => resolvePeer(t, 'dead', true, NOW));
    expect(none.message).toBe('no peer matches "dead" (see edge-overlay peers)');
    expect(refusal(() => resolvePeer(t, '100.64.192.99', true, NOW)).message).toContain('no peer matches');
  });

  it('refuses a prefix or an address that matches several peers, naming them', () => {
    const t = table(NOW);
    const byPrefix = refusal(() => resolvePeer(t, 'abcd', true, NOW)).message;
    expect(byPrefix).toContain('matches 2 peers');
    expect(byPrefix).toContain(A.slice(0, 12));
    expect(byPrefix).toContain(B.slice(0, 12));
    const byIp = refusal(() => resolvePeer(t, '100.64.192.20', true, NOW)).message;
    expect(byIp).toContain('matches 2 peers');
    expect(byIp).toContain(C.slice(0, 12));
  });

  it('refuses an alive peer without force, saying when it was last seen; force takes it', () => {
    const t = table(NOW);
    const msg = refusal(() => resolvePeer(t, C, false, NOW)).message;
    expect(msg).toContain(`node ${C} (100.64.192.20) is alive (last seen 1.5s ago)`);
    expect(msg).toContain('--force');
    expect(resolvePeer(t, C, true, NOW).id).toBe(C);
  });

  it('takes a stale peer without force, and a peer loaded from the state file (never heard in this run)', () => {
    const t = table(NOW);
    expect(resolvePeer(t, 'abcd0', false, STALE_MS + 1).id).toBe(A);
    expect(() => resolvePeer(t, 'abcd0', false, STALE_MS)).toThrow(/is alive/);
    const loaded = new PeerTable(STALE_MS);
    loaded.load(t.toPersisted());
    expect(resolvePeer(loaded, C, false, 0).id).toBe(C);
  });
});

describe('forgetSends', () => {
  it('broadcasts the forget three times, naming the claim it releases', () => {
    const t = table(NOW);
    const sends = forgetSends(t.get(A)!);
    expect(sends).toHaveLength(3);
    for (const s of sends) {
      expect(s).toEqual({ kind: 'forget', target: A, claimedAt: 1234, overlayIp: ip('100.64.192.10') });
      expect(s).not.toHaveProperty('to'); // every host must hear it
    }
  });
});

describe('reloadKeys', () => {
  const K1 = 'a'.repeat(64);
  const K2 = 'b'.repeat(64);
  function sender(keys: Keyring): { keys: Keyring; setKeys(k: Keyring): void } {
    const s = { keys, setKeys: (k: Keyring): void => { s.keys = k; } };
    return s;
  }

  it('announces at once when the signing key changed, and the new keyring is in use', () => {
    const s = sender(parseKeyText(`old:${K1}`, 'k'));
    const next = parseKeyText(`new:${K2}\nold:${K1}`, 'k');
    const { log, lines } = captureLog();
    expect(reloadKeys(s, next, log)).toEqual({ send: [{ kind: 'announce' }] });
    expect(s.keys).toBe(next);
    expect(lines.at(-1)).toMatchObject({ level: 'info', keys: ['new', 'old'], signing: 'new' });
  });

  it('asks nothing when the same key still signs (a key added for verification, or the file read again)', () => {
    const s = sender(parseKeyText(`old:${K1}`, 'k'));
    const again = parseKeyText(`old:${K1}`, 'k');
    expect(reloadKeys(s, again, captureLog().log)).toBe(NOTHING);
    expect(s.keys).toBe(again);
    const added = parseKeyText(`old:${K1}\nnew:${K2}`, 'k');
    expect(reloadKeys(s, added, captureLog().log)).toBe(NOTHING);
    expect(s.keys).toBe(added);
  });

  it('also announces when only the signing key\'s label changed', () => {
    const s = sender(parseKeyText(`old:${K1}`, 'k'));
    const renamed = parseKeyText(`renamed:${K1}`, 'k');
    expect(reloadKeys(s, renamed, captureLog().log)).toEqual({ send: [{ kind: 'announce' }] });
  });
});

describe('reloadSeeds', () => {
  it('replaces the seeds and has the family choice evaluated again', () => {
    const seeds = new Seeds([{ address: '192.0.2.1', port: 9477 }], async () => []);
    const next = [{ address: '198.51.100.7', port: 9000 }, { address: 'seed.example', port: 9477 }];
    const { log, lines } = captureLog();
    expect(reloadSeeds(seeds, next, log)).toEqual({ family: true });
    expect(seeds.list).toEqual(next);
    expect(seeds.addresses()).toEqual([ip('198.51.100.7')]);
    expect(lines.at(-1)).toMatchObject({ level: 'info', peers: ['198.51.100.7:9000', 'seed.example:9477'] });
  });
});
