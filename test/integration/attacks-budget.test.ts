// Integration: budgets an outsider without the key must not be able to turn
// against the peers. Packets with broken HMACs sent with a peer's address as
// their source (where raw L2 does not cross, so UDP is that peer's only way
// in) must not make the victim drop the peer's own packets; a raw L2 flood
// from one MAC must not crowd out a host that has no IPv4 address yet.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Lab, captureAnnouncement, labUnavailable, sleep, until, type Host } from '../lab/lab.js';

const why = labUnavailable();
if (why) console.warn(`SKIPPED budget attack tests: ${why}`);

const IPV4 = ['--underlay', 'ipv4'];

describe.skipIf(why)('a forger using a peer\'s address, across a router', () => {
  let lab: Lab;
  const h = (i: number): Host => lab.hosts[i - 1]!;

  beforeAll(async () => {
    // h1 and h3 (the outsider) on segment A, h2 alone on segment B: h2 reaches h1 by UDP only
    lab = await Lab.create({ hosts: 3, segments: 2, hostSegments: [0, 1, 0], agentArgs: IPV4 });
    lab.startAgent(h(1), ['--peer', h(2).ip!]);
    lab.startAgent(h(2), ['--peer', h(1).ip!]);
    await lab.converged(20_000, [h(1), h(2)]);
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  it('sends h1 broken HMACs from h2\'s address, 200 a second for 35 s: h1 checks them all and keeps h2 alive',
    async () => {
    const file = join(lab.dir, 'h1-announcement');
    const id1 = (await lab.status(h(1))).node.id;
    // any announcement will do as a shape (h3 hears h1's broadcasts); its HMAC gets broken
    expect(captureAnnouncement(lab, h(3), id1, file)).toEqual({ captured: 1 });
    const id2 = (await lab.status(h(2))).node.id;
    const bad0 = (await lab.status(h(1))).counters.dropped['bad-auth'];
    const flood = lab.helperInBackground(h(3), 'outsider.mjs', ['flood', '--dst', h(1).ip!, '--file', file,
      '--seconds', '35', '--sources', '1', '--source-base', h(2).ip!, '--pps', '200']);
    await flood.started;
    const states: string[] = [];
    for (let t = 0; t < 35; t++) {
      await sleep(1000);
      states.push((await lab.status(h(1))).peers.find((p) => p.id === id2)?.state ?? 'gone');
    }
    const sent = (await flood.done) as { sent: number };
    const s1 = await lab.status(h(1));
    console.log(`forger as h2: ${sent.sent} broken packets in 35 s; h1 checked `
      + `${s1.counters.dropped['bad-auth'] - bad0} of them; h2 on h1 each second: ${states.join(',')}`);
    expect(sent.sent).toBeGreaterThan(6000);
    expect(states.every((x) => x === 'alive')).toBe(true);
    expect(s1.counters.dropped['bad-auth'] - bad0).toBeGreaterThan(sent.sent * 0.9); // checked, not held back
  }, 90_000);
});

describe.skipIf(why)('a raw L2 flood from one MAC', () => {
  let lab: Lab;
  const h = (i: number): Host => lab.hosts[i - 1]!;

  beforeAll(async () => {
    // h1, h2: agents; h3: the outsider; h4: an agent whose NIC has no IPv4 address (raw L2 is its only way)
    lab = await Lab.create({ hosts: 4, noDhcp: [4], agentArgs: IPV4 });
    lab.startAgent(h(1));
    lab.startAgent(h(2));
    await lab.converged(20_000, [h(1), h(2)]);
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  it('does not keep a host without IPv4 from joining: the flooding MAC is dropped in the kernel, not the others',
    async () => {
    const file = join(lab.dir, 'h1-announcement');
    const id1 = (await lab.status(h(1))).node.id;
    expect(captureAnnouncement(lab, h(3), id1, file)).toEqual({ captured: 1 });
    const flood = lab.helperInBackground(h(3), 'outsider.mjs',
      ['flood', '--l2', 'eth0', '--file', file, '--seconds', '20', '--sources', '1', '--cpus', '0']);
    await flood.started;
    await sleep(1000); // the flood is on before the newcomer starts
    const t0 = Date.now();
    lab.startAgent(h(4));
    const s4 = await until('h4 to claim an address without IPv4', async () => {
      const s = await lab.tryStatus(h(4));
      return s?.node.addressState === 'established' ? s : undefined;
    }, 15_000);
    const seen = await until('h1 to know h4 over raw L2, during the flood', async () => {
      const s = await lab.tryStatus(h(1));
      return s?.peers.find((p) => p.id === s4.node.id && p.state === 'alive');
    }, 15_000);
    const joinedMs = Date.now() - t0;
    const raw1 = (await lab.status(h(1))).discovery.raw;
    flood.stop();
    const sent = (await flood.done) as { sent: number; pps: number };
    console.log(`raw L2 flood from one MAC at ${sent.pps} frames/s: h4 (no IPv4) joined h1 ${joinedMs} ms after `
      + `its agent started; h1 read ${raw1.received} raw frames of the ${sent.sent} sent`);
    expect(seen.overlayIp).toBe(s4.node.overlayIp);
    expect(sent.pps).toBeGreaterThan(2000); // above the old global read budget
    expect(raw1.received).toBeLessThan(sent.sent / 10); // the kernel dropped the flooder's frames
  }, 90_000);
});
