import { describe, expect, it } from 'vitest';
import { generateKey, loadKeyring, parseKeyText } from '../../src/wire/keyfile.js';

const fsWith = (files: Record<string, { text: string; mode: number }>) => ({
  stat: async (p: string) => {
    const f = files[p];
    if (!f) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    return { mode: 0o100000 | f.mode, isFile: () => true };
  },
  readFile: async (p: string) => files[p]!.text,
});
const key = 'a1'.repeat(32);
const key2 = 'b2'.repeat(32);

describe('cluster key file', () => {
  it('reads a single bare key (the simplest keyring)', async () => {
    const k = await loadKeyring('/k', fsWith({ '/k': { text: `\n  ${key}  \n`, mode: 0o600 } }));
    expect(k).toHaveLength(1);
    expect(k[0]!.key.toString('hex')).toBe(key);
    expect(k[0]!.fingerprint).toMatch(/^[0-9a-f]{8}$/);
    expect(k[0]!.label).toBe(k[0]!.fingerprint);
  });

  it('reads a keyring: one key per line, optional "id:" labels, comments; the first signs', () => {
    const k = parseKeyText(`# rotated 2026-11\nnew: ${key2}\nold:${key}\n`, '/k');
    expect(k.map((x) => x.label)).toEqual(['new', 'old']);
    expect(k[0]!.key.toString('hex')).toBe(key2);
    expect(k[0]!.id).not.toBe(undefined);
  });

  it.each([
    ['/missing', {}, 'cluster key file /missing does not exist (create it with: edge-overlay keygen > /missing && chmod 600 /missing)'],
    ['/k', { '/k': { text: '\n\n', mode: 0o600 } }, 'cluster key file /k is empty (generate a key with: edge-overlay keygen > /k)'],
    ['/k', { '/k': { text: 'abcd', mode: 0o600 } }, 'cluster key on line 1 of /k is too short: 4 hex characters, need at least 64 (32 bytes); generate one with edge-overlay keygen'],
    ['/k', { '/k': { text: 'zz'.repeat(32), mode: 0o600 } }, 'cluster key on line 1 of /k is not hexadecimal (expected 64 hex characters from edge-overlay keygen, optionally after "id:")'],
    ['/k', { '/k': { text: key, mode: 0o644 } }, 'cluster key file /k is readable by every user (mode 0644); run: chmod 600 /k'],
    ['/k', { '/k': { text: `${key}\n${key}\n`, mode: 0o600 } }, expect.stringMatching(/^cluster key file \/k lists the same key twice/)],
    ['/k', { '/k': { text: `a:${key}\na:${key2}\n`, mode: 0o600 } }, 'cluster key file /k uses the id "a" twice'],
  ])('refuses %s with one clear line', async (path, files, message) => {
    await expect(loadKeyring(path, fsWith(files as Record<string, { text: string; mode: number }>))).rejects.toMatchObject({ code: 'E_KEYFILE', message });
  });

  it('generates 32 random bytes as hex that it accepts', () => {
    const a = generateKey();
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(generateKey()).not.toBe(a);
    expect(parseKeyText(a, 'x')[0]!.key).toHaveLength(32);
  });
});
