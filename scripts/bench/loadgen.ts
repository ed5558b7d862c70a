// Benchmark helper (runs in a namespace on the LAN): pretends to be the
// crowd of the scale benchmark. Holds the cluster key and speaks the wire
// protocol; sends every peer's signed announcement by broadcast, back to
// back, from the given phase's underlay addresses. Prints {t0, t1} (ms).
//   node loadgen.js KEYFILE CLUSTER CIDR N AVOID_IP LANPREFIX first|storm SRCIP
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { encode } from '../../src/wire/codec.js';
import { parseKeyText } from '../../src/wire/keyfile.js';
import { parseCidr, parseIpv4, type Cidr } from '../../src/net/ipv4.js';
import { crowd } from './crowd.js';

const [keyFile, cluster, cidrText, n, avoid, lanPrefix, phase, src] = process.argv.slice(2) as [string, string, string, string, string, string, string, string];
const key = parseKeyText(readFileSync(keyFile, 'utf8'), keyFile)[0]!;
const cidr = parseCidr(cidrText) as Cidr;
const now = (): number => performance.timeOrigin + performance.now();
const peers = crowd(Number(n), cidrText, [parseIpv4(avoid)!], lanPrefix);
const seqBase = Date.now() * 1000 + (phase === 'storm' ? 500_000 : 0);
const packets = peers.map((p, i) => encode({
  type: 'announce', cluster, nodeId: p.nodeId, seq: seqBase + i, sentAt: Date.now(), overlayIp: p.overlayIp,
  underlayIp: parseIpv4(phase === 'storm' ? p.storm : p.first)!, mac: p.mac, claimedAt: Date.now() - 3_600_000, heldMs: 3_600_000, cidr, vni: 100,
}, key));
const sock = dgram.createSocket('udp4');
sock.bind(0, src, () => {
  sock.setBroadcast(true);
  const t0 = now();
  let left = packets.length;
  for (const p of packets) sock.send(p, 9477, '255.255.255.255', () => {
    if (--left === 0) {
      const t1 = now();
      sock.close();
      process.stdout.write(`${JSON.stringify({ t0, t1 })}\n`);
    }
  });
});
