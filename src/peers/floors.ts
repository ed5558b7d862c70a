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

/** how far below the highest number a message may still arrive (a host answers dozens at once at site scale) */
export const WINDOW = 255;
const RING = WINDOW + 1;
/** a late message may be this much older (its sender's clock) than the newest accepted one */
export const LATE_SLACK_MS = 2000;
/** a ring of RING bits, bit (seq mod RING): seq was accepted (all set: everything below the floor counts as seen) */
const fullRing = (): Uint32Array => new Uint32Array(RING / 32).fill(0xffffffff);
const bit = (ring: Uint32Array, seq: number): boolean => (ring[Math.floor(seq % RING / 32)]! & (1 << (seq % 32))) !== 0;
const mark = (ring: Uint32Array, seq: number, on: boolean): void => {
  const i = Math.floor(seq % RING / 32);
  ring[i] = on ? ring[i]! | (1 << (seq % 32)) : ring[i]! & ~(1 << (seq % 32));
};

export interface Floor {
  seq: number;
  /** the newest `sentAt` (sender's wall clock) accepted from it */
  sentAt: number;
  /** proved alive: answered a challenge, or was a peer of ours */
  admitted: boolean;
  /** which numbers of the window below `seq` were accepted (a ring, see `mark`) */
  seen?: Uint32Array;
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
      f.seen ??= fullRing();
      if (bit(f.seen, seq)) return 'old'; // accepted before: a replay
      mark(f.seen, seq, true);
      return 'late';
    }
    // the numbers between the old newest and this one were not seen (yet); those further back leave the window
    const seen = f?.seen ?? (f ? fullRing() : new Uint32Array(RING / 32));
    if (f && seq - f.seq <= WINDOW) for (let s = f.seq + 1; s < seq; s++) mark(seen, s, false);
    else seen.fill(0);
    mark(seen, seq, true);
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
        seen: fullRing(), // what arrived below the floor before is unknown: all of it counts as seen
      });
    }
  }
}
