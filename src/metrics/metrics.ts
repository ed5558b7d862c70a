// Layer: observability (Prometheus). Contract: a registry whose metrics are
// read from the agent at scrape time (counters mirror the agent's monotonic
// counters, gauges its current state), plus the reconcile duration
// histogram fed as reconciles finish, served as Prometheus text on
// --metrics-listen HOST:PORT (off by default). Only GET /metrics answers.

import http from 'node:http';
import client from 'prom-client';
import { EdgeError } from '../errors.js';
import { parseListen } from '../config/config.js';
import type { StatusReport } from '../agent/records/status.js';
import type { Counters } from '../agent/records/counters.js';

export interface MetricsSource {
  status(): StatusReport;
  readonly counters: Counters;
  /** re-reads what status takes from the kernel (the filter's drop counter), before a scrape */
  refresh?(): Promise<void>;
}

/** Sets a counter to an absolute (monotonic) value read from the agent. */
function mirror(c: client.Counter<string>, value: number): void {
  c.reset();
  c.inc(value);
}

/** The same for a record of counts, one label value per key. */
function mirrorEach(c: client.Counter<string>, label: string, counts: Record<string, number>): void {
  c.reset();
  for (const [key, n] of Object.entries(counts)) c.inc({ [label]: key }, n);
}

export function buildRegistry(agent: MetricsSource): client.Registry {
  // One status snapshot per scrape, shared by every metric's collect().
  let snapshot: StatusReport | undefined;
  const status = (): StatusReport => {
    if (!snapshot) {
      snapshot = agent.status();
      setImmediate(() => { snapshot = undefined; });
    }
    return snapshot;
  };
  const r = new client.Registry();
  client.collectDefaultMetrics({ register: r, prefix: 'edge_overlay_' });
  const { counters } = agent;

  new client.Gauge({
    name: 'edge_overlay_peers', help: 'Peers known, by state (stale peers keep their reservation and FDB entries)',
    labelNames: ['state'], registers: [r],
    collect() {
      const peers = status().peers;
      this.set({ state: 'alive' }, peers.filter((p) => p.state === 'alive').length);
      this.set({ state: 'stale' }, peers.filter((p) => p.state === 'stale').length);
    },
  });
  new client.Gauge({
    name: 'edge_overlay_fdb_entries', help: 'FDB entries the agent keeps on the VXLAN device', registers: [r],
    collect() { this.set(status().dataplane.fdbEntries); },
  });
  new client.Gauge({
    name: 'edge_overlay_dataplane_ready',
    help: '1 when the overlay bridge carries our overlay IP and the FDB is programmed', registers: [r],
    collect() { this.set(status().dataplane.ready ? 1 : 0); },
  });
  new client.Gauge({
    name: 'edge_overlay_last_reconcile_timestamp_seconds', help: 'When the last reconcile finished (unix time)',
    registers: [r],
    collect() {
      const at = status().dataplane.lastReconcileAt;
      this.set(at ? Date.parse(at) / 1000 : 0);
    },
  });
  new client.Gauge({
    name: 'edge_overlay_info', help: 'This host in the overlay (value is always 1)',
    labelNames: ['node', 'overlay_ip', 'underlay_ip', 'cluster', 'cidr', 'vip', 'interface'], registers: [r],
    collect() {
      const s = status();
      this.reset();
      this.set({
        node: s.node.id, overlay_ip: s.node.overlayIp ?? '', underlay_ip: s.node.underlayIp ?? '',
        cluster: s.cluster.name, cidr: s.cluster.cidr, vip: s.cluster.vip, interface: s.node.interface,
      }, 1);
    },
  });
  new client.Gauge({
    name: 'edge_overlay_discovery_channel_up', help: 'Discovery channels (udp, raw) open and working: 1, or 0',
    labelNames: ['channel'], registers: [r],
    collect() {
      const d = status().discovery;
      for (const c of ['udp', 'raw'] as const) {
        if (d[c].state !== 'off') this.set({ channel: c }, d[c].state === 'up' ? 1 : 0);
      }
    },
  });
  new client.Gauge({
    name: 'edge_overlay_discovery_last_peer_packet_seconds',
    help: 'Seconds since a channel last carried an authenticated packet from a peer',
    labelNames: ['channel'], registers: [r],
    collect() {
      const d = status().discovery;
      for (const c of ['udp', 'raw'] as const) {
        const ms = d[c].lastPeerPacketMs;
        if (ms !== null) this.set({ channel: c }, ms / 1000);
      }
    },
  });
  new client.Gauge({
    name: 'edge_overlay_underlay_family',
    help: 'What carries VXLAN: 1 for the family in use (ipv4 or link-local), 0 for the other',
    labelNames: ['family'], registers: [r],
    collect() {
      const f = status().underlay.family;
      for (const x of ['ipv4', 'link-local'] as const) this.set({ family: x }, x === f ? 1 : 0);
    },
  });
  new client.Counter({
    name: 'edge_overlay_underlay_family_switches_total',
    help: 'Times the underlay family changed (the VXLAN device was rebuilt)', registers: [r],
    collect() { mirror(this, counters.familySwitches); },
  });
  new client.Gauge({
    name: 'edge_overlay_foreign_clusters_overlapping',
    help: 'Other clusters on the LAN whose overlay CIDR overlaps ours', registers: [r],
    collect() { this.set(status().security.foreignClusters.filter((c) => c.overlapping).length); },
  });
  new client.Gauge({
    name: 'edge_overlay_filter_enabled', help: '1 when the VXLAN ingress filter is in place', registers: [r],
    collect() { this.set(status().filter.mode === 'filtered' ? 1 : 0); },
  });
  new client.Counter({
    name: 'edge_overlay_filter_dropped_packets_total',
    help: 'VXLAN packets from non-peers dropped by the ingress filter', registers: [r],
    async collect() {
      await agent.refresh?.();
      mirror(this, agent.status().filter.droppedPackets);
    },
  });
  new client.Counter({
    name: 'edge_overlay_announcements_sent_total', help: 'Discovery messages sent, by type',
    labelNames: ['type'], registers: [r],
    collect() { mirrorEach(this, 'type', counters.sentByType); },
  });
  new client.Counter({
    name: 'edge_overlay_announcements_received_total', help: 'Authenticated discovery messages accepted, by type',
    labelNames: ['type'], registers: [r],
    collect() { mirrorEach(this, 'type', counters.receivedByType); },
  });
  new client.Counter({
    name: 'edge_overlay_announcements_dropped_total', help: 'Discovery packets dropped, by reason',
    labelNames: ['reason'], registers: [r],
    collect() { mirrorEach(this, 'reason', counters.dropped); },
  });
  new client.Counter({
    name: 'edge_overlay_underlay_changes_total', help: 'Physical IP changes seen, of this host (own) or of peers',
    labelNames: ['who'], registers: [r],
    collect() { mirrorEach(this, 'who', { own: counters.underlayChangesOwn, peer: counters.underlayChangesPeer }); },
  });
  new client.Counter({
    name: 'edge_overlay_conflicts_total', help: 'Address conflicts this host lost (it moved)', registers: [r],
    collect() { mirror(this, counters.conflicts); },
  });
  new client.Counter({
    name: 'edge_overlay_kernel_resyncs_total', help: 'Full resyncs after lost netlink events', registers: [r],
    collect() { mirror(this, counters.kernelResyncs); },
  });
  const hist = new client.Histogram({
    name: 'edge_overlay_reconcile_duration_seconds', help: 'Time to bring the kernel in line with the desired state',
    registers: [r],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  });
  counters.onReconcile = (seconds) => hist.observe(seconds);
  return r;
}

export async function serveMetrics(listen: string, registry: client.Registry): Promise<http.Server> {
  const parsed = parseListen(listen);
  if (typeof parsed === 'string') throw new EdgeError('E_CONFIG', `--metrics-listen: ${parsed}`);
  const { host, port } = parsed;
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end('try /metrics\n');
      return;
    }
    registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': registry.contentType }).end(text);
    }, (err: unknown) => {
      res.writeHead(500).end(`${(err as Error).message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new EdgeError('E_PORT', `cannot serve metrics on ${listen}: ${err.code ?? err.message}`)));
    server.listen(port, host, () => resolve());
  });
  return server;
}
