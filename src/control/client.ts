// Layer: control plane (CLI side). Contract: sends one command to the agent
// of a run dir and returns its reply, or throws E_NO_AGENT with one clear
// line when nothing answers.

import net from 'node:net';
import { join } from 'node:path';
import { EdgeError } from '../errors.js';
import { SOCKET_NAME } from './server.js';

export async function ask(
  runDir: string, cmd: string, timeoutMs = 3000, args: Record<string, unknown> = {},
): Promise<unknown> {
  const path = join(runDir, SOCKET_NAME);
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new EdgeError('E_NO_AGENT', `the agent on ${path} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => sock.write(`${JSON.stringify({ ...args, cmd })}\n`));
    sock.on('data', (c) => { buf += c.toString('utf8'); });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = err.code === 'ENOENT' ? 'no agent socket'
        : err.code === 'ECONNREFUSED' ? 'a stale socket, nobody listening' : err.code;
      reject(new EdgeError('E_NO_AGENT', `no edge-overlay agent is running for run dir ${runDir} (${why} at ${path})`));
    });
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        const reply = JSON.parse(buf) as { ok?: boolean; result?: unknown; error?: string };
        if (reply.ok) resolve(reply.result);
        else reject(new EdgeError('E_CONTROL', reply.error ?? 'the agent refused without saying why'));
      } catch {
        reject(new EdgeError('E_CONTROL', `the agent on ${path} sent an unreadable reply`));
      }
    });
  });
}
