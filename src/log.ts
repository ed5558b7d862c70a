// Layer: shared. Contract: structured JSON logs (pino) on stdout, which
// journald keeps. Fields operators grep for: peer, old, new, ifname, code.

import { pino, type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  const opts: pino.LoggerOptions = {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(opts, destination) : pino(opts);
}

/** Error fields for a log line: code, errno/op for kernel errors, message. */
export function errFields(err: unknown): Record<string, unknown> {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown; details?: unknown };
    return { code: e.code, err: e.message, ...(e.details && typeof e.details === 'object' ? e.details : {}) };
  }
  return { err: String(err) };
}
