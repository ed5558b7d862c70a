// Integration: the kernel contract. The same cases (contract/cases.ts, IPv4
// and devices; contract/cases6.ts, IPv6; contract/cases-routes.ts, the device
// list and default routes) run against FakeKernel (always) and
// the real NetlinkKernel in a throwaway network namespace (as root, through
// children/kernel-server.mjs), so the fake the unit and simulation tests rely
// on cannot drift from what rtnetlink answers. Where they disagree the real
// kernel is right and the fake gets fixed. This file is the two runners: each
// gives every case an eth0 and an Env to act on it. The IPv6 data path
// between two namespaces is vxlan-link-local.test.ts.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseIpv6 } from '../../src/net/ipv6.js';
import { FakeKernel } from '../fakes/kernel.js';
import { until } from '../lab/lab.js';
import { MTU, type Case, type Env } from './contract/harness.js';
import { cases4 } from './contract/cases.js';
import { cases6 } from './contract/cases6.js';
import { casesRoutes } from './contract/cases-routes.js';
import { linkLocalIn, realUnavailable, startServer, stopServer, sysctl,
  type RemoteKernel } from './contract/real-kernel.js';

const cases: Record<string, Case> = { ...cases4, ...cases6, ...casesRoutes };

// ---- the two kernels ---------------------------------------------------------

describe('kernel contract: fake kernel', () => {
  for (const [title, run] of Object.entries(cases)) {
    it(title, () => {
      const k = new FakeKernel();
      const eth0 = k.addPhysical('eth0', MTU);
      return run(k, {
        eth0,
        cable: async (on) => k.setCable('eth0', on),
        addr6: async (op, a, opts) =>
          (op === 'add' ? k.ipv6.add('eth0', a, 64, { taken: opts?.taken }) : k.ipv6.remove('eth0', a)),
        relink: async (dad) => {
          k.ipv6.setAcceptDad('eth0', dad);
          await k.setLink(eth0, { up: false });
          await k.setLink(eth0, { up: true });
          if (dad) setTimeout(() => k.ipv6.completeDad('eth0'), 100); // the kernel's DAD timer
        },
        disableIpv6: async (on) => k.ipv6.setDisabled('eth0', on),
        nd: async () => k.ipv6.ndOf('eth0').map((n) => `${n.dst} ${n.mac}`),
        defaultRoute: async (op, family, metric) =>
          (op === 'add' ? k.addDefaultRoute('eth0', family, metric) : k.removeDefaultRoute('eth0', family, metric)),
      });
    });
  }
});

const why = realUnavailable();
if (why) console.warn(`SKIPPED the real-kernel half of the kernel contract: ${why}`);

describe.skipIf(why !== undefined)('kernel contract: real kernel', () => {
  const ns = `eo${randomBytes(2).toString('hex')}-kc`;
  let made = false;
  let child: ChildProcess | undefined;
  let rk: RemoteKernel;
  const ipn = (...args: string[]): string => execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });

  beforeAll(async () => {
    execFileSync('ip', ['netns', 'add', ns]);
    made = true;
    ({ child, rk } = await startServer(ns));
  });

  afterAll(async () => {
    try {
      await stopServer(child);
    } finally {
      if (made) execFileSync('ip', ['netns', 'del', ns]);
    }
  });

  /** eth0 back up with its link-local address, usable (DAD over) when `dad` is off */
  async function linkLocalBack(dad: boolean): Promise<void> {
    await until('eth0\'s link-local address', () => {
      const a = linkLocalIn(ns);
      return a !== undefined && (dad || !a.tentative) ? true : undefined;
    }, 5000, 5);
  }

  /** Back to eth0 (a veth, MTU 9000, up, IPv6 on without DAD, just its link-local address) and no other device. */
  async function reset(): Promise<void> {
    rk.stopWatches();
    const names = (JSON.parse(ipn('-j', 'link', 'show')) as { ifname: string }[]).map((l) => l.ifname);
    const cmds = names.filter((n) => !['lo', 'eth0', 'eth0p'].includes(n)).map((n) => `link del ${n}`);
    if (!names.includes('eth0')) cmds.push('link add eth0 type veth peer name eth0p');
    execFileSync('ip', ['-n', ns, '-batch', '-'], { input: `${cmds.join('\n')}\n` });
    for (const dev of ['eth0', 'eth0p']) {
      sysctl(ns, `net.ipv6.conf.${dev}.disable_ipv6`, 0);
      sysctl(ns, `net.ipv6.conf.${dev}.accept_dad`, 0);
    }
    const again =
      [`link set eth0 mtu ${MTU} up`, `link set eth0p mtu ${MTU} up`, 'addr flush dev eth0', 'addr flush dev eth0p',
      // the flush took the link-local address too
      'neigh flush dev eth0 nud all', 'route flush proto 155', 'link set eth0 down', 'link set eth0 up'];
    execFileSync('ip', ['-n', ns, '-batch', '-'], { input: `${again.join('\n')}\n` });
    await linkLocalBack(false);
  }

  const env = (eth0: number): Env => ({
    eth0,
    cable: async (on) => { ipn('link', 'set', 'eth0p', on ? 'up' : 'down'); },
    addr6: async (op, a, opts) => {
      if (opts?.taken) {
        ipn('-6', 'addr', 'add', `${a}/64`, 'dev', 'eth0p', 'nodad');
        sysctl(ns, 'net.ipv6.conf.eth0.accept_dad', 1);
      }
      ipn('-6', 'addr', op, `${a}/64`, 'dev', 'eth0');
    },
    relink: async (dad) => {
      sysctl(ns, 'net.ipv6.conf.eth0.accept_dad', dad ? 1 : 0);
      ipn('link', 'set', 'eth0', 'down');
      ipn('link', 'set', 'eth0', 'up');
      await linkLocalBack(dad);
    },
    disableIpv6: async (on) => sysctl(ns, 'net.ipv6.conf.eth0.disable_ipv6', on ? 1 : 0),
    nd: async () => (JSON.parse(ipn('-6', '-j', 'neigh', 'show', 'dev', 'eth0')) as { dst: string; lladdr?: string }[])
      .map((n) => `${parseIpv6(n.dst) ?? n.dst} ${n.lladdr}`),
    defaultRoute: async (op, family, metric) => {
      ipn(`-${family}`, 'route', op, 'default', ...(op === 'add' ? ['via', family === 4 ? '10.5.0.1' : 'fe80::1'] : []),
        'dev', 'eth0', 'metric', String(metric));
    },
  });

  for (const [title, run] of Object.entries(cases)) {
    it(title, async () => {
      await reset();
      return run(rk.kernel, env((await rk.kernel.linkByName('eth0'))!.index));
    });
  }
});
