// Unit: IPv6 helpers — RFC 5952 canonical form, rejected input, byte round trips, link-local and EUI-64 addresses.
import { randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  formatIp, ipv6FromBytes, ipv6ToBytes, isIpv6, isLinkLocal, linkLocalFromMac, parseIpv6, type IpAddr, type Ipv6,
} from '../../src/net/ipv6.js';
import { parseIpv4 } from '../../src/net/ipv4.js';

const v6 = (s: string): Ipv6 => parseIpv6(s)!;

describe('ipv6', () => {
  it('canonicalises every valid form (RFC 5952)', () => {
    const cases: [string, string][] = [
      ['::', '::'],
      ['0:0:0:0:0:0:0:0', '::'],
      ['::1', '::1'],
      ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
      ['FE80::ABCD:00EF', 'fe80::abcd:ef'], // lower case, no leading zeros (4.2, 4.3)
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // the first of two equal runs (4.2.3)
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run (4.2.3)
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed (4.2.2)
      ['2001:db8::0:1', '2001:db8::1'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'], // "::" for one group is valid input, not output
      ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
      ['1::', '1::'],
      ['::ffff:192.0.2.1', '::ffff:192.0.2.1'], // IPv4-mapped in mixed notation (5)
      ['::FFFF:c000:0201', '::ffff:192.0.2.1'],
      ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
      ['::192.0.2.1', '::c000:201'],
      ['fe80:0000:0000:0000:0204:61ff:fe9d:f156', 'fe80::204:61ff:fe9d:f156'],
    ];
    for (const [text, canon] of cases) {
      expect(parseIpv6(text), text).toBe(canon);
      expect(parseIpv6(canon), canon).toBe(canon); // canonical text is a fixed point
    }
  });

  it('rejects zone ids, garbage and near misses', () => {
    for (const bad of [
      '', ':', ':::', '1', '1.2.3.4', 'fe80::1%eth0', 'fe80::1%2', ' ::1', '::1 ', '1::2::3', '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '12345::', 'g::1', ':1::', '1::2:', '::ffff:1.2.3', '::ffff:256.1.1.1', '::1.2.3.4:5', '1.2.3.4::',
      '::ffff:01.2.3.4',
      '1:2:3:4:5:6:7:1.2.3.4', '[::1]', '::1/64',
    ]) expect(parseIpv6(bad), bad).toBeUndefined();
  });

  it('round-trips bytes, and agrees with node:net on random addresses', () => {
    expect(ipv6ToBytes(v6('fe80::1'))).toEqual(Buffer.from('fe800000000000000000000000000001', 'hex'));
    expect(ipv6FromBytes(Buffer.alloc(16))).toBe('::');
    for (let i = 0; i < 500; i++) {
      const b = randomBytes(16);
      if (i % 3 === 0) b.fill(0, 2 + (i % 7), 10 + (i % 5)); // zero runs in many places
      const a = ipv6FromBytes(b);
      expect(isIPv6(a)).toBe(true);
      expect(ipv6ToBytes(a)).toEqual(b);
      expect(parseIpv6(a)).toBe(a);
      expect(parseIpv6(a.toUpperCase())).toBe(a);
      // WHATWG compresses the same way
      if (!a.startsWith('::ffff:')) expect(new URL(`http://[${a}]/`).hostname).toBe(`[${a}]`);
    }
    expect(() => ipv6FromBytes(Buffer.alloc(4))).toThrow(/16 bytes/);
  });

  it('knows link-local addresses and the EUI-64 one a MAC gets', () => {
    expect(isLinkLocal(v6('fe80::1'))).toBe(true);
    expect(isLinkLocal(v6('febf:ffff::1'))).toBe(true); // fe80::/10
    expect(isLinkLocal(v6('fec0::1'))).toBe(false);
    expect(isLinkLocal(v6('2001:db8::1'))).toBe(false);
    expect(isLinkLocal(v6('::1'))).toBe(false);
    expect(linkLocalFromMac('52:54:00:12:34:56')).toBe('fe80::5054:ff:fe12:3456'); // the U/L bit flipped
    expect(linkLocalFromMac('02:00:00:00:00:01')).toBe('fe80::ff:fe00:1');
    expect(isLinkLocal(linkLocalFromMac('ff:ff:ff:ff:ff:ff'))).toBe(true);
  });

  it('tells IPv4 numbers from IPv6 strings', () => {
    const addrs: IpAddr[] = [parseIpv4('10.0.0.1')!, v6('fe80::1')];
    expect(addrs.map(isIpv6)).toEqual([false, true]);
    expect(addrs.map(formatIp)).toEqual(['10.0.0.1', 'fe80::1']);
  });
});
