// Unit: configuration — file and flags parsed with the wrong one named, flags over the file, defaults, examples.
import { describe, expect, it } from 'vitest';
import { parseConfigFile, parseFlags, resolve } from '../../src/config/config.js';

const file = (text: string) => () => parseConfigFile(text, '/etc/edge-overlay/config.yaml');

describe('configuration', () => {
  it.each([
    ['overlayCidr: 100.64.192.0/33',
      'config file /etc/edge-overlay/config.yaml: overlayCidr: 100.64.192.0/33 is not a valid IPv4 CIDR'],
    ['overlayCidr: 100.64.192.7/24', 'config file /etc/edge-overlay/config.yaml: overlayCidr: '
      + '100.64.192.7/24 has host bits set (did you mean 100.64.192.0/24?)'],
    ['overlayCidr: 10.0.0.0/31', 'config file /etc/edge-overlay/config.yaml: overlayCidr: '
      + '10.0.0.0/31 leaves no address for a host after the VIP (use /30 or a shorter prefix)'],
    ['vni: 0', 'config file /etc/edge-overlay/config.yaml: vni: must be 1-16777215'],
    ['vni: "100"', 'config file /etc/edge-overlay/config.yaml: vni: must be a number'],
    ['bridge: "way-too-long-bridge-name"', 'config file /etc/edge-overlay/config.yaml: bridge: '
      + '"way-too-long-bridge-name" is not a valid bridge name (1-15 characters, no spaces, "/" or ":")'],
    ['colour: blue', 'config file /etc/edge-overlay/config.yaml: colour: unknown setting'],
    ['logLevel: loud', 'config file /etc/edge-overlay/config.yaml: logLevel: must be one of trace, debug, info, warn, '
      + 'error, fatal, silent'],
    ['cluster: "a b"', 'config file /etc/edge-overlay/config.yaml: cluster: must start with a letter or digit and use '
      + 'only letters, digits, ".", "_" and "-"'],
    ['[1, 2]', 'config file /etc/edge-overlay/config.yaml: expected a mapping of settings'],
    ['a: [', 'config file /etc/edge-overlay/config.yaml: not valid YAML (line 1)'],
    ['underlay: ipv6',
      'config file /etc/edge-overlay/config.yaml: underlay: must be one of auto, ipv4, ipv6-link-local'],
  ])('rejects %j with one line', (text, message) => {
    expect(file(text)).toThrow(expect.objectContaining({ code: 'E_CONFIG', message }));
  });

  it('names the flag when a flag is wrong', () => {
    expect(() => parseFlags({ overlayCidr: '1.2.3.4/40' }))
      .toThrow('--overlay-cidr: 1.2.3.4/40 is not a valid IPv4 CIDR');
    expect(() => parseFlags({ vni: 'x' })).toThrow('--vni: must be a number');
    expect(() => parseFlags({ underlay: 'v6' })).toThrow('--underlay: must be one of auto, ipv4, ipv6-link-local');
    expect(resolve({}, parseFlags({ underlay: 'ipv4' })).agent.underlay).toBe('ipv4');
    expect(resolve({}, {}).agent.underlay).toBe('auto');
  });

  it('lets flags override the file and fills defaults', () => {
    const r = resolve(parseConfigFile('interface: eth1\nvni: 200\ncluster: shop\n', 'f'),
      parseFlags({ vni: '300', interface: undefined }));
    expect(r.agent).toMatchObject({ interface: 'eth1', vni: 300, cluster: 'shop', bridge: 'scbr-100',
      vxlanDevice: 'scvx-300', vxlanPort: 4789 });
    expect(r.agent.cidr).toEqual({ network: 0x6440c000, prefix: 24 });
    expect(r.logLevel).toBe('info');
    expect(parseConfigFile('', 'f')).toEqual({});
  });
});

describe('shipped examples', () => {
  it('systemd/config.example.yaml is valid and matches the defaults (no interface: the agent chooses and keeps one)',
    async () => {
    const { readFileSync } = await import('node:fs');
    const path = new URL('../../systemd/config.example.yaml', import.meta.url);
    const parsed = parseConfigFile(readFileSync(path, 'utf8'), 'config.example.yaml');
    const r = resolve(parsed, {});
    expect(r.agent).toMatchObject({ interface: '', cluster: 'edge', vni: 100, bridge: 'scbr-100',
      vxlanDevice: 'scvx-100', discoveryPort: 9477 });
    expect(r.keyFile).toBe('/etc/edge-overlay/cluster.key');
  });
});
