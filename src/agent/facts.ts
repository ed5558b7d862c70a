// Layer: agent (derived values). Contract: pure functions from the parts'
// state and our underlay snapshot to the values the rest of the agent is
// given: what this host knows of its own IPv6 (the family choice's input),
// what our announcements say about the family, and the Desired dataplane.

import { Caps } from '../wire/messages.js';
import { capable, type OwnFacts } from '../policy/family.js';
import { desiredState, type Desired } from '../dataplane/desired.js';
import type { AgentConfig } from './config.js';
import type { Parts } from './compose.js';
import type { FamilyView } from './messages/sender.js';
import { addressOf, type UnderlaySnapshot } from './underlay/watcher.js';

export function ownFacts(config: AgentConfig, lan: UnderlaySnapshot, seeds: number): OwnFacts {
  return { setting: config.underlay, ipv6: lan.ipv6, linkLocal: lan.lastLinkLocal, seeds: seeds > 0 };
}

/** What our announcements say: our link-local address, the capability bit, our readiness. */
export function familyView(own: OwnFacts, ready: boolean): FamilyView {
  return { linkLocal: own.linkLocal, caps: capable(own) ? Caps.linkLocal : 0, ready };
}

/** What the dataplane should hold, from the parts' state now. */
export function desiredOf(p: Parts, lan: UnderlaySnapshot): Desired {
  return desiredState({
    ...p.membership.view(), seeds: p.seeds.addresses(), ownIp: p.addressing.ip, underlay: addressOf(lan),
    lastUnderlay: lan.lastAddress,
    family: p.choice.current.family, linkLocal: lan.lastLinkLocal,
  });
}
