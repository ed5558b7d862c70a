// Layer: membership (pure). Contract: claims released with `edge-overlay
// forget`. A tombstone (node id, claimedAt) voids that claim and the node's
// older ones (announcements of them are ignored and answered with a FORGET);
// a newer claim by the node clears it. Bounded, persisted with the state.

export interface Tombstone {
  id: string;
  claimedAt: number;
  /** wall ms when it was forgotten */
  at: number;
}

const MAX_TOMBSTONES = 1000;

export class Tombstones {
  private readonly map = new Map<string, Tombstone>();

  /** Records a forget; false if an equal or newer one was already known. */
  add(t: Tombstone): boolean {
    const cur = this.map.get(t.id);
    if (cur && cur.claimedAt >= t.claimedAt) return false;
    this.map.delete(t.id);
    this.map.set(t.id, t);
    while (this.map.size > MAX_TOMBSTONES) this.map.delete(this.map.keys().next().value!);
    return true;
  }

  /** Is the claim (id, claimedAt) void? */
  covers(id: string, claimedAt: number): boolean {
    const t = this.map.get(id);
    return t !== undefined && claimedAt <= t.claimedAt;
  }

  get(id: string): Tombstone | undefined {
    return this.map.get(id);
  }

  clear(id: string): void {
    this.map.delete(id);
  }

  list(): Tombstone[] {
    return [...this.map.values()];
  }

  load(list: readonly Tombstone[]): void {
    for (const t of list) this.add(t);
  }
}
