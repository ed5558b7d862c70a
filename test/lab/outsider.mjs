#!/usr/bin/env node
// Lab helper: an outsider on the LAN who does not hold the cluster key. One
// entry point; the verbs that need raw sockets (spoofed IPv4 sources, raw
// Ethernet frames, the flood) run in outsider-raw.py. Each verb ends by itself
// and prints one JSON line last.
//   capture PORT MS FILE [--node ID] [--count N]
//                        save UDP datagrams heard on PORT (hex, one a line) for MS,
//                        only NODE's (read from the unsigned fields), until N; SIGTERM ends it early
//   inspect FILE         what anyone can read in captured packets: type, cluster, node, seq, held, addresses
//   replay FILE PORT [HOST]  re-send the captured datagrams (broadcast, or to HOST)
//   forge FILE PORT [HOST]   the same with one body byte flipped (valid shape, wrong HMAC)
//   vxlan HOST PORT VNI N    N VXLAN packets for VNI to HOST:PORT, each carrying a broadcast
//                        ARP frame from source MAC 02:de:ad:be:ef:01
//   junk PORT HOST NAMES ROUNDS [--cidrs A,B] [--escape K] [--prefix P]
//                        packets under NAMES made-up cluster names (P-N-random), ROUNDS each,
//                        the claimed CIDR alternating between A and B; K names carrying terminal
//                        escape sequences are sent first and again last in every round
//   vxlan-icmp ...        outsider-raw.py vxlan: ICMP echo in VXLAN, any outer source/destination
//   l2-capture ... | l2-replay ... | flood ...   outsider-raw.py (see there)
// Uses nothing from edge-overlay: only what anyone on the LAN could do.
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [cmd, ...argv] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const RAW = join(dirname(fileURLToPath(import.meta.url)), 'outsider-raw.py');
const RAW_VERBS = { 'vxlan-icmp': 'vxlan', 'l2-capture': 'l2-capture', 'l2-replay': 'l2-replay', flood: 'flood' };

/** positional arguments and --name value options */
function parse(list) {
  const pos = [];
  const opt = {};
  for (let i = 0; i < list.length; i++) {
    if (list[i].startsWith('--')) opt[list[i].slice(2)] = list[++i];
    else pos.push(list[i]);
  }
  return { pos, opt };
}

const readPackets = (file) => readFileSync(file, 'utf8').trim().split('\n').filter(Boolean)
  .map((h) => Buffer.from(h, 'hex'));

async function sendAll(packets, port, address = '255.255.255.255', gapMs = 5) {
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.bind(0, r));
  s.setBroadcast(true);
  for (const p of packets) {
    await new Promise((r) => s.send(p, port, address, r));
    if (gapMs) await sleep(gapMs);
  }
  s.close();
}

// --- the wire format, as far as anyone can read it: header, TLVs, 32-byte tag (never checked here) ---
const F = { cluster: 1, nodeId: 2, overlayIp: 3, underlayIp: 4, seq: 6, sentAt: 7, heldMs: 17, physMac: 18, cidr: 9 };
const TYPES = ['?', 'announce', 'probe', 'defend', 'forget', 'challenge'];
const ip = (b) => (b && b.length === 4 ? [...b].join('.') : null);
const u64 = (b) => (b && b.length === 8 ? Number(b.readBigUInt64BE(0)) : null);

function fields(p) {
  if (p.length < 42 || p.toString('latin1', 0, 4) !== 'EOVL') return undefined;
  const body = p.subarray(10, 10 + p.readUInt16BE(8));
  const f = new Map();
  for (let o = 0; o + 2 <= body.length && o + 2 + body[o + 1] <= body.length; o += 2 + body[o + 1]) {
    f.set(body[o], body.subarray(o + 2, o + 2 + body[o + 1]));
  }
  return f;
}

function inspect(p) {
  const f = fields(p);
  if (!f) return { type: 'unknown' };
  const mac = f.get(F.physMac);
  return {
    type: TYPES[p[5]] ?? '?', cluster: f.get(F.cluster)?.toString('utf8') ?? null,
    nodeId: f.get(F.nodeId)?.toString('hex') ?? null,
    seq: u64(f.get(F.seq)), sentAt: u64(f.get(F.sentAt)), heldMs: u64(f.get(F.heldMs)),
    overlayIp: ip(f.get(F.overlayIp)),
    underlayIp: ip(f.get(F.underlayIp)),
    physMac: mac ? [...mac].map((x) => x.toString(16).padStart(2, '0')).join(':') : null,
  };
}

/** An unsigned announcement-shaped packet of another cluster (the tag is 32 random-looking bytes). */
function foreignPacket(cluster, cidr, i) {
  const [net, len] = cidr.split('/');
  const tlv = (id, v) => Buffer.concat([Buffer.from([id, v.length]), v]);
  const n8 = (x) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(x)); return b; };
  const body = Buffer.concat([
    tlv(F.cluster, Buffer.from(cluster, 'utf8')), tlv(F.nodeId, Buffer.alloc(16, i & 255)), tlv(F.seq, n8(i + 1)),
    tlv(F.sentAt, n8(Date.now())),
    tlv(F.overlayIp, Buffer.from(net.split('.').map(Number))),
    tlv(F.cidr, Buffer.from([...net.split('.').map(Number), Number(len)])),
  ]);
  const head = Buffer.alloc(10);
  head.write('EOVL', 0, 'latin1');
  head[4] = 1; // version
  head[5] = 1; // announce
  head.writeUInt16BE(body.length, 8);
  return Buffer.concat([head, body, Buffer.alloc(32, 0xa5)]);
}

async function capture(port, ms, file, node, count) {
  const got = [];
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  let finish;
  const done = new Promise((r) => { finish = r; });
  s.on('message', (m) => {
    if (node && inspect(m).nodeId !== node) return;
    got.push(m.toString('hex'));
    if (count && got.length >= count) finish();
  });
  process.on('SIGTERM', () => finish());
  await new Promise((r) => s.bind(Number(port), '0.0.0.0', r));
  console.log(JSON.stringify({ listening: Number(port) }));
  const timer = setTimeout(() => finish(), Number(ms));
  await done;
  clearTimeout(timer);
  s.close();
  writeFileSync(file, got.join('\n') + '\n');
  return { captured: got.length };
}

async function main() {
  const { pos, opt } = parse(argv);
  if (cmd in RAW_VERBS) {
    // python prints its own JSON lines; SIGTERM is passed on, so stopping this process stops it
    const child = spawn('python3', [RAW, RAW_VERBS[cmd], ...argv], { stdio: 'inherit' });
    process.on('SIGTERM', () => child.kill('SIGTERM'));
    const code = await new Promise((r) => child.on('exit', (c) => r(c ?? 1)));
    process.exit(code);
  }
  if (cmd === 'capture') {
    const [port, ms, file] = pos;
    return capture(port, ms, file, opt.node, Number(opt.count ?? 0));
  }
  if (cmd === 'inspect') return readPackets(pos[0]).map(inspect);
  if (cmd === 'replay' || cmd === 'forge') {
    const [file, port, host] = pos;
    let packets = readPackets(file);
    if (cmd === 'forge') {
      packets = packets.map((p) => {
        const b = Buffer.from(p);
        b[20] ^= 0x55; // inside the body: the shape stays valid, the HMAC no longer matches
        return b;
      });
    }
    await sendAll(packets, Number(port), host);
    return { sent: packets.length };
  }
  if (cmd === 'vxlan') {
    const [host, port, vni, n] = pos;
    const vx = Buffer.alloc(8);
    vx[0] = 0x08; // I flag: VNI present
    vx.writeUIntBE(Number(vni), 4, 3);
    const inner = Buffer.concat([
      Buffer.from('ffffffffffff', 'hex'), Buffer.from('02deadbeef01', 'hex'), Buffer.from('0806', 'hex'), // ARP
      Buffer.from('0001080006040001' + '02deadbeef01' + '64' + '40c0fe' + '000000000000' + '6440c001', 'hex'),
    ]);
    const pkt = Buffer.concat([vx, inner]);
    await sendAll(Array.from({ length: Number(n) }, () => pkt), Number(port), host);
    return { sent: Number(n) };
  }
  if (cmd === 'junk') {
    const [port, host, names, rounds] = pos.map((x, i) => (i === 1 ? x : Number(x)));
    const cidrs = (opt.cidrs ?? '100.64.0.0/10,100.64.192.0/24').split(',');
    const esc =
      Array.from({ length: Number(opt.escape ?? 0) }, (_, k) => `\x1b[2J\x1b[31mevil-${k}\x1b]0;pwned\x07\x1b[0m`);
    const junk =
      Array.from({ length: names }, (_, k) => `${opt.prefix ?? 'junk'}-${k}-${Math.random().toString(36).slice(2, 8)}`);
    const packets = [];
    for (let r = 0; r < rounds; r++) {
      for (const name of [...esc, ...junk, ...esc]) {
        packets.push(foreignPacket(name, cidrs[r % cidrs.length], packets.length));
      }
    }
    const t0 = Date.now();
    await sendAll(packets, Number(port), host, 0);
    return { sent: packets.length, names: names + esc.length, ms: Date.now() - t0 };
  }
  console.error(
    'usage: outsider.mjs capture|inspect|replay|forge|vxlan|junk|vxlan-icmp|l2-capture|l2-replay|flood ...');
  process.exit(2);
}

console.log(JSON.stringify(await main()));
