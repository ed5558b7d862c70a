// Layer: membership (pure, time passed in). Contract: replay protection per
// sender — the highest sequence number and the newest send time seen from
// each node — and whether the node has proved it is alive (answered a
// challenge, or was a peer before). Kept for every sender, bounded (the
// least recently heard go first) and persisted with the state.

export type SeqVerdict = 'new' | 'duplicate' | 'old';

export interface Floor {
  seq: number;
  /** the newest `sentAt` (sender's wall clock) accepted from it */
  sentAt: number;
  /** proved alive: answered a challenge, or was a peer of ours */
  admitted: boolean;
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
   * 'new' (and recorded) only if `seq` is newer than anything seen from
   * `id`; 'duplicate' for the newest one again (the same packet over a
   * second path: UDP and raw L2); 'old' for anything older.
   */
  check(id: string, seq: number, sentAt = 0): SeqVerdict {
    const f = this.map.get(id);
    if (f && seq === f.seq) return 'duplicate';
    if (f && seq < f.seq) return 'old';
    this.put(id, { seq, sentAt: Math.max(sentAt, f?.sentAt ?? 0), admitted: f?.admitted ?? false });
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
      });
    }
  }
}
