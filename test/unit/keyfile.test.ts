// Unit: the cluster key file — a bare key or a keyring, the file mode checked, generated keys accepted.
import { describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey, loadKeyring, parseKeyText } from '../../src/wire/keyfile.js';
import { keyFs } from '../../src/cli/agent.js';

type FakeFile = { text: string; mode: number; uid?: number; type?: 'file' | 'dir' | 'fifo' };
const fsWith = (files: Record<string, FakeFile>) => ({
  stat: async (p: string) => {
    const f = files[p];
    if (!f) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    const type = f.type ?? 'file';
    return { mode: { file: 0o100000, dir: 0o040000, fifo: 0o010000 }[type] | f.mode, uid: f.uid ?? 0,
      isFile: () => type === 'file' };
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
    ['/missing', {}, 'cluster key file /missing does not exist (create it with: edge-overlay keygen > /missing '
      + '&& chmod 600 /missing)'],
    ['/k', { '/k': { text: '\n\n', mode: 0o600 } },
      'cluster key file /k is empty (generate a key with: edge-overlay keygen > /k)'],
    ['/k', { '/k': { text: 'abcd', mode: 0o600 } }, 'cluster key on line 1 of /k is too short: 4 hex characters, '
      + 'need at least 64 (32 bytes); generate one with edge-overlay keygen'],
    ['/k', { '/k': { text: 'zz'.repeat(32), mode: 0o600 } }, 'cluster key on line 1 of /k is not hexadecimal '
      + '(expected 64 hex characters from edge-overlay keygen, optionally after "id:")'],
    ['/k', { '/k': { text: key, mode: 0o644 } },
      'cluster key file /k is readable by every user (mode 0644); run: chmod 600 /k'],
    ['/k', { '/k': { text: `${key}\n${key}\n`, mode: 0o600 } },
      expect.stringMatching(/^cluster key file \/k lists the same key twice/)],
    ['/k', { '/k': { text: `a:${key}\na:${key2}\n`, mode: 0o600 } }, 'cluster key file /k uses the id "a" twice'],
  ])('refuses %s with one clear line', async (path, files, message) => {
    await expect(loadKeyring(path, fsWith(files as Record<string, FakeFile>), 0))
      .rejects.toMatchObject({ code: 'E_KEYFILE', message });
  });

  // what a neighbour with a shell account, or a careless copy, leaves behind
  it.each([
    ['group-readable', { mode: 0o640 }, 0,
      'cluster key file /k is open to group or others (mode 0640; must be 0600 or 0400); run: chmod 600 /k'],
    ['group-writable', { mode: 0o620 }, 0,
      'cluster key file /k is open to group or others (mode 0620; must be 0600 or 0400); run: chmod 600 /k'],
    ['world-writable only', { mode: 0o602 }, 0,
      'cluster key file /k is open to group or others (mode 0602; must be 0600 or 0400); run: chmod 600 /k'],
    ['group-executable', { mode: 0o610 }, 0,
      'cluster key file /k is open to group or others (mode 0610; must be 0600 or 0400); run: chmod 600 /k'],
    ['owned by another user', { mode: 0o600, uid: 1000 }, 0,
      'cluster key file /k is owned by uid 1000 (must be root); run: chown root /k'],
    ['owned by another user, agent not root', { mode: 0o600, uid: 1000 }, 998,
      "cluster key file /k is owned by uid 1000 (must be root or the agent's user, uid 998); run: chown root /k"],
    ['wrong owner and mode', { mode: 0o660, uid: 1000 }, 0,
      'cluster key file /k is owned by uid 1000 (must be root) and is open to group or others (mode 0660; '
        + 'must be 0600 or 0400); run: chown root /k && chmod 600 /k'],
    ['a directory', { mode: 0o700, type: 'dir' }, 0, 'cluster key file /k is not a regular file (a directory, device, '
      + 'socket or pipe); point the agent at the key file itself'],
    ['a named pipe', { mode: 0o600, type: 'fifo' }, 0, 'cluster key file /k is not a regular file (a directory, '
      + 'device, socket or pipe); point the agent at the key file itself'],
  ] as const)('refuses a key file that is %s', async (_what, f, agentUid, message) => {
    await expect(loadKeyring('/k', fsWith({ '/k': { text: key, ...f } }), agentUid))
      .rejects.toMatchObject({ code: 'E_KEYFILE', message });
  });

  it.each([
    ['0600, root', 0o600, 0, 0],
    ['0400, root', 0o400, 0, 0],
    ["0600, the agent's own user", 0o600, 998, 998],
    ['0400, root, agent not root', 0o400, 0, 998],
  ])('accepts a key file that is %s', async (_what, mode, uid, agentUid) => {
    expect(await loadKeyring('/k', fsWith({ '/k': { text: key, mode, uid } }), agentUid)).toHaveLength(1);
  });

  it('checks the real file system: a 0640 file is refused, the same file at 0600 accepted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eo-key-'));
    const path = join(dir, 'cluster.key');
    try {
      writeFileSync(path, `${key}\n`, { mode: 0o640 });
      chmodSync(path, 0o640); // whatever the umask
      await expect(loadKeyring(path, keyFs)).rejects.toMatchObject({ code: 'E_KEYFILE',
        message: expect.stringContaining(`(mode 0640; must be 0600 or 0400); run: chmod 600 ${path}`) });
      chmodSync(path, 0o600);
      expect(await loadKeyring(path, keyFs)).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('generates 32 random bytes as hex that it accepts', () => {
    const a = generateKey();
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(generateKey()).not.toBe(a);
    expect(parseKeyText(a, 'x')[0]!.key).toHaveLength(32);
  });
});
