// Layer: persistence. Contract: load() returns the validated state, undefined
// when none exists yet, or throws E_STATE naming the file and the way out — it
// never hands back something the agent could mistake for "no address yet".
// save() is atomic (temp file, fsync, rename, fsync dir) and serialised.

import { closeSync, fsyncSync, openSync, renameSync, writeSync, readFileSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EdgeError } from '../errors.js';
import { stateSchema, type PersistedState } from './schema.js';

/** The filesystem operations persistence needs; main passes the real one. */
export interface StateFs {
  /** File contents, or undefined if it does not exist. */
  read(path: string): string | undefined;
  /** Replace `path` atomically and durably with `data`. */
  writeAtomic(path: string, data: string): void;
}

export const nodeStateFs: StateFs = {
  read(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  },
  writeAtomic(path, data) {
    const dir = dirname(path);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${path}.tmp-${process.pid}`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      const buf = Buffer.from(data, 'utf8');
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      fsyncSync(fd); // data on disk before the rename makes it visible
    } catch (err) {
      closeSync(fd);
      try { unlinkSync(tmp); } catch { /* best effort */ }
      throw err;
    }
    closeSync(fd);
    renameSync(tmp, path);
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd); // the rename itself survives a power cut
    } finally {
      closeSync(dfd);
    }
  },
};

export class StateStore {
  readonly path: string;
  constructor(stateDir: string, private readonly fs: StateFs) {
    this.path = join(stateDir, 'state.json');
  }

  load(): PersistedState | undefined {
    let text: string | undefined;
    try {
      text = this.fs.read(this.path);
    } catch (err) {
      throw new EdgeError('E_STATE', `cannot read state file ${this.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    if (text === undefined) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw this.corrupt('it is not valid JSON');
    }
    const parsed = stateSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw this.corrupt(`${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
    }
    return parsed.data;
  }

  save(state: PersistedState): void {
    const text = `${JSON.stringify(state, null, 2)}\n`;
    try {
      this.fs.writeAtomic(this.path, text);
    } catch (err) {
      throw new EdgeError('E_STATE', `cannot write state file ${this.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }

  private corrupt(why: string): EdgeError {
    return new EdgeError('E_STATE', `state file ${this.path} is corrupt (${why}); refusing to pick a new overlay address. Restore the file from a backup, or delete it to give this host a new address`);
  }
}
