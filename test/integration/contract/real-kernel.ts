// Test helper (integration, real kernel in namespaces): whether the real
// NetlinkKernel can be driven here (root, iproute2, a built dist/), starting
// and stopping it in a namespace behind children/kernel-server.mjs, and the
// `ip`/`sysctl` reads and writes the real-kernel tests make around it. Used
// by kernel-contract.test.ts and vxlan-link-local.test.ts.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { remote } from '../../lab/fixtures/kernel-proxy.js';
import { ROOT, have } from '../../lab/lab.js';

const SERVER = fileURLToPath(new URL('../children/kernel-server.mjs', import.meta.url));
const KERNEL_JS = join(ROOT, 'dist', 'src', 'kernel', 'netlink', 'kernel.js');

/** Why the real kernel cannot be driven here, or undefined when it can. */
export function realUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'it needs root (network namespaces)';
  if (!have('ip')) return 'ip (iproute2) is not installed';
  if (!existsSync(KERNEL_JS)) return `${KERNEL_JS} is missing; run npx tsc -p tsconfig.json`;
  return undefined;
}

export type RemoteKernel = ReturnType<typeof remote>;

/** The real NetlinkKernel in namespace `ns`, behind children/kernel-server.mjs. */
export async function startServer(ns: string): Promise<{ child: ChildProcess; rk: RemoteKernel }> {
  const c = spawn('ip', ['netns', 'exec', ns, process.execPath, SERVER],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
  const rk = remote(c);
  await new Promise<void>((resolve, reject) => {
    c.once('message', () => resolve());
    c.once('exit', (code) => reject(new Error(`kernel server exited with ${code} before it was ready`)));
  });
  return { child: c, rk };
}

export async function stopServer(c: ChildProcess | undefined): Promise<void> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once('exit', r));
  c.disconnect(); // the server exits when its channel closes
  const timer = setTimeout(() => c.kill('SIGKILL'), 3000); // by PID, only if it hangs
  await gone;
  clearTimeout(timer);
}

export const sysctl = (ns: string, key: string, value: number): void => {
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `${key}=${value}`]);
};

/** eth0's link-local address in `ns` (`ip -6 addr`), with its DAD state */
export function linkLocalIn(ns: string, dev = 'eth0'): { address: string; tentative: boolean } | undefined {
  const out = JSON.parse(execFileSync('ip', ['-n', ns, '-6', '-j', 'addr', 'show', 'dev', dev, 'scope', 'link'],
    { encoding: 'utf8' })) as { addr_info: { local: string; tentative?: boolean }[] }[];
  const a = out[0]?.addr_info[0];
  return a && { address: a.local, tentative: a.tentative === true };
}
