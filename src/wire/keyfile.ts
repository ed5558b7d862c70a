// Layer: configuration input. Contract: loadClusterKey() returns the signing
// key or throws one EdgeError('E_KEYFILE') whose message tells the operator
// exactly what to fix. The key is at least 32 random bytes as hex.

import { randomBytes } from 'node:crypto';
import { EdgeError } from '../errors.js';
import type { SigningKey } from './codec.js';

export const MIN_KEY_HEX = 64;

export interface KeyFileSystem {
  stat(path: string): Promise<{ mode: number; isFile(): boolean }>;
  readFile(path: string): Promise<string>;
}

export function generateKey(): string {
  return randomBytes(32).toString('hex');
}

/** Parses the text of a key file; `path` only names the file in messages. */
export function parseKeyText(text: string, path: string): SigningKey {
  const line = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l.length > 0 && !l.startsWith('#'));
  if (!line) throw new EdgeError('E_KEYFILE', `cluster key file ${path} is empty (generate a key with: edge-overlay keygen > ${path})`);
  if (!/^[0-9a-fA-F]+$/.test(line)) {
    throw new EdgeError('E_KEYFILE', `cluster key in ${path} is not hexadecimal (expected ${MIN_KEY_HEX} hex characters from edge-overlay keygen)`);
  }
  if (line.length < MIN_KEY_HEX || line.length % 2 !== 0) {
    throw new EdgeError('E_KEYFILE', `cluster key in ${path} is too short: ${line.length} hex characters, need at least ${MIN_KEY_HEX} (32 bytes); generate one with edge-overlay keygen`);
  }
  return { id: 0, key: Buffer.from(line, 'hex') };
}

export async function loadClusterKey(path: string | undefined, fs: KeyFileSystem): Promise<SigningKey> {
  if (!path) throw new EdgeError('E_KEYFILE', 'no cluster key file given (use --cluster-key-file FILE; create one with edge-overlay keygen)');
  let st;
  try {
    st = await fs.stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new EdgeError('E_KEYFILE', `cluster key file ${path} does not exist (create it with: edge-overlay keygen > ${path} && chmod 600 ${path})`);
    throw new EdgeError('E_KEYFILE', `cannot read cluster key file ${path}: ${code ?? String(err)}`);
  }
  if (!st.isFile()) throw new EdgeError('E_KEYFILE', `cluster key file ${path} is not a regular file`);
  if ((st.mode & 0o004) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    throw new EdgeError('E_KEYFILE', `cluster key file ${path} is readable by every user (mode ${mode}); run: chmod 600 ${path}`);
  }
  let text: string;
  try {
    text = await fs.readFile(path);
  } catch (err) {
    throw new EdgeError('E_KEYFILE', `cannot read cluster key file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseKeyText(text, path);
}
