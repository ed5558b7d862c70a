// Lab (the LAN's file server). Contract: serveFiles() serves one directory
// over HTTP on the lab LAN — by default from the switch namespace at the LAN's
// gateway address (10.X.0.1), where the building's servers live — with
// test/lab/http-serve.mjs, started through the lab (its PID is in the
// lab's pids file; lab.destroy() ends it), and resolves once it listens.
// url(name) is a file's address as a lab host sees it; requests() lists what
// was served so far; stop() ends the server. Nothing is reachable from
// outside the lab's namespaces.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ROOT, endProcess, until } from './shell.js';
import type { LabBase } from './types.js';

export const HTTP_SERVE = join(ROOT, 'test', 'lab', 'http-serve.mjs');

export interface Served {
  method: string;
  path: string;
  status: number;
  bytes: number;
  from: string;
}

export interface FileServer {
  dir: string;
  /** http://HOST:PORT/NAME */
  url(name: string): string;
  requests(): Served[];
  stop(): Promise<void>;
}

export async function serveFiles(
  lab: LabBase, dir: string, opts: { ns?: string; host?: string; port?: number } = {},
): Promise<FileServer> {
  const ns = opts.ns ?? lab.sw;
  const host = opts.host ?? `${lab.net(0)}.1`;
  const port = opts.port ?? 8080;
  const log = join(lab.dir, `http-serve-${randomBytes(2).toString('hex')}.log`);
  const p = lab.spawnIn(ns, [process.execPath, HTTP_SERVE, dir, host, String(port)], log);
  const lines = (): Record<string, unknown>[] => (existsSync(log) ? readFileSync(log, 'utf8') : '').split('\n')
    .filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  await until(`the file server on ${host}:${port}`, () => {
    if (p.exitCode !== null || p.signalCode !== null) {
      throw new Error(
        `http-serve.mjs exited (${p.exitCode ?? p.signalCode}): ${readFileSync(log, 'utf8').slice(-300)}`);
    }
    return lines().some((l) => 'listening' in l) || undefined;
  }, 5000, 20);
  return {
    dir,
    url: (name) => `http://${host}:${port}/${encodeURIComponent(name)}`,
    requests: () => lines().filter((l) => 'method' in l) as unknown as Served[],
    stop: () => endProcess(p, 'SIGTERM'),
  };
}
