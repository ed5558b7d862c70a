// Unit: the values derived from our own underlay (agent/facts.ts): ownFacts() and familyView().
import { describe, expect, it } from 'vitest';
import { familyView, ownFacts } from '../../../src/agent/facts.js';
import { unreadUnderlay, type UnderlaySnapshot } from '../../../src/agent/underlay/watcher.js';
import { parseIpv4 } from '../../../src/net/ipv4.js';
import { parseIpv6, type Ipv6 } from '../../../src/net/ipv6.js';
import type { OwnFacts } from '../../../src/policy/family.js';
import { Caps } from '../../../src/wire/messages.js';
import { agentConfig as config } from '../../fakes/agent.js';

const ll = (s: string): Ipv6 => parseIpv6(s)!;
const lan = (over: Partial<UnderlaySnapshot> = {}): UnderlaySnapshot => ({
  index: 2, mac: '52:54:00:00:00:01', ip: parseIpv4('10.0.0.5'), prefix: 24, carrier: true, ipv6: 'on',
  linkLocal: ll('fe80::1'), lastLinkLocal: ll('fe80::1'), lastAddress: { ip: parseIpv4('10.0.0.5')!, prefix: 24 },
  ...over,
});

describe('ownFacts', () => {
  it('takes the setting from the config, IPv6 state from the read, and whether seeds are configured', () => {
    expect(ownFacts(config(), lan(), 0))
      .toEqual({ setting: 'auto', ipv6: 'on', linkLocal: ll('fe80::1'), seeds: false });
    expect(ownFacts(config({ underlay: 'ipv4' }), lan({ ipv6: 'dad-failed' }), 2))
      .toEqual({ setting: 'ipv4', ipv6: 'dad-failed', linkLocal: ll('fe80::1'), seeds: true });
  });

  it('uses the last link-local address known while the interface has none (link down, earlier run)', () => {
    const down = lan({ linkLocal: undefined, lastLinkLocal: ll('fe80::7'), carrier: false });
    expect(ownFacts(config(), down, 0).linkLocal).toBe(ll('fe80::7'));
    expect(ownFacts(config(), unreadUnderlay(ll('fe80::9')), 0))
      .toEqual({ setting: 'auto', ipv6: 'unknown', linkLocal: ll('fe80::9'), seeds: false });
  });
});

describe('familyView', () => {
  const own = (over: Partial<OwnFacts> = {}): OwnFacts =>
    ({ setting: 'auto', ipv6: 'on', linkLocal: ll('fe80::1'), seeds: false, ...over });

  it('announces the link-local capability and address when IPv6 is usable, with the readiness given', () => {
    expect(familyView(own(), true)).toEqual({ linkLocal: ll('fe80::1'), caps: Caps.linkLocal, ready: true });
    expect(familyView(own(), false)).toEqual({ linkLocal: ll('fe80::1'), caps: Caps.linkLocal, ready: false });
    // seeds keep us on IPv4 but do not take the capability away
    expect(familyView(own({ seeds: true }), false).caps).toBe(Caps.linkLocal);
  });

  it('announces no capability with underlay ipv4, IPv6 off, a failed DAD, or no address before the first read', () => {
    expect(familyView(own({ setting: 'ipv4' }), false).caps).toBe(0);
    expect(familyView(own({ ipv6: 'off', linkLocal: undefined }), false))
      .toEqual({ linkLocal: undefined, caps: 0, ready: false });
    expect(familyView(own({ ipv6: 'dad-failed' }), false).caps).toBe(0);
    expect(familyView(own({ ipv6: 'unknown', linkLocal: undefined }), false).caps).toBe(0);
    // the address of an earlier run counts
    expect(familyView(own({ ipv6: 'unknown' }), false).caps).toBe(Caps.linkLocal);
  });
});
