// Layer: agent (observability). Contract: monotonic counters of what the
// agent sent, received, dropped (by reason) and did; shown by `status` and
// never reset while the process lives.

import { DROP_REASONS, MessageType, type DropReason, type MessageKind } from '../../wire/codec.js';

/** Reasons beyond the decoder's: authenticated but unusable packets. */
export const AGENT_DROP_REASONS = [
  'replay', 'cidr-mismatch', 'vni-mismatch', 'bad-address', 'forgotten',
  /** a source over its budget of failed authentications, dropped unverified */
  'rate-limited',
  /** a stranger's announcement or forget before it answered our challenge */
  'unconfirmed',
] as const;
export type AgentDropReason = DropReason | (typeof AGENT_DROP_REASONS)[number];

function zeros<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

/** The counters as `status --json` shows them. */
export interface CountersSnapshot {
  sent: Record<MessageKind, number>;
  received: Record<MessageKind, number>;
  dropped: Record<AgentDropReason, number>;
  duplicates: number;
  verifiedByKey: Record<string, number>;
  foreignOverlaps: number;
  duplicateNodeId: number;
  relayed: number;
  underlayChanges: { own: number; peer: number };
  familySwitches: number;
  conflicts: number;
  reconciles: number;
  reconcileErrors: number;
  kernelResyncs: number;
}

export class Counters {
  readonly sentByType = zeros(Object.keys(MessageType) as MessageKind[]);
  readonly receivedByType = zeros(Object.keys(MessageType) as MessageKind[]);
  readonly dropped = zeros<AgentDropReason>([...DROP_REASONS, ...AGENT_DROP_REASONS]);
  /** packets that verified, by key label: shows when an old key is unused */
  readonly verifiedByKey: Record<string, number> = {};
  /** the same packet again over a second path (UDP and raw L2): not a drop */
  duplicates = 0;
  foreignOverlaps = 0;
  /** packets with our node id that we did not send */
  duplicateNodeId = 0;
  /** announcements forwarded to introduce hosts across segments */
  relayed = 0;
  underlayChangesOwn = 0;
  underlayChangesPeer = 0;
  /** the underlay family changed (the VXLAN device was rebuilt) */
  familySwitches = 0;
  conflicts = 0;
  reconciles = 0;
  /** called with the duration (seconds) of every finished reconcile (metrics) */
  onReconcile: ((seconds: number) => void) | undefined;
  reconcileErrors = 0;
  kernelResyncs = 0;

  sent(type: MessageKind): void {
    this.sentByType[type]++;
  }

  received(type: MessageKind): void {
    this.receivedByType[type]++;
  }

  drop(reason: AgentDropReason): void {
    this.dropped[reason]++;
  }

  verified(label: string): void {
    this.verifiedByKey[label] = (this.verifiedByKey[label] ?? 0) + 1;
  }

  snapshot(): CountersSnapshot {
    return {
      sent: { ...this.sentByType },
      received: { ...this.receivedByType },
      dropped: { ...this.dropped },
      duplicates: this.duplicates,
      verifiedByKey: { ...this.verifiedByKey },
      foreignOverlaps: this.foreignOverlaps,
      duplicateNodeId: this.duplicateNodeId,
      relayed: this.relayed,
      underlayChanges: { own: this.underlayChangesOwn, peer: this.underlayChangesPeer },
      familySwitches: this.familySwitches,
      conflicts: this.conflicts,
      reconciles: this.reconciles,
      reconcileErrors: this.reconcileErrors,
      kernelResyncs: this.kernelResyncs,
    };
  }
}
