// Benchmark helper (runs in a namespace on the LAN): pretends to be the
// crowd of the scale benchmark. Holds the cluster key and speaks the wire
// protocol: every peer broadcasts its signed announcement from its own
// underlay address (the namespace must hold them all), back to back; then,
// for `serveMs`, each answers the agent's first-contact challenges as a
// real agent would (an announcement echoing the nonce). Prints {t0, t1}
// (ms: first and last announcement on the wire).
//   node loadgen.js KEYFILE CLUSTER CIDR N AVOID_IP LANPREFIX first|storm SERVE_MS
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { decode, encode } from '../src/wire/codec.js';
import { parseKeyText } from '../src/wire/keyfile.js';
import { parseCidr, parseIpv4, type Cidr } from '../src/net/ipv4.js';
import { crowd, type CrowdPeer } from './crowd.js';

const [keyFile, cluster, cidrText, n, avoid, lanPrefix, phase, serveMs] =
  process.argv.slice(2) as [string, string, string, string, string, string, string, string];
const keys = parseKeyText(readFileSync(keyFile, 'utf8'), keyFile);
const cidr = parseCidr(cidrText) as Cidr;
const now = (): number => performance.timeOrigin + performance.now();
const peers = crowd(Number(n), cidrText, [parseIpv4(avoid)!], lanPrefix);
let seq = Date.now() * 1000 + (phase === 'storm' ? 500_000 : 0);
const underlay = (p: CrowdPeer): string => (phase === 'storm' ? p.storm : p.first);

const announce = (p: CrowdPeer, echo?: string): Buffer => encode({
  type: 'announce', cluster, nodeId: p.nodeId, seq: seq++, sentAt: Date.now(), overlayIp: p.overlayIp,
  underlayIp: parseIpv4(underlay(p))!, mac: p.mac, claimedAt: Date.now() - 3_600_000, heldMs: 3_600_000, cidr, vni: 100,
  ...(echo ? { echo } : {}),
}, keys[0]!);

function open(p: CrowdPeer): Promise<dgram.Socket> {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, from) => {
    const d = decode(msg, cluster, keys);
    // agents listen there
    if (d.ok && d.msg.type === 'challenge' && d.msg.targetId === p.nodeId) {
      sock.send(announce(p, d.msg.nonce), 9477, from.address);
    }
  });
  return new Promise((resolve) => sock.bind(9477, underlay(p), () => { sock.setBroadcast(true); resolve(sock); }));
}

const socks = await Promise.all(peers.map(open));
const packets = peers.map((p) => announce(p));
const t0 = now();
await Promise.all(socks.map((s, i) =>
  new Promise<void>((resolve) => s.send(packets[i]!, 9477, '255.255.255.255', () => resolve()))));
const t1 = now();
await new Promise((r) => setTimeout(r, Number(serveMs)));
for (const s of socks) s.close();
process.stdout.write(`${JSON.stringify({ t0, t1 })}\n`);
