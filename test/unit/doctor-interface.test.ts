// Unit: doctor before anything is configured — which interface it checks
// when none is configured (the agent's choice, doctor/choice.ts), the checks
// without any interface (failed or skipped, never crashed), and the report:
// JSON whatever fails, a bad configuration as one failed check.
import { describe, expect, it } from 'vitest';
import { doctorInterface } from '../../src/doctor/choice.js';
import { formatChecks, runChecks, type DoctorEnv } from '../../src/doctor/checks.js';
import { configFailed, renderReport } from '../../src/cli/doctor.js';
import { parseCidr, parseIpv4, type Cidr } from '../../src/net/ipv4.js';
import { EdgeError } from '../../src/errors.js';
import { FakeKernel } from '../fakes/kernel.js';
import { statusReport } from '../fakes/status.js';

const OURS = ['scbr-100', 'scvx-100'];
const base = { configured: '', status: undefined, kept: undefined, ours: OURS, stateDir: '/var/lib/edge-overlay' };

async function lan(): Promise<FakeKernel> {
  const k = new FakeKernel();
  await k.addAddr(k.addPhysical('eth0'), parseIpv4('10.77.0.101')!, 24);
  k.addPhysical('eth1', 1500, '52:54:00:00:00:02');
  return k;
}

describe('doctor: which interface it checks', () => {
  it('the configured one, without a note', async () => {
    const k = await lan();
    k.addDefaultRoute('eth0', 4, 100);
    expect(await doctorInterface({ ...base, configured: 'eth1', kernel: k }))
      .toEqual({ iface: 'eth1', note: undefined });
  });

  it('none configured: the default route\'s, as the agent would choose it, and says so', async () => {
    const k = await lan();
    k.addDefaultRoute('eth0', 4, 100);
    expect(await doctorInterface({ ...base, kernel: k })).toEqual({
      iface: 'eth0', note: 'no interface configured: checking eth0, the default route\'s interface (the agent will '
        + 'choose it at first start)',
    });
    k.removeDefaultRoute('eth0', 4);
    k.addDefaultRoute('eth1', 6, 1024);
    expect((await doctorInterface({ ...base, kernel: k })).note).toBe(
      'no interface configured: checking eth1, the IPv6 default route\'s interface (the agent will '
        + 'choose it at first start)');
  });

  it('none configured: the running agent\'s, else the one kept in the state, before the kernel\'s view', async () => {
    const k = await lan();
    k.addDefaultRoute('eth0', 4, 100);
    const running = statusReport({ node: { interface: 'eth1' } });
    expect(await doctorInterface({ ...base, kernel: k, status: running, kept: 'eth0' }))
      .toEqual({ iface: 'eth1', note: 'no interface configured: checking eth1, the running agent\'s interface' });
    expect(await doctorInterface({ ...base, kernel: k, kept: 'eth1' }))
      .toEqual({ iface: 'eth1', note: 'no interface configured: checking eth1, kept in /var/lib/edge-overlay since '
        + 'the agent chose it at its first start' });
  });

  it('nothing to choose: no interface, and a line saying why', async () => {
    const k = await lan(); // two NICs, no default route
    expect(await doctorInterface({ ...base, kernel: k })).toEqual({
      iface: undefined,
      note: 'no interface configured, none kept in /var/lib/edge-overlay, no default route and not exactly one NIC: '
        + 'the agent would wait for a default route',
    });
    const bare = new FakeKernel(); // a namespace with lo only
    expect((await doctorInterface({ ...base, kernel: bare })).iface).toBeUndefined();
    bare.failNext('dump routes', 'EPERM');
    expect((await doctorInterface({ ...base, kernel: bare })).note)
      .toMatch(/^no interface configured, and the default routes cannot be read \(dump routes: EPERM\)$/);
  });
});

/** A host with no interface to check; the checks that do not need one see a plain host. */
function envWithout(note: string, over: Partial<DoctorEnv> = {}): DoctorEnv {
  return {
    iface: undefined, ifaceNote: note, bridge: 'scbr-100', vxlanDevice: 'scvx-100',
    cidr: parseCidr('100.64.192.0/24') as Cidr, vxlanPort: 4789, status: undefined,
    link: async () => undefined, addrs: async () => [], ipv6: async () => ({ disabled: false, addrs: [] }),
    routes: async () => [],
    probeDevices: async () => undefined, driver: () => undefined, features: () => undefined,
    setFeatures: () => undefined, read: () => undefined,
    run: async () => undefined, installUnmanaged: async () => [], listen: async () => ({ ours: 0, foreign: [] }),
    now: () => Date.UTC(2026, 0, 1),
    ...over,
  };
}

describe('doctor: the checks without an interface', () => {
  const opts = { fix: false, disableTunnelOffloads: false, listenMs: 1000 };

  it('the interface check fails with the line, the ones that need it are skipped, none crashes', async () => {
    const rs = await runChecks(envWithout('no interface configured, none kept in /s, no default route and not exactly '
      + 'one NIC: the agent would wait for a default route'), opts);
    const by = Object.fromEntries(rs.map((r) => [r.id, r]));
    expect(by.interface)
      .toMatchObject({ ok: false, detail: expect.stringMatching(/^no interface configured, none kept in \/s/),
        advice: expect.stringContaining('interface:') });
    for (const id of ['kernel', 'ipv6', 'mtu', 'offloads']) {
      expect(by[id], id)
        .toMatchObject({ ok: false, skipped: true, detail: expect.stringMatching(/^not checked: no interface/) });
    }
    for (const id of ['cidr', 'vxlan-port', 'network-managers', 'clock']) expect(by[id]!.ok, id).toBe(true);
    expect(rs.filter((r) => r.detail.startsWith('check failed'))).toEqual([]);
    expect(rs.map((r) => r.id)).not.toContain(undefined);
    const text = formatChecks(rs);
    expect(text).toContain('✗ interface: no interface configured');
    expect(text).toContain('– mtu: not checked: no interface to check (see the interface check)');
  });

  it('the kernel check still passes when the overlay devices exist', async () => {
    const link = (name: string, kind: string) => ({ index: 3, name, kind, mtu: 1450, up: true, carrier: true,
      mac: '02:00:00:00:00:01', master: undefined, vxlan: undefined });
    const rs = await runChecks(envWithout('none', { link: async (n) =>
      (n === 'scbr-100' ? link(n, 'bridge') : n === 'scvx-100' ? link(n, 'vxlan') : undefined) }), opts);
    expect(rs.find((r) => r.id === 'kernel')).toMatchObject({ ok: true });
  });

  it('an interface found for it: the note leads the interface check\'s line', async () => {
    const note = 'no interface configured: checking eth0, the default route\'s interface (the agent will '
      + 'choose it at first start)';
    const eth0 = { index: 2, name: 'eth0', kind: undefined, mtu: 1500, up: true, carrier: true,
      mac: '52:54:00:00:00:01', master: undefined, vxlan: undefined };
    const rs = await runChecks(envWithout(note, {
      iface: 'eth0', link: async (n) => (n === 'eth0' ? eth0 : undefined),
      addrs: async () => [{ index: 2, address: parseIpv4('10.77.0.101')!, prefix: 24, secondary: false }],
    }), opts);
    expect(rs.find((r) => r.id === 'interface'))
      .toEqual({ id: 'interface', ok: true, detail: `${note}; eth0 is up with 10.77.0.101/24` });
  });
});

describe('doctor: the report', () => {
  it('JSON whatever fails: a bad configuration is one failed check, exit 1', () => {
    const err = new EdgeError('E_CONFIG', 'config file /etc/edge-overlay/config.yaml: vni: must be 1-16777215');
    const { text, code } = renderReport({ agentRunning: false, interface: null, checks: [configFailed(err)] }, true);
    expect(code).toBe(1);
    expect(JSON.parse(text)).toEqual({
      ok: false, agentRunning: false, interface: null,
      checks: [{ id: 'config', ok: false, detail: 'config file /etc/edge-overlay/config.yaml: vni: must be 1-16777215',
        advice: expect.any(String) }],
    });
    expect(renderReport({ agentRunning: false, interface: null, checks: [configFailed(err)] }, false).text)
      .toMatch(/^✗ config: config file \/etc\/edge-overlay\/config.yaml: vni: must be 1-16777215\n {4}→ /);
  });

  it('exit 0 only when every check passed', () => {
    expect(renderReport({ agentRunning: true, interface: 'eth0', checks: [{ id: 'a', ok: true, detail: 'x' }] },
      true).code).toBe(0);
    expect(renderReport({ agentRunning: true, interface: 'eth0', checks: [{ id: 'a', ok: true, detail: 'x' },
      { id: 'b', ok: false, skipped: true, detail: 'y' }] }, false).code).toBe(1);
  });
});
