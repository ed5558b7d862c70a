// Integration: the real netlink layer and the raw L2 drop list (a BPF socket
// filter) against the real kernel, inside a throwaway network namespace (the
// child process runs in it).
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { labUnavailable } from '../lab/lab.js';

const why = labUnavailable();
if (why) console.warn(`SKIPPED kernel integration tests: ${why}`);

function inNamespace(script: string): string {
  const ns = `eo${randomBytes(2).toString('hex')}-k`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    return execFileSync('ip', ['netns', 'exec', ns, process.execPath, fileURLToPath(new URL(script, import.meta.url))],
      { encoding: 'utf8', timeout: 60_000 });
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
}

describe.skipIf(why)('raw L2 drop list on the real kernel', () => {
  it('drops the frames of a listed source MAC before they are queued, and only those', () => {
    const out = JSON.parse(inNamespace('./children/raw-filter-probe.mjs').trim().split('\n').at(-1)!);
    const five = (mac: string): string[] => Array(5).fill(mac);
    expect(out.before).toEqual(five('02:00:00:00:00:01'));
    expect(out.attach).toBe(0);
    expect(out.listed).toEqual([]);
    expect(out.other).toEqual(five('02:00:00:00:00:02'));
    expect(out.detach).toBe(0);
    expect(out.after).toEqual(five('02:00:00:00:00:01'));
  });
});

describe.skipIf(why)('netlink layer on the real kernel', () => {
  const out = JSON.parse(inNamespace('./children/kernel-probe.mjs').trim().split('\n').at(-1)!);

  it('creates the bridge and VXLAN device once, then changes nothing', () => {
    expect(out.first)
      .toEqual([['created', 'set up'], ['created', expect.stringMatching(/^master none -> \d+$/), 'set up']]);
    expect(out.second).toEqual([[], []]);
    expect(out.addr1).toEqual(['added 100.64.192.9/24']);
    expect(out.addr2).toEqual([]);
  });

  it('builds the VXLAN device as specified: VNI 100, port 4789, nolearning, bound to eth0, MTU physical - 50', () => {
    expect(out.vxlan).toMatchObject({ vni: 100, port: 4789, learning: false });
    expect(out.vxlan.local).toBeUndefined();
    expect(out.mtus).toEqual([8950, 8950]);
    expect(out.ipLinkShow).toMatch(/vxlan id 100 dev eth0 .*dstport 4789 nolearning/);
  });

  it('gets ENOTSUP with errno and op when replacing the all-zeros entry', () => {
    expect(out.zeroReplace)
      .toEqual({ code: 'E_KERNEL', errname: 'ENOTSUP', errno: 95, op: 'fdb replace 00:00:00:00:00:00 dst 10.9.0.4' });
  });

  it('moves a peer by appending the new flood destination and deleting the old one', () => {
    const [ops1, failed1, ops2, failed2] = out.apply;
    expect(failed1).toEqual([]);
    expect(failed2).toEqual([]);
    expect(ops1).toContain('fdb append 00:00:00:00:00:00 dst 10.9.0.5');
    expect(ops2.indexOf('fdb append 00:00:00:00:00:00 dst 10.9.0.6'))
      .toBeLessThan(ops2.indexOf('fdb del 00:00:00:00:00:00 dst 10.9.0.5'));
    expect(out.fdbAfter).toContain('00:00:00:00:00:00 dst 10.9.0.6 self permanent');
    expect(out.fdbAfter).toContain('02:00:00:00:00:05 dst 10.9.0.6 self permanent');
    expect(out.fdbAfter).not.toContain('10.9.0.5');
  });

  it('survives a netlink receive overrun (10,000 events into a 4 KiB buffer) and reports it for a resync', () => {
    expect(out.storm.resync).toBeGreaterThanOrEqual(1);
    expect(out.afterStorm).toBeGreaterThan(out.storm.events); // the socket still delivers events
  });
});
