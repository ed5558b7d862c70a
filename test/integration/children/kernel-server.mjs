// Test child: the real NetlinkKernel behind an IPC channel, run inside a
// throwaway network namespace by kernel-contract.test.ts and vxlan-link-local.test.ts. Answers
// {id, method, args} with {id, result} or {id, error}; `watch` forwards every
// event as {watch: id, event} until `unwatch`.
import { NetlinkKernel } from '../../../dist/src/kernel/netlink/kernel.js';
import { systemClock } from '../../../dist/src/clock.js';

const k = new NetlinkKernel(systemClock);
const watches = new Map();

const extra = {
  watch(id) {
    watches.set(id, k.watch((event) => process.send({ watch: id, event })));
  },
  unwatch(id) {
    watches.get(id)?.();
    watches.delete(id);
  },
};

process.on('message', async ({ id, method, args }) => {
  try {
    const fn = extra[method] ?? (method !== 'close' && typeof k[method] === 'function' ? k[method].bind(k) : undefined);
    if (!fn) throw new Error(`unknown method ${method}`);
    process.send({ id, result: await fn(...args) });
  } catch (err) {
    const { code, errno, errname, op, syscall, message } = err;
    process.send({ id, error: { code, errno, errname, op, syscall, message } });
  }
});
process.on('disconnect', () => {
  k.close();
  process.exit(0);
});
process.send({ ready: true });
