// Unit: the underlay family — the choice, peer L2 verdicts and capabilities, the state file and 0.1 wire compat.
import { describe, expect, it } from 'vitest';
import { capable, chooseFamily, readiness, type OwnFacts, type PeerFacts } from '../../src/policy/family.js';
import { PeerTable, L2_GRACE_MS } from '../../src/peers/table.js';
import { migrate } from '../../src/state/migrate.js';
import { SCHEMA, stateSchema } from '../../src/state/schema.js';
import { decode, encode, type AnnounceMsg, type SigningKey } from '../../src/wire/codec.js';
import { parseIpv4 } from '../../src/net/ipv4.js';
import { parseIpv6, type Ipv6 } from '../../src/net/ipv6.js';

const ll = (s: string): Ipv6 => parseIpv6(s)!;
const own = (over: Partial<OwnFacts> = {}): OwnFacts =>
  ({ setting: 'auto', ipv6: 'on', linkLocal: ll('fe80::1'), seeds: false, ...over });
const peer = (id: string, over: Partial<PeerFacts> = {}): PeerFacts =>
  ({ id: id.repeat(32), caps: 1, linkLocal: ll('fe80::2'), l2: 'yes', ready: true, ...over });

describe('underlay family choice', () => {
  it('uses link-local when this host and every peer can, share the segment and are ready', () => {
    expect(chooseFamily(own(), [peer('b'), peer('c')]))
      .toEqual({ family: 'link-local', reason: 'every host can use link-local addresses on this segment' });
    expect(chooseFamily(own(), [])).toMatchObject({ family: 'link-local' }); // alone: nothing stands in the way
  });

  it.each([
    ['IPv6 off here', own({ ipv6: 'off' }), [peer('b')], "IPv6 is disabled on this host's interface"],
    ['our DAD failed', own({ ipv6: 'dad-failed' }), [peer('b')],
      "this host's link-local address failed duplicate address detection"],
    ['seeds', own({ seeds: true }), [peer('b')],
      'unicast seeds (--peer) are configured: routed peers cannot use link-local addresses'],
    ['a release before 0.2', own(), [peer('b'), peer('c', { caps: undefined, linkLocal: undefined })],
      'peer cccccccc runs a release without link-local support'],
    ['a peer without the capability', own(), [peer('d', { caps: 0 })],
      'peer dddddddd cannot use link-local (IPv6 off or underlay: ipv4 there)'],
    ['a peer not on our segment', own(), [peer('e', { l2: 'no' })],
      'peer eeeeeeee is not heard over raw L2 (not on this segment)'],
    ['a peer that knows a host that cannot', own(), [peer('f', { ready: false })],
      'peer ffffffff knows a host that cannot use link-local'],
  ])('falls back to IPv4 with the reason: %s', (_name, o, peers, reason) => {
    expect(chooseFamily(o, peers)).toEqual({ family: 'ipv4', reason });
  });

  it('does not wait for the L2 verdict or the address of a new peer (no flapping on them), '
    + 'but takes its word that it is not ready', () => {
    expect(chooseFamily(own(), [peer('b', { l2: 'pending' })]).family).toBe('link-local');
    expect(chooseFamily(own(), [peer('b', { linkLocal: undefined })]).family).toBe('link-local');
    expect(chooseFamily(own(), [peer('b', { l2: 'pending', ready: false })]).family).toBe('ipv4');
  });

  it('announces readiness from its own knowledge only (never from what others announce): no feedback, no oscillation',
    () => {
    const notReady = [peer('b', { ready: false })];
    expect(readiness(own(), notReady).family).toBe('link-local'); // we can, and so can b: we are ready
    expect(chooseFamily(own(), notReady).family).toBe('ipv4'); // but b knows someone who cannot
    expect(readiness(own(), [peer('c', { caps: undefined })]).family).toBe('ipv4');
  });

  it('obeys the setting; advertises the capability only when IPv6 works (or, unknown, from the last known address)',
    () => {
    expect(chooseFamily(own({ setting: 'ipv4' }), [peer('b')]))
      .toEqual({ family: 'ipv4', reason: 'underlay: ipv4 is configured' });
    expect(chooseFamily(own({ setting: 'ipv6-link-local' }), [peer('b', { caps: undefined })]).family)
      .toBe('link-local');
    expect(capable(own({ setting: 'ipv4' }))).toBe(false);
    expect(capable(own({ ipv6: 'off' }))).toBe(false);
    expect(capable(own({ ipv6: 'unknown' }))).toBe(true);
    expect(capable(own({ ipv6: 'unknown', linkLocal: undefined }))).toBe(false);
    expect(capable(own({ linkLocal: undefined }))).toBe(true); // IPv6 on, address still coming
  });

  it('is the same on every host once they have heard each other, also when only one of them knows the host that cannot',
    () => {
    // c alone knows x (an old release, silent since before a, b and d joined): c is not ready, and says so
    const x = peer('9', { caps: undefined, linkLocal: undefined, ready: false });
    const views = {
      a: chooseFamily(own(), [peer('b'), peer('c', { ready: false }), peer('d')]),
      b: chooseFamily(own(), [peer('a'), peer('c', { ready: false }), peer('d')]),
      c: chooseFamily(own(), [peer('a'), peer('b'), peer('d'), x]),
      d: chooseFamily(own(), [peer('a'), peer('b'), peer('c', { ready: false })]),
    };
    expect(Object.values(views).map((v) => v.family)).toEqual(['ipv4', 'ipv4', 'ipv4', 'ipv4']);
    // x forgotten on c: c is ready again, and once its announcement is heard everyone moves together
    const after =
      [chooseFamily(own(), [peer('b'), peer('c'), peer('d')]), chooseFamily(own(), [peer('a'), peer('b'), peer('d')])];
    expect(after.map((v) => v.family)).toEqual(['link-local', 'link-local']);
  });
});

describe('peer table: L2 verdicts and capabilities', () => {
  const announce = (over: Partial<AnnounceMsg> = {}): AnnounceMsg => ({
    type: 'announce', cluster: 'x', nodeId: 'b'.repeat(32), seq: 1, sentAt: 0, overlayIp: parseIpv4('100.64.192.5')!,
    underlayIp: parseIpv4('10.0.0.5')!,
    mac: '02:00:00:00:00:05', claimedAt: 1, heldMs: 0, cidr: { network: parseIpv4('100.64.192.0')!, prefix: 24 },
    vni: 100, ...over,
  });

  it('a new peer is pending until a raw frame proves adjacency, or L2_GRACE_MS passes without one', () => {
    const t = new PeerTable(20_000);
    t.observe(announce({ caps: 1, linkLocal: ll('fe80::5') }), 0, 1000);
    expect(t.facts(1000)[0]!.l2).toBe('pending');
    expect(t.nextL2Verdict(1000)).toBe(1000 + L2_GRACE_MS);
    expect(t.facts(1000 + L2_GRACE_MS)[0]!.l2).toBe('no');
    expect(t.markL2('b'.repeat(32), 5000)).toEqual({ adjacent: true, seen: true });
    expect(t.facts(5000)[0]!.l2).toBe('yes');
    expect(t.markL2('b'.repeat(32), 5001)).toEqual({ adjacent: false, seen: false });
  });

  it('credits the raw frame that introduced a peer (adjacency is marked before the peer exists)', () => {
    const t = new PeerTable(20_000);
    t.markL2('b'.repeat(32), 10);
    t.observe(announce({ caps: 1, linkLocal: ll('fe80::5') }), 0, 10);
    expect(t.facts(10)[0]!.l2).toBe('yes');
  });

  it('reports capability and link-local changes as an update, keeps a known link-local address when one '
    + 'announcement lacks it', () => {
    const t = new PeerTable(20_000);
    t.observe(announce({ caps: 1, linkLocal: ll('fe80::5') }), 0, 0);
    expect(t.observe(announce({ caps: 1, linkLocal: ll('fe80::5'), llReady: true }), 0, 1))
      .toMatchObject({ kind: 'updated', capsChanged: true, linkLocalChanged: false });
    expect(t.observe(announce({ caps: 1, linkLocal: ll('fe80::6'), llReady: true }), 0, 2))
      .toMatchObject({ kind: 'updated', linkLocalChanged: true });
    expect(t.observe(announce({ caps: 0, llReady: true }), 0, 3))
      .toMatchObject({ kind: 'updated', capsChanged: true, linkLocalChanged: false });
    expect(t.get('b'.repeat(32))!.linkLocal).toBe('fe80::6');
  });

  it('persists what the choice needs; peers from a 0.1 file get the grace period, later files keep their verdict',
    () => {
    const t = new PeerTable(20_000);
    t.observe(announce({ caps: 1, linkLocal: ll('fe80::5'), llReady: true }), 0, 0);
    t.markL2('b'.repeat(32), 1);
    const saved = t.toPersisted();
    expect(saved[0]).toMatchObject({ linkLocal: 'fe80::5', caps: 1, ready: true, l2: true });
    const again = new PeerTable(20_000);
    again.load(saved, 50_000);
    expect(again.facts(50_000)[0]).toMatchObject({ l2: 'yes', caps: 1, ready: true, linkLocal: 'fe80::5' });
    const { linkLocal: _a, caps: _b, ready: _c, l2: _d, ...old } = saved[0]!;
    const fromOld = new PeerTable(20_000);
    fromOld.load([old], 50_000);
    expect(fromOld.facts(50_000)[0]).toMatchObject({ l2: 'pending', caps: undefined });
    expect(fromOld.facts(50_000 + L2_GRACE_MS)[0]!.l2).toBe('no');
  });
});

describe('state file layout', () => {
  const v1 = {
    version: 1, nodeId: 'ab'.repeat(16), cluster: 'edge', cidr: '100.64.192.0/24', overlayIp: '100.64.192.9',
    claimedAt: 5, seqFloor: 10,
    peers: [{ id: 'cd'.repeat(16), overlayIp: '100.64.192.3', underlayIp: '10.0.0.3', mac: '02:00:00:00:00:03',
      claimedAt: 1, lastSeq: 2, lastSeenAt: 3 }],
  };

  it('migrates a 0.1 file forward, keeping every field and the overlay address', () => {
    const { state, from } = migrate(stateSchema.parse(v1));
    expect(from).toBe(1);
    expect(state).toEqual({ ...v1, schema: SCHEMA });
  });

  it('stays readable by the previous release: format version 1, only optional additions', () => {
    const s2 = { ...v1, schema: 2, linkLocal: 'fe80::1',
      peers: [{ ...v1.peers[0], linkLocal: 'fe80::3', caps: 1, ready: true, l2: true }] };
    expect(stateSchema.parse(s2).version).toBe(1);
    // the 0.1 schema had exactly these peer keys required; everything else must be optional
    const required = Object.entries(stateSchema.shape).filter(([, v]) => !v.isOptional()).map(([k]) => k).sort();
    expect(required).toEqual(['cidr', 'cluster', 'nodeId', 'peers', 'seqFloor', 'version']);
  });

  it('refuses a link-local field that is not one', () => {
    expect(stateSchema.safeParse({ ...v1, linkLocal: '2001:db8::1' }).success).toBe(false);
  });
});

describe('wire compatibility with 0.1', () => {
  const key: SigningKey = { id: 0, key: Buffer.alloc(32, 9) };
  // encoded by release 0.1.0 (ca0b24a): an announcement with no capabilities
  const OLD = '454f564c01010000006e0106736974652d610210abababababababababababababababab060800060a24181e407b07080000018b'
    + 'cfe5680003046440c00704040a01020305060211223344550808000001897bd9840011080000000005265c0009056440c000180a040000'
    + '00641001021206525400123456d5e6a1f2cfbb6cd8df236bfd5f459e44176f3f03c92fd04f20d13d150d254746';
  // encoded by this release; release 0.1.0's decoder accepts it (unknown TLVs 19 and 20, flag bit 4 ignored)
  const NEW = '454f564c0101000000860106736974652d610210abababababababababababababababab06080000000000000005070800000000'
    + '0000000603046440c00704040a0102030506021122334455080800000000000000071108000000000000000809056440c000180a040000'
    + '006410010612065254001234561310fe80000000000000505400fffe123456140400000001ae053d78341ef30e9d11cc8aa8600fe6f6aa'
    + '7925ae217e22a2da5d119f59b4a9';

  it('reads 0.1 announcements as "no capabilities"', () => {
    const r = decode(Buffer.from(OLD, 'hex'), 'site-a', [key]);
    expect(r.ok && r.msg.type === 'announce'
      ? { caps: r.msg.caps, linkLocal: r.msg.linkLocal, llReady: r.msg.llReady, fresh: r.msg.fresh } : r)
      .toEqual({ caps: undefined, linkLocal: undefined, llReady: undefined, fresh: true });
  });

  it('encodes link-local address, capabilities and readiness exactly as before (append-only: 0.1 skips them)', () => {
    const r = decode(Buffer.from(NEW, 'hex'), 'site-a', [key]);
    expect(r.ok && r.msg.type === 'announce' ? [r.msg.linkLocal, r.msg.caps, r.msg.llReady] : r)
      .toEqual(['fe80::5054:ff:fe12:3456', 1, true]);
    if (r.ok) expect(encode(r.msg, key).toString('hex')).toBe(NEW);
  });

  it('drops an announcement whose link-local field is not link-local', () => {
    const msg = decode(Buffer.from(NEW, 'hex'), 'site-a', [key]);
    if (!msg.ok || msg.msg.type !== 'announce') throw new Error('fixture');
    const bad = encode({ ...msg.msg, linkLocal: ll('2001:db8::1') }, key);
    expect(decode(bad, 'site-a', [key])).toEqual({ ok: false, reason: 'malformed' });
  });
});
