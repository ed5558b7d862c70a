import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore, nodeStateFs } from '../../src/state/store.js';
import type { PersistedState } from '../../src/state/schema.js';
import { MemoryStateFs } from '../fakes/state.js';

const state: PersistedState = {
  version: 1, nodeId: 'ab'.repeat(16), cluster: 'edge', cidr: '100.64.192.0/24', overlayIp: '100.64.192.9', claimedAt: 5, seqFloor: 10, peers: [],
};

describe('state store', () => {
  it('writes atomically to disk and reads back what it wrote', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eo-store-'));
    try {
      const store = new StateStore(join(dir, 'nested'), nodeStateFs);
      expect(store.load()).toBeUndefined();
      store.save(state);
      expect(store.load()).toEqual(state);
      expect(readdirSync(join(dir, 'nested'))).toEqual(['state.json']); // no temp file left behind
      expect(statSync(store.path).mode & 0o777).toBe(0o600);
      store.save({ ...state, seqFloor: 20 });
      expect(JSON.parse(readFileSync(store.path, 'utf8')).seqFloor).toBe(20);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a corrupt file with one line naming the file and the way out', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eo-store-'));
    try {
      const store = new StateStore(dir, nodeStateFs);
      writeFileSync(store.path, '{"version": 1, "nodeId": "ab');
      expect(() => store.load()).toThrow(`state file ${store.path} is corrupt (it is not valid JSON); refusing to pick a new overlay address. Restore the file from a backup, or delete it to give this host a new address`);
      writeFileSync(store.path, JSON.stringify({ ...state, overlayIp: '300.1.1.1' }));
      expect(() => store.load()).toThrow(/corrupt \(overlayIp: not an IPv4 address\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a failed write as E_STATE and keeps the previous version', () => {
    const fs = new MemoryStateFs();
    const store = new StateStore('/s', fs);
    store.save(state);
    fs.failWrites = 'ENOSPC';
    expect(() => store.save({ ...state, seqFloor: 99 })).toThrow(expect.objectContaining({ code: 'E_STATE', message: 'cannot write state file /s/state.json: ENOSPC' }));
    expect(store.load()).toEqual(state);
  });
});
