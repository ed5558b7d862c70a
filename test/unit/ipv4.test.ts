// Unit: IPv4 and MAC helpers — addresses and CIDRs parsed and formatted, reserved addresses, MAC round trips.
import { describe, expect, it } from 'vitest';
import {
  broadcastOf, contains, formatCidr, formatIpv4, hostRange, isHostAddress, overlaps, parseCidr, parseIpv4, parseMac,
  formatMac, vipOf,
  type Cidr,
} from '../../src/net/ipv4.js';

describe('ipv4', () => {
  it('parses and formats addresses, rejecting junk', () => {
    expect(formatIpv4(parseIpv4('100.64.192.7')!)).toBe('100.64.192.7');
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['256.1.1.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', 'a.b.c.d', '', '1..2.3']) {
      expect(parseIpv4(bad)).toBeUndefined();
    }
  });

  it('parses CIDRs with reasons', () => {
    expect(parseCidr('100.64.192.0/24')).toEqual({ network: parseIpv4('100.64.192.0'), prefix: 24 });
    expect(parseCidr('100.64.192.0/33')).toBe('100.64.192.0/33 is not a valid IPv4 CIDR');
    expect(parseCidr('100.64.192.5/24')).toBe('100.64.192.5/24 has host bits set (did you mean 100.64.192.0/24?)');
    expect(parseCidr('nonsense')).toBe('nonsense is not a valid IPv4 CIDR');
  });

  it('reserves network, VIP and broadcast', () => {
    const c = parseCidr('100.64.192.0/24') as Cidr;
    expect(formatIpv4(vipOf(c))).toBe('100.64.192.1');
    expect(formatIpv4(broadcastOf(c))).toBe('100.64.192.255');
    const r = hostRange(c);
    expect([formatIpv4(r.first), formatIpv4(r.last), r.count]).toEqual(['100.64.192.2', '100.64.192.254', 253]);
    expect(isHostAddress(c, vipOf(c))).toBe(false);
    expect(isHostAddress(c, parseIpv4('100.64.192.2')!)).toBe(true);
    expect(hostRange(parseCidr('10.0.0.0/30') as Cidr).count).toBe(1);
    expect(contains(c, parseIpv4('100.64.193.1')!)).toBe(false);
    expect(formatCidr(c)).toBe('100.64.192.0/24');
    expect(overlaps(c, parseCidr('100.64.0.0/16') as Cidr)).toBe(true);
    expect(overlaps(c, parseCidr('100.64.193.0/24') as Cidr)).toBe(false);
  });

  it('round-trips MACs', () => {
    expect(formatMac(parseMac('02:AB:cd:00:01:ff')!)).toBe('02:ab:cd:00:01:ff');
    expect(parseMac('02:ab:cd:00:01')).toBeUndefined();
  });
});
