// Layer: control plane (local). Contract: a unix socket in the run dir that
// answers one JSON request per connection ({"cmd":"status"}, {"cmd":"forget",
// "node":"…","force":false}) with one JSON
// reply, for the CLI. Requests are size- and time-limited; a bad request
// gets an error reply, never an agent crash. A stale socket file from a dead
// agent is replaced; a live one means another agent runs here: refuse.

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
    sock.setTimeout(REQUEST_TIMEOUT_MS, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      if (buf.length > MAX_REQUEST) {
        sock.end(`${JSON.stringify({ error: 'request too large' })}\n`);
        return;
      }
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let reply: unknown;
      try {
        const req = JSON.parse(buf.slice(0, nl)) as { cmd?: unknown };
        reply = req && typeof req.cmd === 'string' ? { ok: true, result: this.handler(req as ControlRequest) } : { error: 'missing cmd' };
      } catch (err) {
        reply = { error: err instanceof EdgeError ? err.message : 'bad request' };
      }
      sock.end(`${JSON.stringify(reply)}\n`);
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
