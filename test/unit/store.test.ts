// Unit: the state store — atomic writes keeping the previous version, checksums, fallback, failed writes.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore, nodeStateFs, sealState, unsealState } from '../../src/state/store.js';
import type { PersistedState } from '../../src/state/schema.js';
import { MemoryStateFs } from '../fakes/state.js';

const state: PersistedState = {
  version: 1, nodeId: 'ab'.repeat(16), cluster: 'edge', cidr: '100.64.192.0/24', overlayIp: '100.64.192.9',
  claimedAt: 5, seqFloor: 10, peers: [],
};

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'eo-store-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('state store', () => {
  it('writes atomically to disk, keeps the replaced version, and reads back what it wrote', () => withDir((dir) => {
    const store = new StateStore(join(dir, 'nested'), nodeStateFs);
    expect(store.load()).toBeUndefined();
    store.save(state);
    expect(store.load()).toEqual({ state });
    expect(readdirSync(join(dir, 'nested'))).toEqual(['state.json']); // no temp file, nothing to keep yet
    expect(statSync(store.path).mode & 0o777).toBe(0o600);
    store.save({ ...state, seqFloor: 20 });
    store.save({ ...state, seqFloor: 30 });
    expect(readdirSync(join(dir, 'nested')).sort()).toEqual(['state.json', 'state.json.prev']);
    expect(JSON.parse(readFileSync(store.path, 'utf8')).seqFloor).toBe(30);
    expect(JSON.parse(readFileSync(store.previousPath, 'utf8')).seqFloor).toBe(20);
  }));

  it('removes the temp files a killed writer left behind, and nothing else', () => withDir((dir) => {
    const store = new StateStore(dir, nodeStateFs);
    store.save(state);
    store.save(state);
    for (const n of ['state.json.tmp-123', 'state.json.prev.tmp-456', 'notes.txt', 'state.json.bak']) {
      writeFileSync(join(dir, n), 'x');
    }
    expect(store.load()).toEqual({ state });
    expect(readdirSync(dir).sort()).toEqual(['notes.txt', 'state.json', 'state.json.bak', 'state.json.prev']);
  }));

  it('seals the content with a checksum that catches any change, and stays readable JSON', () => {
    const text = sealState(state);
    expect(JSON.parse(text))
      .toMatchObject({ overlayIp: '100.64.192.9', checksum: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    expect(unsealState(text)).toEqual(state);
    expect(unsealState(text.replace('100.64.192.9', '100.64.192.8'))).toBe('its checksum does not match its content');
    expect(unsealState(text.replace(/,\s*"checksum": "[^"]+"/, ''))).toBe('it has no checksum');
    expect(unsealState(text.slice(0, text.length / 2))).toBe('it is not valid JSON (truncated?)');
    expect(unsealState('')).toBe('it is empty');
    expect(unsealState('[1]')).toBe('it is not a JSON object');
  });

  it('falls back to the kept previous version when the file is damaged or missing, and says so',
    () => withDir((dir) => {
    const store = new StateStore(dir, nodeStateFs);
    store.save(state);
    store.save({ ...state, seqFloor: 20 });
    writeFileSync(store.path, readFileSync(store.path, 'utf8').slice(0, 40)); // torn write
    expect(store.load())
      .toEqual({ state, fallback: { why: 'it is not valid JSON (truncated?)', used: store.previousPath } });
    // the damaged file must not replace the good previous version on the next save
    store.save({ ...state, seqFloor: 30 });
    expect(JSON.parse(readFileSync(store.previousPath, 'utf8')).seqFloor).toBe(10);
    expect(new StateStore(dir, nodeStateFs).load()).toEqual({ state: { ...state, seqFloor: 30 } });
    rmSync(store.path);
    expect(new StateStore(dir, nodeStateFs).load())
      .toEqual({ state, fallback: { why: 'it is missing', used: store.previousPath } });
  }));

  it('refuses with one line naming both files and the way out when neither can be used', () => withDir((dir) => {
    const store = new StateStore(dir, nodeStateFs);
    writeFileSync(store.path, '{"version": 1, "nodeId": "ab');
    expect(() => store.load()).toThrow(`state file ${store.path} is damaged (it is not valid JSON (truncated?)) `
      + `and there is no previous version (${store.previousPath}); refusing to pick a new overlay address. Restore `
      + `the file from a backup, or delete both files to give this host a new address`);
    writeFileSync(store.path, sealState(state).replace('"seqFloor": 10', '"seqFloor": 11'));
    writeFileSync(store.previousPath, sealState({ ...state, overlayIp: '300.1.1.1' }));
    expect(() => store.load()).toThrow(expect.objectContaining({
      code: 'E_STATE',
      message: expect.stringContaining(`is damaged (its checksum does not match its content) `
        + `and so is the previous version ${store.previousPath} (overlayIp: not an IPv4 address)`),
    }));
  }));

  it('reports a failed write as E_STATE and keeps the previous version', () => {
    const fs = new MemoryStateFs();
    const store = new StateStore('/s', fs);
    store.save(state);
    fs.failWrites = 'ENOSPC';
    expect(() => store.save({ ...state, seqFloor: 99 }))
      .toThrow(expect.objectContaining({ code: 'E_STATE', message: 'cannot write state file /s/state.json: ENOSPC' }));
    expect(store.load()).toEqual({ state });
  });
});
