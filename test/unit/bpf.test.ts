// Unit: the raw L2 drop list's BPF program (discovery/bpf.ts): four instructions a MAC and two returns,
// jumps that land on the drop, and refusals of what it cannot hold (the kernel test runs it for real).
import { describe, expect, it } from 'vitest';
import { MAX_DROPPED_SOURCES, dropSources } from '../../src/discovery/bpf.js';

const insns = (b: Buffer): { code: number; jt: number; jf: number; k: number }[] =>
  Array.from({ length: b.length / 8 }, (_, i) =>
    ({ code: b.readUInt16LE(8 * i), jt: b[8 * i + 2]!, jf: b[8 * i + 3]!, k: b.readUInt32LE(8 * i + 4) }));

describe('drop list program', () => {
  it('is empty (no filter) for no source', () => {
    expect(dropSources([])).toHaveLength(0);
  });

  it('compares the source MAC (link layer, offset 6) of every frame against each listed one', () => {
    const p = insns(dropSources(['02:00:5e:00:00:01', 'aa:bb:cc:dd:ee:ff']));
    expect(p).toHaveLength(4 * 2 + 2);
    expect(p[0]).toEqual({ code: 0x20, jt: 0, jf: 0, k: (-0x200000 + 6) >>> 0 });
    expect(p[1]).toEqual({ code: 0x15, jt: 0, jf: 2, k: 0x02005e00 });
    expect(p[2]).toEqual({ code: 0x28, jt: 0, jf: 0, k: (-0x200000 + 10) >>> 0 });
    expect(p[3]).toEqual({ code: 0x15, jt: 5, jf: 0, k: 0x0001 }); // to the drop at 9
    expect(p[5]!.k).toBe(0xaabbccdd);
    expect(p[7]).toEqual({ code: 0x15, jt: 1, jf: 0, k: 0xeeff });
    expect(p[8]).toEqual({ code: 0x06, jt: 0, jf: 0, k: 0xffffffff }); // keep the whole frame
    expect(p[9]).toEqual({ code: 0x06, jt: 0, jf: 0, k: 0 }); // drop
  });

  it('holds at most MAX_DROPPED_SOURCES MACs (its jumps reach the drop) and refuses what is not a MAC', () => {
    const macs = Array.from({ length: MAX_DROPPED_SOURCES },
      (_, i) => `02:00:00:00:00:${i.toString(16).padStart(2, '0')}`);
    expect(insns(dropSources(macs))[3]!.jt).toBe(4 * MAX_DROPPED_SOURCES - 3);
    expect(() => dropSources([...macs, '02:00:00:00:01:00'])).toThrow(RangeError);
    expect(() => dropSources(['02:00:00:00:00'])).toThrow('not a MAC');
    expect(() => dropSources(['02:00:00:00:00:zz'])).toThrow('not a MAC');
  });
});
