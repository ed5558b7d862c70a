// Lab (traffic probes). Contract: ping, a timed pinger, a long-lived TCP
// echo probe, tcpdump and any helper run in the background, each inside a
// namespace through the lab (so destroy() ends them) and read back from its
// log file.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ROOT, sleep, until } from './shell.js';
import type { Host, LabBase } from './types.js';

export const TCP_PROBE = join(ROOT, 'test', 'lab', 'tcp-probe.mjs');

/** What a long-lived TCP probe saw (test/lab/tcp-probe.mjs). */
export interface TcpResult {
  /** bytes the client sent, got back, and the server received */
  sent: number;
  echoed: number;
  received: number;
  /** every echoed byte was the one sent at its offset */
  intact: boolean;
  maxGapMs: number;
  error: string | null;
  closed: boolean;
}

export function ping(
  lab: LabBase, from: Host, to: string, count: number, intervalS: number, extra: string[] = [],
): boolean {
  return lab.exec(from, ['ping', ...extra, '-c', String(count), '-i', String(intervalS), '-W', '1', '-q', to], true)
    .includes(` ${count} received`);
}

export function pinger(
  lab: LabBase, from: Host, to: string, intervalS: number,
): { stop: () => Promise<{
  replies: number[]; seqs: number[]; rtts: number[]; sent: number;
  /** probes ping gave up sending (sendmsg failed: no room in the neighbour queue) before the first reply */
  unsentBeforeFirst: number;
}> } {
  const log = join(from.dir, `ping-${Date.now()}-${randomBytes(2).toString('hex')}.log`);
  const p = lab.spawnIn(from.ns, ['ping', '-D', '-i', String(intervalS), '-W', '1', to], log);
  return {
    stop: async () => {
      const gone = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGINT');
      await gone;
      const text = readFileSync(log, 'utf8');
      const lines = [...text.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from .*?icmp_seq=(\d+).*?time=([\d.]+) ms/gm)];
      const replies = lines.map((m) => Number(m[1]) * 1000);
      const seqs = lines.map((m) => Number(m[2]));
      const rtts = lines.map((m) => Number(m[3]));
      const sent = Number(/(\d+) packets transmitted/.exec(text)?.[1] ?? 0);
      // stdout and stderr share the log and ping flushes each line: order is time order
      const head = lines.length ? text.slice(0, lines[0]!.index) : text;
      const unsentBeforeFirst = head.match(/^ping: sendmsg: /gm)?.length ?? 0;
      return { replies, seqs, rtts, sent, unsentBeforeFirst };
    },
  };
}

export async function capture(
  lab: LabBase, h: Host, iface: string, filter: string,
): Promise<{ stop: () => Promise<string[]> }> {
  const log = join(h.dir, `tcpdump-${iface}-${randomBytes(2).toString('hex')}.log`);
  const p = lab.spawnIn(h.ns, ['tcpdump', '-l', '-n', '-e', '-i', iface, filter], log);
  await until('tcpdump to listen', () => (existsSync(log) && readFileSync(log, 'utf8').includes('listening on'))
    || undefined, 5000, 20);
  return {
    stop: async () => {
      await sleep(200);
      const gone = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGINT');
      await gone;
      return readFileSync(log, 'utf8').split('\n').filter((l) => /^\d\d:\d\d/.test(l));
    },
  };
}

export async function tcp(
  lab: LabBase, client: Host, server: Host, serverIp: string, port: number,
): Promise<{ stop: () => Promise<TcpResult> }> {
  const srvOut = join(server.dir, `tcp-server-${Date.now()}.log`);
  const printed =
    (f: string, what: string) => () => (existsSync(f) && readFileSync(f, 'utf8').includes(what)) || undefined;
  const srv = lab.spawnIn(server.ns, [process.execPath, TCP_PROBE, 'server', String(port)], srvOut);
  await until('the TCP probe server to listen', printed(srvOut, '"listening"'), 5000);
  const out = join(client.dir, `tcp-client-${Date.now()}.log`);
  const cli = lab.spawnIn(client.ns, [process.execPath, TCP_PROBE, 'client', serverIp, String(port), '20'], out);
  await until('the TCP probe client to connect', printed(out, '"connected"'), 5000);
  const lastLine = (f: string): Record<string, unknown> =>
    JSON.parse(readFileSync(f, 'utf8').trim().split('\n').at(-1) || '{}') as Record<string, unknown>;
  return {
    stop: async () => {
      // the client stops sending and drains its echoes before it reports
      const gone = new Promise<void>((r) => cli.once('exit', () => r()));
      cli.kill('SIGTERM');
      await gone;
      const srvGone = new Promise<void>((r) => srv.once('exit', () => r()));
      srv.kill('SIGTERM');
      await srvGone;
      return { ...(lastLine(out) as Omit<TcpResult, 'received'>), received: Number(lastLine(srvOut).received ?? NaN) };
    },
  };
}

/**
 * A helper (prints JSON lines) run in the background in namespace `ns`:
 * `started` resolves on its first line, `done` with its last line parsed;
 * stop() sends SIGTERM and returns `done`.
 */
export function background(
  lab: LabBase, ns: string, cmd: string[],
): { started: Promise<void>; done: Promise<unknown>; stop: () => Promise<unknown> } {
  const log = join(lab.dir, `helper-${Date.now()}-${randomBytes(2).toString('hex')}.log`);
  const p = lab.spawnIn(ns, cmd, log);
  const lines = (): string[] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) : []);
  const done = new Promise<unknown>((resolve, reject) => p.once('exit', (code) => {
    const last = lines().at(-1);
    try {
      resolve(JSON.parse(last ?? 'null'));
    } catch {
      reject(new Error(`${cmd.join(' ')} exited ${code}: ${readFileSync(log, 'utf8').slice(-500)}`));
    }
  }));
  done.catch(() => {}); // awaited by the caller; never an unhandled rejection
  const started = Promise.race([
    until(`${cmd.slice(1, 3).join(' ')} to start`, () => lines().length > 0 || undefined, 10_000, 10)
      .then(() => undefined),
    done.then(() => undefined),
  ]);
  return { started, done, stop: () => { if (p.exitCode === null) p.kill('SIGTERM'); return done; } };
}

/** Packets `dev` on `h` has received (the kernel's counter). */
export function rxPackets(lab: LabBase, h: Pick<Host, 'ns'>, dev = 'eth0'): number {
  const links = JSON.parse(lab.exec(h, ['ip', '-s', '-j', 'link', 'show', dev])) as
    { stats64: { rx: { packets: number } } }[];
  return links[0]!.stats64.rx.packets;
}

/** The outsider on `from` records one announcement of `nodeId` (within 8 s) to `file`; the helper's answer. */
export function captureAnnouncement(
  lab: LabBase & { helper(h: Pick<Host, 'ns'>, script: string, args: string[]): unknown },
  from: Host, nodeId: string, file: string,
): unknown {
  return lab.helper(from, 'outsider.mjs', ['capture', '9477', '8000', file, '--node', nodeId, '--count', '1']);
}
