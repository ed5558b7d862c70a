// Layer: membership (pure, time passed in). Contract: replay protection per
// sender — the highest sequence number and the newest send time seen from
// each node, with a window of the WINDOW numbers below the highest (as IPsec's
// anti-replay window: a unicast answer may arrive after the sender's next
// broadcast) — and whether the node has proved it is alive (answered a
// challenge, or was a peer before). Kept for every sender, bounded (the
// least recently heard go first) and persisted with the state (the window is
// not: after a restart everything up to the highest number is old).

/** new: the newest yet; late: within the window below it and not seen yet; duplicate: the newest again; old. */
export type SeqVerdict = 'new' | 'late' | 'duplicate' | 'old';

/** how far below the highest number a message may still arrive (bits of `seen`) */
export const WINDOW = 31;
/** a late message may be this much older (its sender's clock) than the newest accepted one */
export const LATE_SLACK_MS = 2000;
const FULL_WINDOW = 0x7fffffff;

export interface Floor {
  seq: number;
  /** the newest `sentAt` (sender's wall clock) accepted from it */
  sentAt: number;
  /** proved alive: answered a challenge, or was a peer of ours */
  admitted: boolean;
  /** bit i: seq - 1 - i was accepted (the window below `seq`) */
  seen?: number;
}

export interface PersistedFloor {
  id: string;
  seq: number;
  sentAt: number;
  admitted?: boolean;
}

export const MAX_FLOORS = 4096;

export class Floors {
  private readonly map = new Map<string, Floor>();

  constructor(private readonly max = MAX_FLOORS) {}

  /**
   * 'new' (and recorded) if `seq` is newer than anything seen from `id`;
   * 'late' (and recorded) if it is within WINDOW of the newest, not seen yet
   * and sent no more than LATE_SLACK_MS before the newest; 'duplicate' for
   * the newest one again (the same packet over a second path: UDP and raw
   * L2); 'old' for anything else (a replay).
   */
  check(id: string, seq: number, sentAt = 0): SeqVerdict {
    const f = this.map.get(id);
    if (f && seq <= f.seq) {
      const back = f.seq - seq;
      if (back === 0) return 'duplicate';
      if (back > WINDOW || sentAt < f.sentAt - LATE_SLACK_MS) return 'old';
      const bit = 1 << (back - 1);
      if ((f.seen ?? 0) & bit) return 'old'; // accepted before: a replay
      f.seen = ((f.seen ?? 0) | bit) >>> 0;
      return 'late';
    }
    const shift = f ? seq - f.seq : Infinity;
    // the previous newest moves into the window, with what the window held
    const seen = shift > WINDOW ? 0 : ((((f!.seen ?? 0) << shift) | (1 << (shift - 1))) & FULL_WINDOW) >>> 0;
    this.put(id, { seq, sentAt: Math.max(sentAt, f?.sentAt ?? 0), admitted: f?.admitted ?? false, seen });
    return 'new';
  }

  get(id: string): Floor | undefined {
    return this.map.get(id);
  }

  admitted(id: string): boolean {
    return this.map.get(id)?.admitted ?? false;
  }

  /**
   * Proof of life: from now on its messages count. `sentAt` restarts from the proof (its clock may have been
   * stepped).
   */
  admit(id: string, sentAt?: number): void {
    const f = this.map.get(id) ?? { seq: 0, sentAt: 0, admitted: false };
    this.put(id, { ...f, admitted: true, sentAt: sentAt ?? f.sentAt });
  }

  /** Its messages stop counting until it proves it is alive again. */
  suspend(id: string): void {
    const f = this.map.get(id);
    if (f) f.admitted = false;
  }

  private put(id: string, f: Floor): void {
    this.map.delete(id);
    this.map.set(id, f);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }

  toPersisted(): PersistedFloor[] {
    return [...this.map]
      .map(([id, f]) => ({ id, seq: f.seq, sentAt: f.sentAt, ...(f.admitted ? { admitted: true } : {}) }));
  }

  /** Merges persisted floors (keeping the higher floor) without changing the order of what is there. */
  load(list: readonly PersistedFloor[]): void {
    for (const p of list) {
      const f = this.map.get(p.id);
      this.put(p.id, {
        seq: Math.max(p.seq, f?.seq ?? 0), sentAt: Math.max(p.sentAt, f?.sentAt ?? 0),
        admitted: Boolean(p.admitted) || (f?.admitted ?? false),
        seen: FULL_WINDOW, // what arrived below the floor before is unknown: all of it counts as seen
      });
    }
  }
}
