// Unit: agent/membership/seeds.ts: literal and resolved seed addresses; refresh() reports changes, keeps failing names.
import { describe, expect, it } from 'vitest';
import { Seeds } from '../../../src/agent/membership/seeds.js';
import { parseIpv4 } from '../../../src/net/ipv4.js';

const ip = (s: string): number => parseIpv4(s)!;
const seed = (address: string, port = 9477): { address: string; port: number } => ({ address, port });

/** A resolver answering from a table the test changes; a missing name fails, as ENOTFOUND would. */
function resolver(): { answers: Map<string, string[]>; asked: string[]; resolve: (h: string) => Promise<string[]> } {
  const answers = new Map<string, string[]>();
  const asked: string[] = [];
  const resolve = async (h: string): Promise<string[]> => {
    asked.push(h);
    const a = answers.get(h);
    if (!a) throw new Error(`getaddrinfo ENOTFOUND ${h}`);
    return a;
  };
  return { answers, asked, resolve };
}

describe('seeds', () => {
  it('lists the endpoints as given; set() replaces them', () => {
    const s = new Seeds([seed('192.0.2.1'), seed('seed.example', 9000)], resolver().resolve);
    expect(s.list).toEqual([seed('192.0.2.1'), seed('seed.example', 9000)]);
    s.set([seed('198.51.100.2')]);
    expect(s.list).toEqual([seed('198.51.100.2')]);
  });

  it('gives literal addresses at once, without asking the resolver', async () => {
    const r = resolver();
    const s = new Seeds([seed('192.0.2.1'), seed('192.0.2.2', 9000)], r.resolve);
    expect(s.addresses()).toEqual([ip('192.0.2.1'), ip('192.0.2.2')]);
    expect(await s.refresh()).toBe(false);
    expect(r.asked).toEqual([]);
  });

  it('resolves host names through the resolver on refresh(), keeping the order of the seeds', async () => {
    const r = resolver();
    r.answers.set('a.example', ['203.0.113.1', '203.0.113.2']);
    const s = new Seeds([seed('a.example'), seed('192.0.2.1')], r.resolve);
    expect(s.addresses()).toEqual([ip('192.0.2.1')]); // not resolved yet
    expect(await s.refresh()).toBe(true);
    expect(r.asked).toEqual(['a.example']);
    expect(s.addresses()).toEqual([ip('203.0.113.1'), ip('203.0.113.2'), ip('192.0.2.1')]);
  });

  it('refresh() is true only when an address changed', async () => {
    const r = resolver();
    r.answers.set('a.example', ['203.0.113.1']);
    const s = new Seeds([seed('a.example')], r.resolve);
    expect(await s.refresh()).toBe(true);
    expect(await s.refresh()).toBe(false);
    r.answers.set('a.example', ['203.0.113.9']);
    expect(await s.refresh()).toBe(true);
    expect(s.addresses()).toEqual([ip('203.0.113.9')]);
    expect(await s.refresh()).toBe(false);
    r.answers.set('a.example', ['203.0.113.9', '203.0.113.10']);
    expect(await s.refresh()).toBe(true);
  });

  it('a name that stops resolving keeps its last addresses, and that is no change', async () => {
    const r = resolver();
    r.answers.set('a.example', ['203.0.113.1']);
    const s = new Seeds([seed('a.example')], r.resolve);
    await s.refresh();
    r.answers.delete('a.example');
    expect(await s.refresh()).toBe(false);
    expect(s.addresses()).toEqual([ip('203.0.113.1')]);
    r.answers.set('a.example', ['203.0.113.1']);
    expect(await s.refresh()).toBe(false); // back, the same
  });

  it('drops what the resolver gives that is not an IPv4 address', async () => {
    const r = resolver();
    r.answers.set('a.example', ['2001:db8::1', '203.0.113.1', 'garbage']);
    const s = new Seeds([seed('a.example')], r.resolve);
    await s.refresh();
    expect(s.addresses()).toEqual([ip('203.0.113.1')]);
  });

  it('a name removed by set() is a change at the next refresh, and its addresses are gone', async () => {
    const r = resolver();
    r.answers.set('a.example', ['203.0.113.1']);
    r.answers.set('b.example', ['203.0.113.2']);
    const s = new Seeds([seed('a.example'), seed('b.example')], r.resolve);
    await s.refresh();
    s.set([seed('b.example')]);
    expect(s.addresses()).toEqual([ip('203.0.113.2')]);
    expect(await s.refresh()).toBe(true);
    expect(await s.refresh()).toBe(false);
  });

  // A name that does not resolve changes no address (none before, none after): no needless full reconcile at start.
  it('a name that never resolved is no change either', async () => {
    const s = new Seeds([seed('nowhere.example')], resolver().resolve);
    expect(s.addresses()).toEqual([]);
    expect(await s.refresh()).toBe(false);
    expect(s.addresses()).toEqual([]);
  });
});
