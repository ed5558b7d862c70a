// Unit: SingleFlight runs one task at a time and folds wake-ups during a run into one more run.
import { describe, expect, it } from 'vitest';
import { SingleFlight } from '../../src/util/singleflight.js';
import { flush } from '../fakes/clock.js';

describe('single flight', () => {
  it('merges any number of wake-ups during a run into one more run', async () => {
    let runs = 0;
    let release: () => void = () => {};
    const f = new SingleFlight(async () => {
      runs++;
      await new Promise<void>((r) => { release = r; });
    }, () => {});
    f.request();
    for (let i = 0; i < 100; i++) f.request();
    release();
    await flush();
    release();
    await f.idle();
    expect(runs).toBe(2);
  });
});
