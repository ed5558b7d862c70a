// Layer: agent (the value a change flows as). Contract: what a component wants
// done after something happened — packets sent, our announcement scheduled,
// the family choice evaluated again, the dataplane reprogrammed, the state
// file written — is returned (or, from a timer, emitted) as an Actions value;
// only the Agent carries it out (Agent.act). Merging keeps every wish.

import type { Ipv4 } from '../net/ipv4.js';

/**
 * The dataplane must follow: `routes` only the peers' part (fast path),
 * `full` everything from kernel dumps; both with a Desired value computed
 * now. `repair`: a full run against the value already given (the kernel
 * drifted, our wishes did not).
 */
export type Reprogram = 'routes' | 'full' | 'repair';

/** A claim as a DEFEND states it. */
export interface HolderClaim {
  id: string;
  claimedAt: number;
  heldMs: number;
}

/** A packet to send now. `to` undefined: broadcast (and the unicast remotes). */
export type Outgoing =
  /** our announcement; `echo` answers a challenge */
  | { kind: 'announce'; to?: Ipv4 | undefined; echo?: string | undefined }
  /** tells `target` that `holder` holds `overlayIp` */
  | {
    kind: 'defend'; target: string; to: Ipv4 | undefined; overlayIp: Ipv4; holder: HolderClaim;
    echo?: string | undefined;
  }
  | { kind: 'challenge'; target: string; overlayIp: Ipv4; nonce: string; to: Ipv4 | undefined }
  | { kind: 'forget'; target: string; claimedAt: number; overlayIp: Ipv4; to?: Ipv4 | undefined }
  /** another host's packet forwarded as received: to one host, or broadcast on our LAN */
  | { kind: 'relay'; packet: Buffer; to?: Ipv4 | undefined };

export interface Actions {
  /** sent in this order, before anything else */
  send?: Outgoing[];
  /** our announcements are fresh for a while: peers answer with their news */
  fresh?: boolean;
  /** announce now and repeat shortly (our address or capabilities changed) */
  burst?: boolean;
  /** tell these hosts (underlay addresses; 0: one without IPv4, by broadcast) about us, soon: they are new */
  trigger?: Ipv4[];
  /** answer these peers' fresh announcements, soon, at `to` (`moved`: it changed something) */
  answer?: { peer: string; moved: boolean; to: Ipv4 }[];
  /** the underlay family choice's inputs changed: evaluate it again */
  family?: boolean;
  /** read the physical interface again */
  reread?: boolean;
  reprogram?: Reprogram | undefined;
  /** write the state file soon (coalesced) */
  persist?: boolean;
}

export const NOTHING: Actions = {};

/** Something happened on a timer: the Agent acts on it as on a returned value. */
export type Emit = (actions: Actions) => void;

function stronger(a: Reprogram | undefined, b: Reprogram | undefined): Reprogram | undefined {
  if (a === undefined || a === b) return b;
  if (b === undefined) return a;
  return 'full'; // two different wishes: a full run with a fresh value covers both
}

export function merge(a: Actions, b: Actions): Actions {
  if (a === NOTHING) return b;
  if (b === NOTHING) return a;
  const send = a.send && b.send ? [...a.send, ...b.send] : a.send ?? b.send;
  const answer = a.answer && b.answer ? [...a.answer, ...b.answer] : a.answer ?? b.answer;
  const trigger = a.trigger && b.trigger ? [...a.trigger, ...b.trigger] : a.trigger ?? b.trigger;
  return {
    ...(send ? { send } : {}), ...(answer ? { answer } : {}), ...(trigger ? { trigger } : {}),
    fresh: Boolean(a.fresh || b.fresh), burst: Boolean(a.burst || b.burst),
    family: Boolean(a.family || b.family), reread: Boolean(a.reread || b.reread),
    reprogram: stronger(a.reprogram, b.reprogram), persist: Boolean(a.persist || b.persist),
  };
}

/** Sends `o`, nothing else. */
export const sending = (...o: Outgoing[]): Actions => ({ send: o });
