// Test helper: a Kernel whose every method runs in a child process
// (children/kernel-server.mjs) inside a network namespace, so that tests can
// drive the real NetlinkKernel there as if it were in-process. Errors come
// back as KernelErrors, events through watch().
import type { ChildProcess } from 'node:child_process';
import { EdgeError, KernelError, type ErrorCode } from '../../src/errors.js';
import type { Kernel, KernelEvent } from '../../src/kernel/types.js';

interface WireError { code?: string; errno?: number; errname?: string; op?: string; syscall?: string; message: string }
type Reply = { id: number; result?: unknown; error?: WireError } | { watch: number; event: KernelEvent } | { ready: true };

/** The error the child saw, rebuilt so that isKernelErrno() and friends work as in-process. */
function rebuild(e: WireError): Error {
  if (e.code === 'E_KERNEL' && e.errno !== undefined) return new KernelError(e.op ?? '?', e.errno, e.errname ?? '?', e.syscall);
  return e.code ? new EdgeError(e.code as ErrorCode, e.message) : new Error(e.message);
}

/** A Kernel whose every method runs in `child` (kernel-server.mjs); stopWatches() ends every watch. */
export function remote(child: ChildProcess): { kernel: Kernel; stopWatches(): void } {
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const watchers = new Map<number, (e: KernelEvent) => void>();
  let nextId = 1;
  child.on('message', (msg) => {
    const m = msg as Reply;
    if ('watch' in m) return watchers.get(m.watch)?.(m.event);
    const p = 'id' in m ? pending.get(m.id) : undefined;
    if (!p || !('id' in m)) return;
    pending.delete(m.id);
    if (m.error) p.reject(rebuild(m.error));
    else p.resolve(m.result);
  });
  child.on('exit', (code, signal) => {
    for (const p of pending.values()) p.reject(new Error(`kernel server exited (${code ?? signal})`));
    pending.clear();
  });
  const call = (method: string, args: unknown[]): Promise<unknown> => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    child.send({ id, method, args });
  });
  const unwatch = (id: number): void => {
    if (watchers.delete(id)) call('unwatch', [id]).catch(() => {});
  };
  const watch = (onEvent: (e: KernelEvent) => void): (() => void) => {
    const id = nextId++;
    watchers.set(id, onEvent);
    call('watch', [id]).catch(() => {});
    return () => unwatch(id);
  };
  const kernel = new Proxy({} as Kernel, {
    get: (_, m: string) => (m === 'watch' ? watch : m === 'close' ? () => {} : m === 'then' ? undefined : (...args: unknown[]) => call(m, args)),
  });
  return { kernel, stopWatches: () => [...watchers.keys()].forEach(unwatch) };
}
