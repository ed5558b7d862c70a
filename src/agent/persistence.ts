// Layer: agent (durable state). Contract: owns the state document: load()
// validates it against the configuration and refuses — before the kernel is
// touched — a file of another cluster or CIDR; the claim is written
// synchronously (persisted before configured); sequence numbers come from
// here and are never reused, across restarts too; everything else (peers,
// tombstones) is written coalesced. A failed write keeps the previous file,
// is reported, and retried. A damaged file falls back to the kept previous
// version (logged); the store refuses when neither is usable.

import type { Clock, TimerHandle } from '../clock.js';
import { EdgeError } from '../errors.js';
import { errFields, type Logger } from '../log.js';
import { formatCidr, formatIpv4, isHostAddress, parseCidr, parseIpv4, sameCidr, type Ipv4 } from '../net/ipv4.js';
import type { PeerTable } from '../peers/table.js';
import type { Tombstones } from '../peers/tombstones.js';
import type { StateStore } from '../state/store.js';
import type { PersistedState } from '../state/schema.js';
import { newNodeId } from '../state/identity.js';
import type { AgentConfig } from './config.js';

/** Sequence numbers are reserved in blocks so that a restart never reuses one. */
const SEQ_BLOCK = 10_000;

export class AgentState {
  private state!: PersistedState;
  private seq = 0;
  /** first sequence number of this process */
  firstSeq = 0;
  private timer: TimerHandle | undefined;
  persistError: string | undefined;
  /** supplies the current held time of our claim at each save */
  heldMs: () => number | undefined = () => undefined;

  constructor(
    private readonly config: AgentConfig, private readonly store: StateStore, private readonly clock: Clock,
    private readonly log: Logger, private readonly peers: PeerTable, private readonly tombstones: Tombstones,
    private readonly persistDelayMs: number,
  ) {}

  get path(): string {
    return this.store.path;
  }

  get nodeId(): string {
    return this.state.nodeId;
  }

  get claim(): { ip: Ipv4; claimedAt: number; heldMs: number } | undefined {
    const s = this.state;
    return s.overlayIp !== undefined && s.claimedAt !== undefined
      ? { ip: parseIpv4(s.overlayIp)!, claimedAt: s.claimedAt, heldMs: s.heldMs ?? 0 } : undefined;
  }

  /** Loads (or creates) the state, fills the peer table and tombstones, and writes it back once. */
  load(): void {
    const { config } = this;
    const loaded = this.store.load();
    if (loaded?.fallback) {
      this.log.warn({ file: this.path, why: loaded.fallback.why, used: loaded.fallback.used },
        `state file ${this.path} is damaged (${loaded.fallback.why}); using the kept previous version ${loaded.fallback.used}`);
    }
    const s = loaded?.state;
    if (s) {
      const cidr = parseCidr(s.cidr);
      if (s.cluster !== config.cluster) {
        throw new EdgeError('E_STATE', `state file ${this.path} belongs to cluster "${s.cluster}", but this agent is configured for cluster "${config.cluster}"; refusing to start. Use --cluster ${s.cluster}, or remove the file to join "${config.cluster}" with a new address`);
      }
      if (typeof cidr === 'string' || !sameCidr(cidr, config.cidr)) {
        throw new EdgeError('E_CIDR_MISMATCH', `overlay CIDR ${formatCidr(config.cidr)} differs from ${s.cidr} persisted in ${this.path}${s.overlayIp ? ` (this host's overlay IP is ${s.overlayIp})` : ''}; refusing to start and changing nothing. Use --overlay-cidr ${s.cidr}, or remove the file to re-address this host`);
      }
      if (s.overlayIp !== undefined && !isHostAddress(config.cidr, parseIpv4(s.overlayIp)!)) {
        throw new EdgeError('E_STATE', `state file ${this.path} holds overlay IP ${s.overlayIp}, which is not a host address of ${s.cidr}; refusing to start`);
      }
      this.state = s;
    } else {
      this.state = {
        version: 1, nodeId: newNodeId(), cluster: config.cluster,
        cidr: formatCidr(config.cidr), seqFloor: 0, peers: [],
      };
    }
    this.peers.load(this.state.peers.filter((p) => p.id !== this.state.nodeId));
    this.tombstones.load(this.state.forgotten ?? []);
    // Wall-clock based start (µs) survives a lost state file; the persisted
    // floor survives a clock stepped back. Either way: never reuse a number.
    this.seq = Math.max(this.state.seqFloor, this.clock.now() * 1000);
    this.firstSeq = this.seq + 1;
    this.state.seqFloor = this.seq + SEQ_BLOCK;
    this.store.save(this.state); // also proves the state dir is writable before we touch the kernel
  }

  get lastSeq(): number {
    return this.seq;
  }

  nextSeq(): number {
    this.seq++;
    if (this.seq >= this.state.seqFloor) {
      this.state.seqFloor = this.seq + SEQ_BLOCK;
      this.save();
    }
    return this.seq;
  }

  /** Writes everything now; on failure keeps running on the old file and retries. */
  save(): void {
    this.cancel(); // this write covers a coalesced one still pending
    this.state.peers = this.peers.toPersisted();
    const held = this.heldMs();
    if (held !== undefined) this.state.heldMs = Math.round(held);
    this.state.forgotten = this.tombstones.list();
    try {
      this.store.save(this.state);
      if (this.persistError) this.log.info({ file: this.path }, 'state file written again');
      this.persistError = undefined;
    } catch (err) {
      this.persistError = (err as Error).message;
      this.log.error({ ...errFields(err), file: this.path }, 'writing the state file failed; keeping the previous version and retrying');
      this.schedule(1000);
    }
  }

  /** Coalesced write for peer-table and tombstone changes. */
  schedule(delay = this.persistDelayMs): void {
    if (this.timer) return;
    this.timer = this.clock.setTimeout(() => {
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
    this.state.overlayIp = formatIpv4(ip);
    this.state.claimedAt = claimedAt;
    this.state.heldMs = 0;
    this.save();
    if (this.persistError) {
      this.state.overlayIp = undefined;
      this.state.claimedAt = undefined;
      this.state.heldMs = undefined;
      return false;
    }
    return true;
  }

  clearClaim(): void {
    this.state.overlayIp = undefined;
    this.state.claimedAt = undefined;
    this.state.heldMs = undefined;
    this.save();
  }
}
