// Layer: agent (durable state). Contract: readState() loads the state file
// and refuses — before the kernel is touched — one of another cluster or
// CIDR; AgentState owns the document from then on: the claim is written
// synchronously (persisted before configured), sequence numbers are never
// reused (across restarts too), peers and tombstones are written coalesced.
// A failed write keeps the previous file, is reported, and retried.

import type { Clock, TimerHandle } from '../../clock.js';
import { EdgeError } from '../../errors.js';
import { errFields, type Logger } from '../../log.js';
import { formatCidr, formatIpv4, isHostAddress, parseCidr, parseIpv4, sameCidr, type Ipv4 } from '../../net/ipv4.js';
import type { PeerTable } from '../../peers/table.js';
import type { Tombstones } from '../../peers/tombstones.js';
import type { StateStore } from '../../state/store.js';
import { SCHEMA, type PersistedState } from '../../state/schema.js';
import { migrate } from '../../state/migrate.js';
import type { Ipv6 } from '../../net/ipv6.js';
import { newNodeId } from '../../state/identity.js';
import type { AgentConfig } from '../config.js';
import type { Tenure } from '../addressing/tenure.js';

/** Sequence numbers are reserved in blocks so that a restart never reuses one. */
const SEQ_BLOCK = 10_000;

/** The state file, checked against the configuration, or a fresh identity if there is none. */
export function readState(config: AgentConfig, store: StateStore, log: Logger): PersistedState {
  const loaded = store.load();
  const path = store.path;
  if (loaded?.fallback) {
    log.warn({ file: path, why: loaded.fallback.why, used: loaded.fallback.used },
      `state file ${path} is damaged (${loaded.fallback.why}); `
        + `using the kept previous version ${loaded.fallback.used}`);
  }
  if (!loaded) {
    return {
      version: 1, schema: SCHEMA, nodeId: newNodeId(), cluster: config.cluster, cidr: formatCidr(config.cidr),
      seqFloor: 0, peers: [],
    };
  }
  const { state: s, from } = migrate(loaded.state);
  if (from < SCHEMA) {
    log.info({ file: path, old: from, new: SCHEMA },
      'state file layout upgraded (the previous release still reads it)');
  }
  if (from > SCHEMA) {
    log.warn({ file: path, old: from, new: SCHEMA },
      'state file written by a newer release; keeping what this release knows of it');
    s.schema = SCHEMA;
  }
  const cidr = parseCidr(s.cidr);
  if (s.cluster !== config.cluster) {
    throw new EdgeError('E_STATE', `state file ${path} belongs to cluster "${s.cluster}", `
      + `but this agent is configured for cluster "${config.cluster}"; refusing to start. `
      + `Use --cluster ${s.cluster}, or remove the file to join "${config.cluster}" with a new address`);
  }
  if (typeof cidr === 'string' || !sameCidr(cidr, config.cidr)) {
    throw new EdgeError('E_CIDR_MISMATCH', `overlay CIDR ${formatCidr(config.cidr)} differs from ${s.cidr} `
      + `persisted in ${path}${s.overlayIp ? ` (this host's overlay IP is ${s.overlayIp})` : ''}; refusing to start `
      + `and changing nothing. Use --overlay-cidr ${s.cidr}, or remove the file to re-address this host`);
  }
  if (s.overlayIp !== undefined && !isHostAddress(config.cidr, parseIpv4(s.overlayIp)!)) {
    throw new EdgeError('E_STATE', `state file ${path} holds overlay IP ${s.overlayIp}, `
      + `which is not a host address of ${s.cidr}; refusing to start`);
  }
  return s;
}

/** What the state file records besides the claim: read at every write. */
export interface StateSources {
  peers: PeerTable;
  tombstones: Tombstones;
  tenure: Tenure;
}

export interface StateDeps {
  store: StateStore;
  clock: Clock;
  log: Logger;
  persistDelayMs: number;
  sources: StateSources;
}

export class AgentState {
  private seq: number;
  /** first sequence number of this process */
  readonly firstSeq: number;
  private timer: TimerHandle | undefined;
  persistError: string | undefined;

  /** Takes over a document from readState() and writes it once (which also proves the state dir is writable). */
  constructor(private readonly doc: PersistedState, private readonly d: StateDeps) {
    // Wall-clock based start (µs) survives a lost state file; the persisted
    // floor survives a clock stepped back. Either way: never reuse a number.
    this.seq = Math.max(doc.seqFloor, d.clock.now() * 1000);
    this.firstSeq = this.seq + 1;
    doc.seqFloor = this.seq + SEQ_BLOCK;
    d.store.save(doc);
  }

  get path(): string {
    return this.d.store.path;
  }

  get nodeId(): string {
    return this.doc.nodeId;
  }

  get claim(): { ip: Ipv4; claimedAt: number; heldMs: number } | undefined {
    const s = this.doc;
    return s.overlayIp !== undefined && s.claimedAt !== undefined
      ? { ip: parseIpv4(s.overlayIp)!, claimedAt: s.claimedAt, heldMs: s.heldMs ?? 0 } : undefined;
  }

  get lastSeq(): number {
    return this.seq;
  }

  nextSeq(): number {
    this.seq++;
    if (this.seq >= this.doc.seqFloor) {
      this.doc.seqFloor = this.seq + SEQ_BLOCK;
      this.save();
    }
    return this.seq;
  }

  /** Writes everything now; on failure keeps running on the old file and retries. */
  save(): void {
    this.cancel(); // this write covers a coalesced one still pending
    const { sources: src, store, log } = this.d;
    this.doc.peers = src.peers.toPersisted();
    const held = src.tenure.heldMs;
    if (held !== undefined) this.doc.heldMs = Math.round(held);
    this.doc.forgotten = src.tombstones.list();
    this.doc.floors = src.peers.floors.toPersisted();
    try {
      store.save(this.doc);
      if (this.persistError) log.info({ file: this.path }, 'state file written again');
      this.persistError = undefined;
    } catch (err) {
      this.persistError = (err as Error).message;
      log.error({ ...errFields(err), file: this.path },
        'writing the state file failed; keeping the previous version and retrying');
      this.schedule(1000);
    }
  }

  /** Coalesced write for peer-table and tombstone changes. */
  schedule(delay = this.d.persistDelayMs): void {
    if (this.timer) return;
    this.timer = this.d.clock.setTimeout(() => {
      this.timer = undefined;
      this.save();
    }, delay);
  }

  cancel(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Persists a new claim synchronously; false (and nothing claimed) if it could not be written. */
  setClaim(ip: Ipv4, claimedAt: number): boolean {
    this.doc.overlayIp = formatIpv4(ip);
    this.doc.claimedAt = claimedAt;
    this.doc.heldMs = 0;
    this.save();
    if (!this.persistError) return true;
    this.doc.overlayIp = undefined;
    this.doc.claimedAt = undefined;
    this.doc.heldMs = undefined;
    return false;
  }

  /** This host's link-local address as last seen (kept for when the interface is down or missing). */
  get linkLocal(): Ipv6 | undefined {
    return this.doc.linkLocal as Ipv6 | undefined;
  }

  setLinkLocal(ll: Ipv6): void {
    if (this.doc.linkLocal === ll) return;
    this.doc.linkLocal = ll;
    this.schedule();
  }

  clearClaim(): void {
    this.doc.overlayIp = undefined;
    this.doc.claimedAt = undefined;
    this.doc.heldMs = undefined;
    this.save();
  }
}
