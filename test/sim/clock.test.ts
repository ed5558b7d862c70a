// Simulation: wall clocks that jump. Edge boxes lose their RTC in a power cut
// and NTP steps them later, by hours; an admin sets the date by hand. Nothing
// the agent decides may depend on wall clocks agreeing or moving forward:
// liveness runs on the monotonic clock, replay protection on sequence
// numbers (whose floor is persisted), conflicts on monotonic held time.

import { describe, expect, it } from 'vitest';
import { formatIpv4 } from '../../src/net/ipv4.js';
import { startedSim, type SimHost } from '../fakes/sim.js';

const HOUR = 3_600_000;

const peerOf = (h: SimHost, id: string) => h.agent!.status().peers.find((p) => p.id === id)!;

describe('wall clock steps', () => {
  it('keeps accepting a host whose clock jumps hours forward and back, and still drops replays', async () => {
    const sim = await startedSim(3, 11);
    const [h1, h2, h3] = sim.hosts as [SimHost, SimHost, SimHost];
    const id1 = h1.agent!.nodeId;
    const ips = sim.overlayIps();
    const oldPacket = sim.lan.captured.filter((c) => c.from === h1.underlay).at(-1)!.packet;
    const drops = (h: SimHost): number => h.agent!.counters.dropped.replay + h.agent!.counters.dropped['bad-auth'];
    const before = [drops(h2), drops(h3)];

    for (const step of [3 * HOUR, -6 * HOUR]) {
      h1.clock.stepWall(step);
      const seen = h2.agent!.counters.receivedByType.announce;
      await sim.run(12_000);
      for (const h of [h2, h3]) {
        const p = peerOf(h, id1);
        expect(p.state).toBe('alive');
        expect(p.lastSeenMs).toBeLessThan(6000);
        // reported, not held against it
        expect(Math.abs(p.clockSkewMs! - h1.clock.now() + h.clock.now())).toBeLessThan(100);
      }
      expect(h2.agent!.counters.receivedByType.announce).toBeGreaterThan(seen);
      expect([drops(h2), drops(h3)]).toEqual(before);
    }
    // a packet from before the steps is still a replay, whatever its timestamp says
    sim.lan.inject(oldPacket, '10.0.0.99');
    await sim.run(100);
    expect(h2.agent!.counters.dropped.replay).toBe(before[0]! + 1);
    expect(sim.overlayIps()).toEqual(ips);
  });

  it('expires nothing when a host\'s own clock jumps two days ahead', async () => {
    const sim = await startedSim(3, 12);
    const [h1] = sim.hosts as [SimHost, SimHost, SimHost];
    const fdb = h1.kernel.fdbOf('scvx-100').length;
    h1.clock.stepWall(48 * HOUR);
    await sim.run(30_000);
    expect(h1.agent!.status().peers.map((p) => p.state)).toEqual(['alive', 'alive']);
    expect(h1.kernel.fdbOf('scvx-100').length).toBe(fdb);
    expect(h1.logs.lines.some((l) => /stale/.test(String(l.msg)))).toBe(false);
  });

  it('restarts with its clock set back by hours and is still heard (sequence numbers never go back)', async () => {
    const sim = await startedSim(3, 13);
    const [h1, h2] = sim.hosts as [SimHost, SimHost, SimHost];
    const ip = h1.agent!.overlayIp;
    await sim.stop(h1);
    h1.clock.stepWall(-5 * HOUR); // the RTC lost 5 hours while it was off
    await sim.start(h1);
    const seen = h2.agent!.counters.receivedByType.announce;
    await sim.run(6000);
    expect(h1.agent!.overlayIp).toBe(ip);
    expect(h2.agent!.counters.receivedByType.announce).toBeGreaterThan(seen);
    expect(h2.agent!.counters.dropped.replay).toBe(0);
    expect(peerOf(h2, h1.agent!.nodeId).lastSeenMs).toBeLessThan(6000);
  });

  it('a forgotten host whose clock was reset claims a new address once, instead of being told to forget it forever',
    async () => {
    const sim = await startedSim(3, 14);
    const [h1, h2, h3] = sim.hosts as [SimHost, SimHost, SimHost];
    const deadIp = h3.agent!.overlayIp!;
    const deadId = h3.agent!.nodeId;
    await sim.stop(h3);
    await sim.run(21_000);
    h1.agent!.forget(deadId, false);
    await sim.run(500);
    h3.clock.stepWall(-24 * HOUR); // back on a clock a day behind the claim that was released
    await sim.start(h3);
    await sim.run(5000);
    const newIp = h3.agent!.overlayIp;
    expect(h3.agent!.status().node.addressState).toBe('established');
    expect(newIp).not.toBe(deadIp);
    const forgottenDrops = h1.agent!.counters.dropped.forgotten;
    await sim.run(15_000);
    expect(h3.agent!.overlayIp).toBe(newIp); // settled: not moving again and again
    expect(h1.agent!.counters.dropped.forgotten).toBe(forgottenDrops);
    for (const h of [h1, h2]) expect(peerOf(h, h3.agent!.nodeId).overlayIp).toBe(formatIpv4(newIp!));
    expect(h3.logs.lines.filter((l) => l.code === 'E_FORGOTTEN')).toHaveLength(1);
  });
});
