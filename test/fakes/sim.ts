// Simulation harness (test/fakes: the real Agent on the fakes beside it;
// used by test/sim and unit tests): many agents, each with a fake kernel and
// an in-memory state file, on one fake LAN, driven by one fake clock.
// Deterministic for a given seed. Every host's NIC has a MAC of its own; raw
// L2 discovery is opt-in (SimOptions.rawL2), an ingress filter per host
// (HostOptions).

import { randomBytes } from 'node:crypto';
import { Agent } from '../../src/agent/agent.js';
import { DEFAULT_TIMINGS, type AgentConfig } from '../../src/agent/config.js';
import { parseCidr, parseIpv4, formatIpv4, type Cidr } from '../../src/net/ipv4.js';
import { StateStore } from '../../src/state/store.js';
import { parseKeyText, type Keyring } from '../../src/wire/keyfile.js';
import { FakeClock, HostClock } from './clock.js';
import { FakeKernel } from './kernel.js';
import { FakeFirewall } from './firewall.js';
import { FakeLan, type FakeTransport } from './network.js';
import { MemoryStateFs } from './state.js';
import { captureLog, type CapturedLog } from './log.js';
import { agentConfig } from './agent.js';

export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SimHost {
  name: string;
  kernel: FakeKernel;
  transport: FakeTransport;
  fs: MemoryStateFs;
  physIndex: number;
  /** the NIC's IPv4 address ('' while it has none) */
  underlay: string;
  /** the NIC's MAC (distinct per host: raw L2 frames come from it) */
  mac: string;
  /** the agent's ingress filter, if it has one (logs to kernel.ops) */
  firewall: FakeFirewall | undefined;
  agent: Agent | undefined;
  logs: CapturedLog;
  config: AgentConfig;
  /** the keyring this host's agent starts with (defaults to the cluster's) */
  keys: Keyring | undefined;
  /** this host's clock: the simulation's time, with a wall clock of its own (stepWall) */
  clock: HostClock;
}

export interface SimOptions {
  /**
   * The LAN also carries raw L2 frames, as the real transport sends them.
   * Off by default: with it, a host that loses its IPv4 address can still
   * send, so it no longer abandons a probe (security.test.ts expects that).
   */
  rawL2?: boolean;
}

export interface HostOptions {
  /** L2 segment (default 0) */
  segment?: number;
  /** give the agent a fake ingress filter writing to the kernel's op log */
  firewall?: boolean;
  /** IPv6 on the NIC (default on: it has its EUI-64 link-local address) */
  ipv6?: boolean;
}

export class Sim {
  readonly clock = new FakeClock();
  readonly lan: FakeLan;
  /** the cluster's keyring; tests replace it to rotate keys */
  keys: Keyring = parseKeyText(randomBytes(32).toString('hex'), 'sim');
  readonly random: () => number;
  readonly hosts: SimHost[] = [];
  readonly cidr: Cidr;

  constructor(seed = 1, cidr = '100.64.192.0/24', opts: SimOptions = {}) {
    this.random = seededRandom(seed);
    this.lan = new FakeLan(this.clock);
    this.lan.raw = opts.rawL2 ?? false;
    this.cidr = parseCidr(cidr) as Cidr;
  }

  /** A host whose eth0 has `underlay`/24 (undefined: no address yet, as before DHCP answers). */
  addHost(name: string, underlay: string | undefined, overrides: Partial<AgentConfig> = {},
    opts: HostOptions = {}): SimHost {
    const kernel = new FakeKernel();
    const transport = this.lan.join();
    if (opts.segment !== undefined) this.lan.segments.set(transport, opts.segment);
    const physIndex = kernel.addPhysical('eth0', 1500, transport.mac, { ipv6: opts.ipv6 ?? true });
    if (underlay !== undefined) void kernel.addAddr(physIndex, parseIpv4(underlay)!, 24);
    const host: SimHost = {
      name, kernel, transport, fs: new MemoryStateFs(), physIndex, underlay: underlay ?? '', mac: transport.mac,
      firewall: opts.firewall ? new FakeFirewall(kernel.ops) : undefined, agent: undefined, logs: captureLog(),
      keys: undefined, clock: new HostClock(this.clock),
      config: agentConfig({
        cluster: 'sim', cidr: this.cidr, discoveryPort: this.lan.port, stateDir: `/sim/${name}`, runDir: `/run/${name}`,
        timings: { ...DEFAULT_TIMINGS },
        // IPv4 unless a test asks for more: most sims are about IPv4 renumbering (family.test.ts covers auto)
        underlay: 'ipv4', ...overrides,
      }),
    };
    this.hosts.push(host);
    return host;
  }

  host(name: string): SimHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  async start(h: SimHost): Promise<Agent> {
    h.transport.closed = false;
    const agent = Agent.create(h.config, {
      kernel: h.kernel, transport: h.transport, clock: h.clock, store: new StateStore(h.config.stateDir, h.fs),
      log: h.logs.log, keys: h.keys ?? this.keys, random: this.random, firewall: h.firewall,
    });
    h.agent = agent;
    await agent.start();
    return agent;
  }

  async stop(h: SimHost): Promise<void> {
    await h.agent?.stop();
    h.agent = undefined;
    h.transport.closed = true; // the process is gone: nothing is received
    h.transport.handler = undefined;
  }

  /** DHCP gave the host a new address: the old one (if any) goes, the new one comes. */
  async renumber(h: SimHost, next: string): Promise<void> {
    if (h.underlay) h.kernel.removeAddr(h.physIndex, parseIpv4(h.underlay)!, 24);
    await h.kernel.addAddr(h.physIndex, parseIpv4(next)!, 24);
    h.underlay = next;
  }

  async run(ms: number): Promise<void> {
    await this.clock.advance(ms);
  }

  overlayIps(): (string | undefined)[] {
    return this.hosts.map((h) => (h.agent?.overlayIp === undefined ? undefined : formatIpv4(h.agent.overlayIp)));
  }
}

/** A simulation of n hosts h1..hn on 10.0.0.11.., all started and given 3 s to form the cluster. */
export async function startedSim(n: number, seed = 1, cidr?: string, opts: SimOptions = {}): Promise<Sim> {
  const sim = new Sim(seed, cidr, opts);
  for (let i = 1; i <= n; i++) sim.addHost(`h${i}`, `10.0.0.${10 + i}`);
  for (const h of sim.hosts) await sim.start(h);
  await sim.run(3000);
  return sim;
}
