// Layer: control plane (local). Contract: a unix socket in the run dir answers
// one size- and time-limited JSON request per connection ({"cmd":"status"})
// with one JSON reply; a bad request gets an error reply, never a crash. A
// stale socket file is replaced; a live one means another agent runs: refuse.

import net from 'node:net';
import { mkdirSync, unlinkSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { EdgeError } from '../errors.js';

export const SOCKET_NAME = 'agent.sock';
const MAX_REQUEST = 4096;
const REQUEST_TIMEOUT_MS = 2000;

/** One request from the CLI: a command and its arguments. */
export interface ControlRequest {
  cmd: string;
  [arg: string]: unknown;
}
export type Handler = (req: ControlRequest) => unknown;

async function answer(line: string, handler: Handler): Promise<unknown> {
  try {
    const req = JSON.parse(line) as { cmd?: unknown };
    if (!req || typeof req.cmd !== 'string') return { error: 'missing cmd' };
    return { ok: true, result: await handler(req as ControlRequest) };
  } catch (err) {
    return { error: err instanceof EdgeError ? err.message : 'bad request' };
  }
}

async function alive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.createConnection(path);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

export class ControlServer {
  private server: net.Server | undefined;
  readonly path: string;

  constructor(runDir: string, private readonly handler: Handler) {
    this.path = join(runDir, SOCKET_NAME);
  }

  async listen(): Promise<void> {
    mkdirSync(join(this.path, '..'), { recursive: true, mode: 0o755 });
    if (await alive(this.path)) {
      throw new EdgeError('E_LOCKED', `another edge-overlay agent already answers on ${this.path}; stop it first`);
    }
    try { unlinkSync(this.path); } catch { /* no stale socket */ }
    const server = net.createServer((sock) => this.serve(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => { server.off('error', reject); resolve(); });
    });
    chmodSync(this.path, 0o660);
    this.server = server;
  }

  private serve(sock: net.Socket): void {
    let buf = '';
    let answered = false;
    sock.setTimeout(REQUEST_TIMEOUT_MS, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk) => {
      if (answered) return;
      buf += chunk.toString('utf8');
      if (buf.length > MAX_REQUEST) {
        sock.end(`${JSON.stringify({ error: 'request too large' })}\n`);
        return;
      }
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      answered = true;
      void answer(buf.slice(0, nl), this.handler).then((reply) => sock.end(`${JSON.stringify(reply)}\n`));
    });
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    try { unlinkSync(this.path); } catch { /* already gone */ }
  }
}
