// Layer: agent (composition root). Contract: builds every component of one
// agent, complete and in dependency order, from the state document read at
// start and the injected dependencies. Components hand what they want done
// back as Actions values: returned from a call, or through `emit` when a
// timer fires; nothing else reaches back to the agent.

import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { vipOf, type Ipv4 } from '../net/ipv4.js';
import type { Kernel } from '../kernel/types.js';
import type { Transport } from '../discovery/transport.js';
import type { Firewall } from '../firewall/types.js';
import type { Keyring } from '../wire/keyfile.js';
import type { StateStore } from '../state/store.js';
import { PeerTable } from '../peers/table.js';
import { Tombstones } from '../peers/tombstones.js';
import type { PersistedState } from '../state/schema.js';
import { bridgeMacFor } from '../state/identity.js';
import type { Ipv6 } from '../net/ipv6.js';
import type { AgentConfig } from './config.js';
import type { Emit } from './actions.js';
import { Addressing } from './addressing/claim.js';
import { Admission } from './trust/admission.js';
import { Announcer } from './messages/announcer.js';
import { UnderlayChoice } from './underlay/choice.js';
import { Counters } from './records/counters.js';
import { ForeignClusters } from './trust/foreign.js';
import { AuthGate } from './trust/gate.js';
import { Inbound } from './messages/inbound.js';
import { DataplaneLoop } from './loop.js';
import { Membership } from './membership/membership.js';
import { AgentState } from './records/persistence.js';
import { Relay } from './membership/relay.js';
import { Seeds } from './membership/seeds.js';
import { Sender, type Identity } from './messages/sender.js';
import { Tenure } from './addressing/tenure.js';
import { UnderlayWatcher, type UnderlayRead } from './underlay/watcher.js';

/** What an agent runs on: only main builds the real ones; tests give fakes. */
export interface AgentDeps {
  kernel: Kernel;
  transport: Transport;
  clock: Clock;
  store: StateStore;
  log: Logger;
  keys: Keyring;
  random: () => number;
  /** VXLAN ingress filter (nftables); absent: the overlay is unfiltered */
  firewall?: Firewall | undefined;
}

/** Where the parts' news goes: Actions (see actions.ts), and each read of the physical interface. */
export interface Sinks {
  emit: Emit;
  underlayRead(read: UnderlayRead): void;
}

export interface Parts {
  identity: Identity;
  vip: Ipv4;
  counters: Counters;
  state: AgentState;
  membership: Membership;
  foreign: ForeignClusters;
  underlay: UnderlayWatcher;
  choice: UnderlayChoice;
  sender: Sender;
  seeds: Seeds;
  addressing: Addressing;
  announcer: Announcer;
  inbound: Inbound;
  admission: Admission;
  loop: DataplaneLoop;
}

export function compose(config: AgentConfig, d: AgentDeps, doc: PersistedState, sinks: Sinks): Parts {
  const { clock, log, transport, kernel } = d;
  const { emit } = sinks;
  const t = config.timings;
  const identity: Identity = {
    cluster: config.cluster, nodeId: doc.nodeId, cidr: config.cidr, vni: config.vni, mac: bridgeMacFor(doc.nodeId),
  };
  const counters = new Counters();
  const peers = new PeerTable(t.staleAfterMs);
  peers.load(doc.peers.filter((p) => p.id !== doc.nodeId), clock.monotonic());
  peers.floors.load(doc.floors ?? []);
  const tombstones = new Tombstones();
  tombstones.load(doc.forgotten ?? []);
  const tenure = new Tenure(clock);
  const state = new AgentState(doc, {
    store: d.store, clock, log, persistDelayMs: t.persistDelayMs, sources: { peers, tombstones, tenure },
  });
  const underlay = new UnderlayWatcher({
    kernel, transport, iface: config.interface, clock, log, counters, retryMs: t.retryMs,
    lastLinkLocal: doc.linkLocal as Ipv6 | undefined, onRead: sinks.underlayRead,
  });
  const membership = new Membership({ clock, log, peers, tombstones, relay: new Relay(peers), counters, emit });
  const seeds = new Seeds(config.seeds);
  const sender = new Sender({
    identity, transport, clock, counters, peers, nextSeq: () => state.nextSeq(), discoveryPort: config.discoveryPort,
    keys: d.keys, seeds,
  });
  const addressing = new Addressing({
    clock, log, cidr: config.cidr, nodeId: identity.nodeId, peers, timings: t, random: d.random,
    pinned: config.pinnedIp, send: sender, claims: state, tenure, counters, emit,
  });
  const admission = new Admission({ clock, log, floors: peers.floors, emit });
  const foreign = new ForeignClusters({ ours: config.cidr, clock, log, counters });
  const inbound = new Inbound({
    self: identity, keyring: sender, clock, log, counters, foreign, gate: new AuthGate(clock), admission, membership,
    addressing, seqs: state,
  });
  const spec = {
    iface: config.interface, bridge: config.bridge, vxlanDevice: config.vxlanDevice, vni: config.vni,
    vxlanPort: config.vxlanPort, mac: identity.mac, cidr: config.cidr, vip: vipOf(config.cidr),
  };
  return {
    identity, vip: spec.vip, counters, state, membership, foreign, underlay, sender, seeds, addressing, inbound,
    admission, choice: new UnderlayChoice({ clock, log, counters, emit }),
    announcer: new Announcer({ clock, sender, claim: addressing, timings: t, random: d.random }),
    loop: new DataplaneLoop({ kernel, firewall: d.firewall, clock, log, counters, retryMs: t.retryMs, spec }),
  };
}
