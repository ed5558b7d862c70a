import { describe, expect, it } from 'vitest';
import { generateKey, loadClusterKey, parseKeyText } from '../../src/wire/keyfile.js';

const fsWith = (files: Record<string, { text: string; mode: number }>) => ({
  stat: async (p: string) => {
    const f = files[p];
    if (!f) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    return { mode: 0o100000 | f.mode, isFile: () => true };
  },
  readFile: async (p: string) => files[p]!.text,
});
const key = 'a1'.repeat(32);

describe('cluster key file', () => {
  it('reads the first non-empty line', async () => {
    const k = await loadClusterKey('/k', fsWith({ '/k': { text: `\n  ${key}  \nextra\n`, mode: 0o600 } }));
    expect(k.key.toString('hex')).toBe(key);
  });

  it.each([
    ['/missing', {}, 'cluster key file /missing does not exist (create it with: edge-overlay keygen > /missing && chmod 600 /missing)'],
    ['/k', { '/k': { text: '\n\n', mode: 0o600 } }, 'cluster key file /k is empty (generate a key with: edge-overlay keygen > /k)'],
    ['/k', { '/k': { text: 'abcd', mode: 0o600 } }, 'cluster key in /k is too short: 4 hex characters, need at least 64 (32 bytes); generate one with edge-overlay keygen'],
    ['/k', { '/k': { text: 'zz'.repeat(32), mode: 0o600 } }, 'cluster key in /k is not hexadecimal (expected 64 hex characters from edge-overlay keygen)'],
    ['/k', { '/k': { text: key, mode: 0o644 } }, 'cluster key file /k is readable by every user (mode 0644); run: chmod 600 /k'],
  ])('refuses %s with one clear line', async (path, files, message) => {
    await expect(loadClusterKey(path, fsWith(files as Record<string, { text: string; mode: number }>))).rejects.toMatchObject({ code: 'E_KEYFILE', message });
  });

  it('generates 32 random bytes as hex that it accepts', () => {
    const a = generateKey();
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(generateKey()).not.toBe(a);
    expect(parseKeyText(a, 'x').key).toHaveLength(32);
  });
});
