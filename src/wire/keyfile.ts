// Layer: configuration input. Contract: loadKeyring() returns the cluster's
// keys (hex, one per line, optionally "id:"-labelled) — the first signs, all
// verify — or throws one E_KEYFILE saying what to fix. The file must be a
// regular file owned by root or the agent's user, with no group or other
// access (0600/0400). Rotation order: add the new key on every host, make it
// first everywhere, then remove the old one.

import { createHash, randomBytes } from 'node:crypto';
import { EdgeError } from '../errors.js';
import type { SigningKey } from './codec.js';

export const MIN_KEY_HEX = 64;
export const MAX_KEYS = 8;

export interface ClusterKey extends SigningKey {
  /** operator label ("id:" prefix) or the fingerprint */
  label: string;
  /** first 8 hex digits of SHA-256(key): safe to log and show */
  fingerprint: string;
}

export type Keyring = readonly ClusterKey[];

export interface KeyFileSystem {
  /** follows symlinks (a mounted secret is often one): the target is checked */
  stat(path: string): Promise<{ mode: number; uid: number; isFile(): boolean }>;
  readFile(path: string): Promise<string>;
}

export function generateKey(): string {
  return randomBytes(32).toString('hex');
}

function parseLine(line: string, n: number, path: string): ClusterKey {
  const m = /^(?:([A-Za-z0-9_.-]{1,32}):)?\s*(.*)$/.exec(line)!;
  const label = m[1];
  const hex = m[2]!.trim();
  const where = `line ${n} of ${path}`;
  if (!/^[0-9a-fA-F]+$/.test(hex)) {
    throw new EdgeError('E_KEYFILE', `cluster key on ${where} is not hexadecimal `
      + `(expected ${MIN_KEY_HEX} hex characters from edge-overlay keygen, optionally after "id:")`);
  }
  if (hex.length < MIN_KEY_HEX || hex.length % 2 !== 0) {
    throw new EdgeError('E_KEYFILE', `cluster key on ${where} is too short: ${hex.length} hex characters, `
      + `need at least ${MIN_KEY_HEX} (32 bytes); generate one with edge-overlay keygen`);
  }
  const key = Buffer.from(hex, 'hex');
  const digest = createHash('sha256').update(key).digest();
  const fingerprint = digest.subarray(0, 4).toString('hex');
  return { id: digest[0]!, key, label: label ?? fingerprint, fingerprint };
}

/** Parses the text of a key file; `path` only names the file in messages. */
export function parseKeyText(text: string, path: string): Keyring {
  const keys: ClusterKey[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line.length === 0 || line.startsWith('#')) return;
    keys.push(parseLine(line, i + 1, path));
  });
  if (keys.length === 0) {
    throw new EdgeError('E_KEYFILE',
      `cluster key file ${path} is empty (generate a key with: edge-overlay keygen > ${path})`);
  }
  if (keys.length > MAX_KEYS) {
    throw new EdgeError('E_KEYFILE',
      `cluster key file ${path} holds ${keys.length} keys; at most ${MAX_KEYS} are allowed`);
  }
  for (let i = 0; i < keys.length; i++) {
    for (let j = 0; j < i; j++) {
      if (keys[i]!.key.equals(keys[j]!.key)) {
        throw new EdgeError('E_KEYFILE', `cluster key file ${path} lists the same key twice (${keys[i]!.label})`);
      }
      if (keys[i]!.label === keys[j]!.label) {
        throw new EdgeError('E_KEYFILE', `cluster key file ${path} uses the id "${keys[i]!.label}" twice`);
      }
    }
  }
  return keys;
}

/** Why the key file's owner or mode is unsafe, with the command that fixes it; undefined if both are safe. */
function unsafe(path: string, st: { mode: number; uid: number }, agentUid: number): string | undefined {
  const problems: string[] = [];
  const fixes: string[] = [];
  if (st.uid !== 0 && st.uid !== agentUid) {
    problems.push(
      `is owned by uid ${st.uid} (must be root${agentUid !== 0 ? ` or the agent's user, uid ${agentUid}` : ''})`);
    fixes.push(`chown root ${path}`);
  }
  if ((st.mode & 0o077) !== 0) {
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    problems.push((st.mode & 0o004) !== 0
      ? `is readable by every user (mode ${mode})`
      : `is open to group or others (mode ${mode}; must be 0600 or 0400)`);
    fixes.push(`chmod 600 ${path}`);
  }
  return problems.length === 0
    ? undefined
    : `cluster key file ${path} ${problems.join(' and ')}; run: ${fixes.join(' && ')}`;
}

/** `agentUid`: the user the agent runs as (root, or the owner of a key file it may read). */
export async function loadKeyring(
  path: string | undefined, fs: KeyFileSystem, agentUid = process.geteuid?.() ?? 0,
): Promise<Keyring> {
  if (!path) {
    throw new EdgeError('E_KEYFILE',
      'no cluster key file given (use --cluster-key-file FILE; create one with edge-overlay keygen)');
  }
  let st;
  try {
    st = await fs.stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new EdgeError('E_KEYFILE', `cluster key file ${path} does not exist `
        + `(create it with: edge-overlay keygen > ${path} && chmod 600 ${path})`);
    }
    throw new EdgeError('E_KEYFILE', `cannot read cluster key file ${path}: ${code ?? String(err)}`);
  }
  if (!st.isFile()) {
    throw new EdgeError('E_KEYFILE', `cluster key file ${path} is not a regular file `
      + '(a directory, device, socket or pipe); point the agent at the key file itself');
  }
  const why = unsafe(path, st, agentUid);
  if (why) throw new EdgeError('E_KEYFILE', why);
  let text: string;
  try {
    text = await fs.readFile(path);
  } catch (err) {
    throw new EdgeError('E_KEYFILE',
      `cannot read cluster key file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseKeyText(text, path);
}
