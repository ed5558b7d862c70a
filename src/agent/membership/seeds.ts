// Layer: agent (unicast seeds). Contract: the seeds given with --peer
// HOST[:PORT] and their IPv4 addresses, which the ingress filter lets send
// discovery: literal addresses as given, host names resolved at start, on
// every resync and on reload (the sender resolves them at each send anyway).

import { lookup } from 'node:dns/promises';
import { parseIpv4, type Ipv4 } from '../../net/ipv4.js';
import type { Endpoint } from '../../discovery/transport.js';

export type Resolver = (host: string) => Promise<string[]>;

const resolveAll: Resolver = async (host) => (await lookup(host, { all: true, family: 4 })).map((a) => a.address);

export class Seeds {
  private names = new Map<string, Ipv4[]>();

  constructor(private endpoints: Endpoint[], private readonly resolve: Resolver = resolveAll) {}

  get list(): Endpoint[] {
    return this.endpoints;
  }

  set(endpoints: Endpoint[]): void {
    this.endpoints = endpoints;
  }

  /** The seeds' addresses as last resolved. */
  addresses(): Ipv4[] {
    const out: Ipv4[] = [];
    for (const e of this.endpoints) {
      const ip = parseIpv4(e.address);
      if (ip !== undefined) out.push(ip);
      else out.push(...(this.names.get(e.address) ?? []));
    }
    return out;
  }

  /**
   * Resolves the host names again; true when any address changed. A name that does not resolve keeps its last
   * addresses.
   */
  async refresh(): Promise<boolean> {
    let changed = false;
    const next = new Map<string, Ipv4[]>();
    for (const e of this.endpoints) {
      if (parseIpv4(e.address) !== undefined) continue;
      const old = this.names.get(e.address) ?? [];
      const got = await this.resolve(e.address)
        .then((xs) => xs.map(parseIpv4).filter((x): x is Ipv4 => x !== undefined), () => old);
      if (got.join() !== old.join()) changed = true;
      next.set(e.address, got);
    }
    for (const [name, old] of this.names) if (!next.has(name) && old.length > 0) changed = true; // a seed removed
    this.names = next;
    return changed;
  }
}
