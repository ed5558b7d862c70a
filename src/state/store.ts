// Layer: persistence. Contract: load() returns the checksummed state (or the
// kept state.json.prev when the current file is damaged, and says so),
// undefined for a new host, or throws E_STATE — never a false "no address yet".
// save() order: temp file, fsync, rename, fsync dir; a crash leaves old or new.
// peekState() reads without the lock and changes nothing (for doctor).

import { createHash } from 'node:crypto';
import {
  closeSync, fsyncSync, linkSync, openSync, readdirSync, renameSync, writeSync, readFileSync, mkdirSync, unlinkSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { EdgeError } from '../errors.js';
import { stateSchema, type PersistedState } from './schema.js';

/** The filesystem operations persistence needs; main passes the real one. */
export interface StateFs {
  /** File contents, or undefined if it does not exist. */
  read(path: string): string | undefined;
  /**
   * Replace `path` atomically and durably with `data`. With `previous`, the
   * version being replaced is first kept there (itself replaced atomically;
   * nothing happens to it when `path` does not exist yet).
   */
  writeAtomic(path: string, data: string, previous?: string): void;
  /** Removes temp files a killed writer of `path` left behind (`<path>.tmp-*`, `<path>.prev.tmp-*`). */
  removeStale(path: string): void;
}

function ignoreMissing(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
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
  writeAtomic(path, data, previous) {
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
    if (previous) {
      // A second name for the current version (a hard link: no copy, no
      // space), moved over the old .prev in one rename. A crash in between
      // leaves a stray link that the next save replaces.
      const link = `${previous}.tmp-${process.pid}`;
      ignoreMissing(() => unlinkSync(link));
      ignoreMissing(() => { // first write: nothing to keep
        linkSync(path, link);
        renameSync(link, previous);
      });
    }
    renameSync(tmp, path);
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd); // the renames themselves survive a power cut
    } finally {
      closeSync(dfd);
    }
  },
  removeStale(path) {
    const base = basename(path);
    let names: string[];
    try {
      names = readdirSync(dirname(path));
    } catch {
      return; // no directory yet: nothing left behind
    }
    for (const n of names) {
      if (n.startsWith(`${base}.tmp-`) || n.startsWith(`${base}.prev.tmp-`)) {
        ignoreMissing(() => unlinkSync(join(dirname(path), n)));
      }
    }
  },
};

const checksumOf = (body: string): string => `sha256:${createHash('sha256').update(body).digest('hex')}`;

/** The file's text for a state: the state's fields, then a checksum of their compact JSON. */
export function sealState(state: PersistedState): string {
  const body = JSON.stringify(state);
  return `${JSON.stringify({ ...state, checksum: checksumOf(body) }, null, 2)}\n`;
}

/** Parses and checks one version of the file: the state, or why it cannot be used. */
export function unsealState(text: string): PersistedState | string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return text.trim() === '' ? 'it is empty' : 'it is not valid JSON (truncated?)';
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return 'it is not a JSON object';
  const { checksum, ...rest } = json as Record<string, unknown>;
  if (typeof checksum !== 'string') return 'it has no checksum';
  // Key order survives JSON.parse, so this is the exact body that was sealed.
  if (checksumOf(JSON.stringify(rest)) !== checksum) return 'its checksum does not match its content';
  const parsed = stateSchema.safeParse(rest);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return `${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`;
  }
  return parsed.data;
}

/**
 * The state as the agent last wrote it — the current file, else the kept
 * previous version — or undefined (none, unreadable, or both damaged).
 * Changes nothing: safe without the lock while an agent writes.
 */
export function peekState(stateDir: string, fs: Pick<StateFs, 'read'>): PersistedState | undefined {
  const path = join(stateDir, 'state.json');
  for (const p of [path, `${path}.prev`]) {
    let text: string | undefined;
    try {
      text = fs.read(p);
    } catch {
      continue; // unreadable (permissions): as if absent
    }
    const s = text === undefined ? undefined : unsealState(text);
    if (s !== undefined && typeof s !== 'string') return s;
  }
  return undefined;
}

export interface LoadedState {
  state: PersistedState;
  /** set when the current file was missing or damaged and the kept previous version was used */
  fallback?: { why: string; used: string };
}

export class StateStore {
  readonly path: string;
  readonly previousPath: string;
  /** after a fallback, the damaged file must not become the kept previous version */
  private keepPrevious = true;

  constructor(stateDir: string, private readonly fs: StateFs) {
    this.path = join(stateDir, 'state.json');
    this.previousPath = `${this.path}.prev`;
  }

  private read(path: string): string | undefined {
    try {
      return this.fs.read(path);
    } catch (err) {
      throw new EdgeError('E_STATE',
        `cannot read state file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }

  /** Call once, holding the state directory's lock (no other writer runs). */
  load(): LoadedState | undefined {
    try {
      this.fs.removeStale(this.path);
    } catch {
      // leftovers are harmless; a read-only directory is reported by the first save
    }
    const text = this.read(this.path);
    const current = text === undefined ? undefined : unsealState(text);
    if (current !== undefined && typeof current !== 'string') return { state: current };
    const prevText = this.read(this.previousPath);
    const previous = prevText === undefined ? undefined : unsealState(prevText);
    if (previous !== undefined && typeof previous !== 'string') {
      this.keepPrevious = false;
      return {
        state: previous, fallback: { why: current === undefined ? 'it is missing' : current, used: this.previousPath },
      };
    }
    if (current === undefined) return undefined; // neither exists: a new host
    throw new EdgeError('E_STATE', `state file ${this.path} is damaged (${current}) and `
      + `${previous === undefined
        ? `there is no previous version (${this.previousPath})`
        : `so is the previous version ${this.previousPath} (${previous})`}; `
      + 'refusing to pick a new overlay address. '
      + 'Restore the file from a backup, or delete both files to give this host a new address');
  }

  save(state: PersistedState): void {
    try {
      this.fs.writeAtomic(this.path, sealState(state), this.keepPrevious ? this.previousPath : undefined);
      this.keepPrevious = true;
    } catch (err) {
      throw new EdgeError('E_STATE',
        `cannot write state file ${this.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
}
