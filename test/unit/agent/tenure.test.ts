// Unit: how long this host has held its claim (agent/addressing/tenure.ts): monotonic time, carried over restarts.
import { describe, expect, it } from 'vitest';
import { Tenure } from '../../../src/agent/addressing/tenure.js';
import { FakeClock } from '../../fakes/clock.js';

describe('tenure', () => {
  it('is undefined until a claim is held', async () => {
    const clock = new FakeClock();
    const t = new Tenure(clock);
    await clock.advance(5000);
    expect(t.heldMs).toBeUndefined();
  });

  it('counts from the held time of an earlier run on the monotonic clock', async () => {
    const clock = new FakeClock();
    const t = new Tenure(clock);
    t.begin(7000);
    expect(t.heldMs).toBe(7000);
    await clock.advance(2500);
    expect(t.heldMs).toBe(9500);
  });

  it('ignores wall clock steps (an RTC reset or an NTP correction)', async () => {
    const clock = new FakeClock();
    const t = new Tenure(clock);
    t.begin(0);
    clock.stepWall(-86_400_000);
    await clock.advance(1000);
    clock.stepWall(3_600_000);
    expect(t.heldMs).toBe(1000);
  });

  it('ends with the claim, and a new claim starts from its own held time', async () => {
    const clock = new FakeClock();
    const t = new Tenure(clock);
    t.begin(100);
    await clock.advance(1000);
    t.end();
    expect(t.heldMs).toBeUndefined();
    await clock.advance(1000);
    t.begin(0);
    await clock.advance(300);
    expect(t.heldMs).toBe(300);
  });
});
