// Unit: CLI formatting — the `status` text (aligned peer table with this host among its peers), ages and tables.
import { describe, expect, it } from 'vitest';
import { VERSION } from '../../src/version.js';
import { ago, formatStatus, table } from '../../src/cli/format.js';
import { peerReport, statusReport } from '../fakes/status.js';

describe('status formatting', () => {
  it('prints an aligned table with this host among its peers', () => {
    const s = statusReport({
      node: { overlayIp: '100.64.192.20', mtu: 1430 },
      underlay: {
        family: 'link-local', device: 'link-local', setting: 'auto',
        why: 'every host can use link-local addresses on this segment', linkLocal: 'fe80::2',
      },
      peers: [
        peerReport({
          id: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', overlayIp: '100.64.192.3', underlayIp: '10.0.0.3', state: 'alive',
          lastSeenMs: 850, linkLocal: 'fe80::3',
        }),
        peerReport({
          id: 'cccccccccccccccccccccccccccccccc', overlayIp: '100.64.192.100', underlayIp: '0.0.0.0',
          mac: '02:00:00:00:00:03', state: 'stale', lastSeenMs: 90_061_000,
          clockSkewMs: null, linkLocal: 'fe80::4',
        }),
      ],
      dataplane: { lastReconcileAt: null, readySince: null, lastChangeAt: null, fdbEntries: 4, neighEntries: 2 },
      filter: { allowed: 2, droppedPackets: 0 },
      agent: { version: VERSION },
    });
    expect(formatStatus(s)).toBe([
      'cluster edge  overlay 100.64.192.0/24  VIP 100.64.192.1  VNI 100',
      'this host 100.64.192.20 (established) via eth0 10.0.0.2  bridge scbr-100 mtu 1430  dataplane ready',
      'underlay IPv6 link-local: every host can use link-local addresses on this segment',
      'peers 1 alive, 1 stale  ingress filter filtered (2 peers may send VXLAN, 0 packets dropped)',
      'discovery udp up, last peer packet 900ms ago; raw up, last peer packet 900ms ago',
      '',
      'OVERLAY IP      UNDERLAY IP  LINK-LOCAL  STATE  LAST SEEN  NODE',
      '100.64.192.3    10.0.0.3     fe80::3     alive  850ms ago  bbbbbbbbbbbb',
      '100.64.192.20   10.0.0.2     fe80::2     self   -          aaaaaaaaaaaa',
      '100.64.192.100  (none)       fe80::4     stale  1d1h ago   cccccccccccc',
      '',
    ].join('\n'));
    expect(ago(61_000)).toBe('1m1s ago');
    expect(table([['a', 'bb'], ['ccc', 'd']])).toBe('a    bb\nccc  d');
  });
});
