// Integration: discovery and addressing on a hostile, messy LAN, with the
// real agent in namespace hosts: raw L2 discovery before a NIC has IPv4,
// hosts in different subnets of one segment, key rotation under traffic, the
// VXLAN ingress filter against an outsider, and unicast seeds across a router.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Lab, labUnavailable, sleep, until, type Host } from '../lab/lab.js';
import type { StatusReport } from '../../src/agent/records/status.js';

/**
 * These tests read IPv4 FDB entries and filter sets: the IPv4 underlay
 * (family.test.ts and underlay.test.ts cover link-local).
 */
const IPV4 = ['--underlay', 'ipv4'];

const why = labUnavailable();
if (why) console.warn(`SKIPPED discovery integration tests: ${why}`);

describe.skipIf(why)('one segment: raw L2, subnets, key rotation, ingress filter', () => {
  let lab: Lab;
  const h = (i: number): Host => lab.hosts[i - 1]!;
  const agents = (): Host[] => [h(1), h(2), h(3)];
  let overlay: Map<Host, string>;

  beforeAll(async () => {
    // h3's NIC has no IPv4 address yet; h4 is an outsider on the LAN without the key
    lab = await Lab.create({ hosts: 4, noDhcp: [3], agentArgs: IPV4 });
    for (const x of agents()) lab.startAgent(x);
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  it('lets a host whose NIC has no IPv4 address claim its overlay address over raw L2, '
    + 'then join fully once DHCP answers', async () => {
    const s3 = await until('h3 to claim an address without IPv4', async () => {
      const s = await lab.tryStatus(h(3));
      return s?.node.addressState === 'established' ? s : undefined;
    });
    expect(s3.node.underlayIp).toBeNull();
    expect(lab.addressOf(h(3))).toBeUndefined();
    const seen = await until('h1 to know h3 (no underlay yet)', async () => {
      const s = await lab.tryStatus(h(1));
      return s?.peers.find((p) => p.id === s3.node.id);
    });
    expect(seen.underlayIp).toBe('0.0.0.0');
    expect(seen.overlayIp).toBe(s3.node.overlayIp);
    await lab.startDhcp(h(3));
    const st = await lab.converged(20_000, agents());
    overlay = new Map(agents().map((x, i) => [x, st[i]!.node.overlayIp!]));
    expect(overlay.get(h(3))).toBe(s3.node.overlayIp); // the address claimed before DHCP is kept
    for (const a of agents()) {
      for (const b of agents()) if (a !== b) expect(lab.ping(a, overlay.get(b)!, 2, 0.05)).toBe(true);
    }
  });

  it('rotates the cluster key (add, promote, retire; SIGHUP host by host) without losing a ping', async () => {
    const oldKey = readFileSync(lab.keyFile, 'utf8').trim();
    const newKey = randomBytes(32).toString('hex');
    const pinger = lab.pinger(h(1), overlay.get(h(2))!, 0.01);
    await sleep(300);
    for (const [text, labels] of [[`old:${oldKey}\nnew:${newKey}\n`, 'old,new'],
      [`new:${newKey}\nold:${oldKey}\n`, 'new,old'], [`new:${newKey}\n`, 'new']] as const) {
      writeFileSync(lab.keyFile, text, { mode: 0o600 });
      for (const x of agents()) {
        x.agent!.kill('SIGHUP');
        // host by host: the next one reloads only once this one has
        await until(`keys ${labels} on ${x.name}`, async () => (await lab.status(x)).security.keys.map((k) => k.label)
          .join(',') === labels || undefined, 5000, 50);
      }
      await sleep(1000); // a reload that changes the signing key announces at once; let peers verify it
    }
    const { replies, sent } = await pinger.stop();
    expect(sent - replies.length).toBeLessThanOrEqual(1); // the last echo may be in flight
    for (const x of agents()) {
      const s = await lab.status(x);
      expect(s.security.keys.map((k) => k.label)).toEqual(['new']);
      expect(s.peers.every((p) => p.state === 'alive')).toBe(true);
      expect(s.counters.dropped['bad-auth']).toBe(0);
      expect(s.counters.verifiedByKey.new).toBeGreaterThan(0);
    }
  });

  it('drops VXLAN from outsiders, ignores forged and replayed announcements, and changes nothing', async () => {
    const snapshot = (): string[] => agents().map((x) => [
      lab.exec(x, ['bridge', 'fdb', 'show', 'dev', 'scvx-100']),
      lab.exec(x, ['ip', 'neigh', 'show', 'dev', 'scbr-100', 'nud', 'permanent']),
      lab.exec(x, ['ip', '-4', 'addr', 'show', 'dev', 'scbr-100']),
    ].join('\n'));
    const s1 = await lab.status(h(1));
    expect(s1.filter).toMatchObject({ mode: 'filtered', allowed: 2, error: null });
    const capFile = join(lab.dir, 'captured');
    // two announce periods (5 s ± 10 %): at least two of every agent's announcements, so the
    // replay holds old ones (counted as replays), not only each sender's latest (a duplicate)
    expect((lab.helper(h(4), 'outsider.mjs', ['capture', '9477', '11000', capFile]) as { captured: number }).captured)
      .toBeGreaterThanOrEqual(6);
    await sleep(1200); // every sender has moved on (sequence numbers; the 1 s duplicate window is over)
    const before = snapshot();
    const dump = await lab.capture(h(1), 'scbr-100', 'ether src 02:de:ad:be:ef:01');
    // forged first: a forged copy of a packet accepted within the last second is a duplicate
    // (same tag) and dropped before the HMAC is checked, so it would not count as bad-auth
    lab.helper(h(4), 'outsider.mjs', ['forge', capFile, '9477']);
    lab.helper(h(4), 'outsider.mjs', ['replay', capFile, '9477']);
    lab.helper(h(4), 'outsider.mjs', ['vxlan', h(1).ip!, '4789', '100', '20']);
    await sleep(1000);
    expect(await dump.stop()).toEqual([]); // no injected frame reached the overlay
    expect(snapshot()).toEqual(before);
    const after = await until('the drop counter to show the injected packets', async () => {
      const s = await lab.status(h(1));
      return s.filter.droppedPackets >= 20 ? s : undefined;
    });
    const dropped = after.counters.dropped;
    expect(dropped['bad-auth']).toBeGreaterThan(0);
    expect(dropped.replay).toBeGreaterThan(0);
    // Control: without our tables the same packets do get in, so the check above can fail. The
    // agent is stopped first: its guard table lives only as long as it runs (owned by its nft -i).
    await lab.stopAgent(h(1));
    lab.exec(h(1), ['nft', 'delete', 'table', 'inet', 'edge_overlay']);
    const open = await lab.capture(h(1), 'scbr-100', 'ether src 02:de:ad:be:ef:01');
    lab.helper(h(4), 'outsider.mjs', ['vxlan', h(1).ip!, '4789', '100', '5']);
    expect((await open.stop()).length).toBeGreaterThan(0);
    // a restarted agent puts the filter back
    lab.startAgent(h(1));
    await lab.converged(20_000, agents());
    await until('the filter to be back after a restart',
      () => lab.exec(h(1), ['nft', 'list', 'table', 'inet', 'edge_overlay'], true).includes('@peers') || undefined);
    // and a running one puts back a table someone deletes, at once (its guard table holds meanwhile)
    expect(lab.exec(h(1), ['nft', 'list', 'tables'])).toContain('table inet edge_overlay_guard');
    lab.exec(h(1), ['nft', 'delete', 'table', 'inet', 'edge_overlay']);
    await until('the filter to be back', () => lab.exec(h(1), ['nft', 'list', 'table', 'inet', 'edge_overlay'], true)
      .includes('@peers') || undefined, 3000);
  });

  it('reaches a host that DHCP put in another subnet of the same segment (on-link routes from raw L2)', async () => {
    await lab.setStatic(h(2), '10.66.3.7/24');
    await lab.converged(20_000, agents());
    const onLink = (x: Host): string => lab.exec(x, ['ip', 'route', 'show', 'proto', '155']);
    await until('on-link routes both ways',
      () => ([h(1), h(3)].every((a) => onLink(a).includes('10.66.3.7 dev eth0 scope link'))
      && [h(1), h(3)].every((a) => onLink(h(2)).includes(`${a.ip} dev eth0 scope link`))) || undefined, 10_000, 50);
    for (const a of [h(1), h(3)]) {
      expect(lab.ping(a, overlay.get(h(2))!, 3, 0.05)).toBe(true);
      expect(lab.ping(h(2), overlay.get(a)!, 3, 0.05)).toBe(true);
    }
    // ...and the routes go when they are no longer needed
    await lab.setStatic(h(2), `${lab.net(0)}.222/24`);
    await until('the on-link routes to be removed', () => (onLink(h(1)) === '' && onLink(h(2)) === '')
      || undefined, 10_000, 50);
  });
});

describe.skipIf(why)('two segments joined by a router: unicast seeds', () => {
  let lab: Lab;
  const h = (i: number): Host => lab.hosts[i - 1]!;

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 3, segments: 2, hostSegments: [0, 0, 1], agentArgs: IPV4 });
    lab.startAgent(h(1));
    lab.startAgent(h(2));
    lab.startAgent(h(3), ['--peer', h(1).ip!]); // h3 alone on segment B knows only h1
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  it('forms one overlay across the router, and follows a renumbering on the far segment', async () => {
    expect(h(3).ip!.startsWith('10.78.0.')).toBe(true);
    let st: StatusReport[] = await lab.converged();
    const ips = st.map((s) => s.node.overlayIp!);
    for (const a of lab.hosts) {
      for (const b of lab.hosts) if (a !== b) expect(lab.ping(a, ips[lab.hosts.indexOf(b)]!, 2, 0.05)).toBe(true);
    }
    const pinger = lab.pinger(h(2), ips[2]!, 0.01);
    await sleep(300);
    const [r] = await lab.renumber([h(3)]);
    await sleep(1000);
    const { replies } = await pinger.stop();
    expect(replies.some((t) => t > r!.boundAt)).toBe(true);
    st = await lab.converged();
    expect(st.map((s) => s.node.overlayIp)).toEqual(ips);
  });
});
