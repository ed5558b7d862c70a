// Layer: agent (composition root). Contract: builds every component of one
// agent, complete and in dependency order, from the state document read at
// start and the injected dependencies. Components reach back to the agent
// only through the typed `AgentHooks`.

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
import { desiredState } from '../dataplane/desired.js';
import type { AgentConfig } from './config.js';
import { Addressing, type AddressingEvents } from './addressing.js';
import { Admission } from './admission.js';
import { Announcer } from './announcer.js';
import { UnderlayChoice } from './choice.js';
import { capable, type OwnFacts } from './family.js';
import { Caps } from '../wire/messages.js';
import { Counters } from './counters.js';
import { ForeignClusters } from './foreign.js';
import { AuthGate } from './gate.js';
import { Inbound } from './inbound.js';
import { DataplaneLoop } from './loop.js';
import { Membership } from './membership.js';
import { AgentState } from './persistence.js';
import { Relay } from './relay.js';
import { Seeds } from './seeds.js';
import { Sender, type FamilyView, type Identity } from './sender.js';
import { Tenure } from './tenure.js';
import { UnderlayWatcher, type UnderlayRead } from './underlay.js';

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

/** How components reach the agent: claim changes, every read of the physical interface, the family choice's changes. */
export interface AgentHooks extends AddressingEvents {
  underlayRead(read: UnderlayRead): void;
  familyChanged(what: { family: boolean; ready: boolean }): void;
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
  /** what this host knows of its own IPv6 (the family choice's input) */
  ownFacts(): OwnFacts;
  sender: Sender;
  seeds: Seeds;
  addressing: Addressing;
  announcer: Announcer;
  inbound: Inbound;
  admission: Admission;
  loop: DataplaneLoop;
}

export function compose(config: AgentConfig, d: AgentDeps, doc: PersistedState, hooks: AgentHooks): Parts {
  const { clock, log, transport, kernel } = d;
  const t = config.timings;
  const identity: Identity = { cluster: config.cluster, nodeId: doc.nodeId, cidr: config.cidr, vni: config.vni, mac: bridgeMacFor(doc.nodeId) };
  const vip = vipOf(config.cidr);
  const counters = new Counters();
  const peers = new PeerTable(t.staleAfterMs);
  peers.load(doc.peers.filter((p) => p.id !== doc.nodeId), clock.monotonic());
  peers.floors.load(doc.floors ?? []);
  const tombstones = new Tombstones();
  tombstones.load(doc.forgotten ?? []);
  const tenure = new Tenure(clock);
  const state = new AgentState(doc, { store: d.store, clock, log, persistDelayMs: t.persistDelayMs, sources: { peers, tombstones, tenure } });
  const underlay = new UnderlayWatcher({
    kernel, transport, iface: config.interface, clock, log, counters, retryMs: t.retryMs, onRead: (c) => hooks.underlayRead(c),
  });
  const relay = new Relay({ transport, peers, underlay, discoveryPort: config.discoveryPort, counters });
  const membership = new Membership({ clock, log, peers, tombstones, relay, counters });
  const foreign = new ForeignClusters({ ours: config.cidr, clock, log, counters });
  const seeds = new Seeds(config.seeds);
  const ownFacts = (): OwnFacts => ({
    setting: config.underlay, ipv6: underlay.ipv6, linkLocal: underlay.linkLocal ?? state.linkLocal, seeds: seeds.list.length > 0,
  });
  const choice = new UnderlayChoice({
    clock, log, own: ownFacts, peers: (now) => peers.facts(now), nextVerdict: (now) => peers.nextL2Verdict(now),
    changed: (what) => hooks.familyChanged(what),
  });
  const family: FamilyView = {
    get linkLocal() { return ownFacts().linkLocal; },
    get caps() { return capable(ownFacts()) ? Caps.linkLocal : 0; },
    get ready() { return choice.isReady; },
  };
  const sender = new Sender({
    identity, transport, clock, counters, underlay, peers, nextSeq: () => state.nextSeq(), discoveryPort: config.discoveryPort,
    keys: d.keys, seeds, family,
  });
  const addressing = new Addressing({
    clock, log, cidr: config.cidr, nodeId: identity.nodeId, peers, timings: t, random: d.random, pinned: config.pinnedIp,
    send: sender, claims: state, tenure, events: hooks,
  });
  const announcer = new Announcer({ clock, sender, claim: addressing, timings: t, random: d.random });
  const admission = new Admission({ clock, log, floors: peers.floors, send: sender });
  const inbound = new Inbound({
    self: identity, keys: () => sender.keys, clock, log, counters, foreign, gate: new AuthGate(clock), admission, membership,
    addressing, announcer, sender, ownSeqRange: () => [state.firstSeq, state.lastSeq],
  });
  const loop = new DataplaneLoop({
    kernel, firewall: d.firewall, clock, log, counters, retryMs: t.retryMs,
    spec: {
      iface: config.interface, bridge: config.bridge, vxlanDevice: config.vxlanDevice, vni: config.vni, vxlanPort: config.vxlanPort,
      mac: identity.mac, cidr: config.cidr, vip,
    },
    // read at the start of every run: the peers, our claim and our underlay as they are then
    desired: () => desiredState({
      ...membership.view(), seeds: seeds.addresses(), ownIp: addressing.ip, underlay: underlay.address, family: choice.current.family,
      linkLocal: ownFacts().linkLocal,
    }),
  });
  return {
    identity, vip, counters, state, membership, foreign, underlay, choice, ownFacts, sender, seeds, addressing, announcer, inbound, admission, loop,
  };
}
