// Test cases (integration, kernel contract, the host's own network): every
// device as a dump lists it, and the default routes another program (DHCP,
// router advertisements, the administrator) keeps in the main table — what
// the agent chooses its physical interface from. Run by
// kernel-contract.test.ts against FakeKernel and the real kernel alike.
import { expect } from 'vitest';
import { ZERO_MAC } from '../../../src/net/ipv4.js';
import type { DefaultRoute, Kernel } from '../../../src/kernel/types.js';
import { ip, overlay, type Case } from './harness.js';

const defaults = async (k: Kernel): Promise<DefaultRoute[]> =>
  (await k.defaultRoutes()).sort((a, b) => a.family - b.family || a.metric - b.metric);

export const casesRoutes: Record<string, Case> = {
  'links() lists every device as linkByName() reads it, lo included; a deleted one is gone': async (k, env) => {
    const { br } = await overlay(k, env);
    const all = await k.links();
    expect(all.map((l) => l.name)).toEqual(expect.arrayContaining(['lo', 'eth0', 'scbr-100', 'scvx-100']));
    for (const name of ['lo', 'eth0', 'scbr-100', 'scvx-100']) {
      const one = (await k.linkByName(name))!;
      expect(all.find((l) => l.name === name)).toMatchObject({
        index: one.index, kind: one.kind, mtu: one.mtu, up: one.up, mac: one.mac, master: one.master, vxlan: one.vxlan,
      });
    }
    expect(all.find((l) => l.name === 'lo')).toMatchObject({ kind: undefined, mac: ZERO_MAC, master: undefined });
    await k.deleteLink(br);
    expect((await k.links()).map((l) => l.name)).not.toContain('scbr-100');
  },
  ['defaultRoutes(): IPv4 and IPv6 default routes by device and metric; '
    + 'they go with the last IPv4 address or the device going down']: async (k, env) => {
    expect(await k.defaultRoutes()).toEqual([]);
    await k.addAddr(env.eth0, ip('10.5.0.2'), 24);
    await env.defaultRoute('add', 4, 100);
    await env.defaultRoute('add', 4, 50);
    await env.defaultRoute('add', 6, 1024);
    const eth0 = env.eth0;
    expect(await defaults(k)).toEqual([{ family: 4, index: eth0, metric: 50 }, { family: 4, index: eth0, metric: 100 },
      { family: 6, index: eth0, metric: 1024 }]);
    await env.defaultRoute('del', 4, 50);
    expect(await defaults(k))
      .toEqual([{ family: 4, index: eth0, metric: 100 }, { family: 6, index: eth0, metric: 1024 }]);
    // DHCP released the lease: IPv4 is off on eth0, so is its default route
    await k.delAddr(env.eth0, ip('10.5.0.2'), 24);
    expect(await defaults(k)).toEqual([{ family: 6, index: eth0, metric: 1024 }]);
    await k.setLink(env.eth0, { up: false });
    expect(await k.defaultRoutes()).toEqual([]);
    await k.setLink(env.eth0, { up: true });
  },
};
