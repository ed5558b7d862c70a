import { describe, expect, it } from 'vitest';
import { NftFirewall, setScript, tableScript } from '../../src/firewall/nft.js';
import { setBatch } from '../../src/kernel/netlink/nftables.js';
import { parseIpv4 } from '../../src/net/ipv4.js';

const ip = (s: string): number => parseIpv4(s)!;

describe('nftables filter', () => {
  it('declares one idempotent table that drops VXLAN from anyone but the peers', () => {
    const t = tableScript('eth0', 4789, [ip('10.0.0.2'), ip('10.0.0.3')]);
    expect(t).toContain('flush table ip edge_overlay');
    expect(t).toContain('iifname "eth0" udp dport 4789 fib daddr type local ip saddr != @peers counter name dropped drop');
    expect(t).toContain('add element ip edge_overlay peers { 10.0.0.2, 10.0.0.3 }');
    expect(setScript([])).toBe('flush set ip edge_overlay peers\n'); // no peers: nobody may send VXLAN
  });

  it('installs with nft once, then updates through the fast writer, and falls back to nft when that fails', async () => {
    const calls: string[] = [];
    const run = async (args: string[], input?: string): Promise<string> => {
      calls.push(`${args.join(' ')}${input ? `: ${input.split('\n')[1]}` : ''}`);
      return args.includes('counter') ? '{"nftables":[{"counter":{"packets":7}}]}' : '';
    };
    let fastOk = true;
    const fast: string[] = [];
    const fw = new NftFirewall('eth0', 4789, run, {
      replace: async (_t, _s, els) => {
        if (!fastOk) throw new Error('errno 2');
        fast.push(els.join(','));
      },
    });
    await fw.apply([ip('10.0.0.2')]);
    expect(calls[0]).toBe('-f -: flush table ip edge_overlay');
    await fw.apply([ip('10.0.0.2')]); // unchanged: nothing to do
    await fw.apply([ip('10.0.0.3'), ip('10.0.0.2')]);
    expect(fast).toEqual([`${ip('10.0.0.2')},${ip('10.0.0.3')}`]);
    fastOk = false; // someone deleted our table
    await fw.apply([ip('10.0.0.4')]);
    expect(calls.filter((c) => c.startsWith('-f -: flush table')).length).toBe(2); // reinstalled whole
    await fw.refresh(); // reads the counter
    await fw.refresh();
    expect(fw.report()).toMatchObject({ mode: 'filtered', allowed: 1, droppedPackets: 7 });
    expect(calls.filter((c) => c.includes('counter')).length).toBe(1); // not again within 2 s
  });

  it('reports "unfiltered" with the reason when nft is missing, and does not repeat the error', async () => {
    const fw = new NftFirewall('eth0', 4789, async () => { throw new Error('nft is not installed (Debian package nftables)'); });
    await expect(fw.apply([1])).rejects.toThrow('nft is not installed');
    await fw.apply([2]); // same failure: reported once
    expect(fw.report()).toEqual({ mode: 'unfiltered', allowed: 0, droppedPackets: 0, error: 'nft is not installed (Debian package nftables)' });
  });

  it('builds one atomic nf_tables batch: begin, flush, add, end', () => {
    const b = setBatch('edge_overlay', 'peers', [ip('10.0.0.2')], 100);
    const types: number[] = [];
    for (let off = 0; off < b.length;) {
      types.push(b.readUInt16LE(off + 4));
      off += b.readUInt32LE(off);
    }
    expect(types).toEqual([0x10, (10 << 8) | 14, (10 << 8) | 12, 0x11]);
    expect(b.includes(Buffer.from([10, 0, 0, 2]))).toBe(true);
    expect(b.includes(Buffer.from('edge_overlay\0'))).toBe(true);
  });
});
