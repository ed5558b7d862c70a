// Layer: agent (reporting). Contract: the JSON document `edge-overlay status
// --json` prints. Fields are only ever added, so scripts keep working.

export interface PeerReport {
  id: string;
  overlayIp: string;
  underlayIp: string;
  mac: string;
  state: 'alive' | 'stale';
  /** milliseconds since this peer was last heard from */
  lastSeenMs: number;
  lastSeenAt: string;
  claimedAt: string;
}

export interface StatusReport {
  node: {
    id: string;
    overlayIp: string | null;
    underlayIp: string | null;
    interface: string;
    bridge: string;
    vxlan: string;
    mac: string;
    mtu: number | null;
    /** waiting (no underlay address yet), probing, established, exhausted */
    addressState: string;
    claimedAt: string | null;
  };
  cluster: { name: string; cidr: string; vip: string; vni: number; vxlanPort: number; discoveryPort: number };
  peers: PeerReport[];
  dataplane: {
    ready: boolean;
    lastReconcileAt: string | null;
    lastReconcileMs: number | null;
    fdbEntries: number;
    neighEntries: number;
    lastError: string | null;
  };
  counters: Record<string, unknown>;
  agent: { pid: number; version: string; startedAt: string; stateFile: string; persistError: string | null };
}
