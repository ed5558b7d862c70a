// Test double: an in-memory filesystem for StateStore, with a switch to make
// writes fail (a full disk) and a record of every version written. It keeps
// the previous version as the real one does.

import type { StateFs } from '../../src/state/store.js';

export class MemoryStateFs implements StateFs {
  readonly files = new Map<string, string>();
  readonly writes: { path: string; data: string }[] = [];
  failWrites: string | undefined; // errno code to throw, e.g. 'ENOSPC'

  read(path: string): string | undefined {
    return this.files.get(path);
  }

  removeStale(path: string): void {
    for (const k of [...this.files.keys()]) {
      if (k.startsWith(`${path}.tmp-`) || k.startsWith(`${path}.prev.tmp-`)) this.files.delete(k);
    }
  }

  writeAtomic(path: string, data: string, previous?: string): void {
    if (this.failWrites) {
      const err = new Error(`${this.failWrites}: write failed`) as NodeJS.ErrnoException;
      err.code = this.failWrites;
      throw err;
    }
    const current = this.files.get(path);
    if (previous && current !== undefined) this.files.set(previous, current);
    this.files.set(path, data);
    this.writes.push({ path, data });
  }
}
