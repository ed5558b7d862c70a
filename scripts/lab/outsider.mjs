#!/usr/bin/env node
// Lab helper: an outsider on the LAN who does not hold the cluster key.
//   node outsider.mjs capture PORT MS FILE     save every UDP datagram heard on PORT (hex, one per line)
//   node outsider.mjs replay FILE PORT         re-send the captured datagrams by broadcast
//   node outsider.mjs forge FILE PORT          re-send them with one body byte flipped (valid shape, wrong MAC)
//   node outsider.mjs vxlan HOST PORT VNI N    send N VXLAN packets for VNI to HOST:PORT, each carrying a
//                                              broadcast Ethernet frame from source MAC 02:de:ad:be:ef:01
// Uses nothing from edge-overlay: only what anyone on the LAN could do.
import dgram from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';

const [cmd, ...args] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function sendAll(packets, port, address = '255.255.255.255') {
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.bind(0, r));
  s.setBroadcast(true);
  for (const p of packets) {
    await new Promise((r) => s.send(p, port, address, r));
    await sleep(5);
  }
  s.close();
}

if (cmd === 'capture') {
  const [port, ms, file] = args;
  const got = [];
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  s.on('message', (m) => got.push(m.toString('hex')));
  s.bind(Number(port), '0.0.0.0');
  await sleep(Number(ms));
  s.close();
  writeFileSync(file, got.join('\n') + '\n');
  console.log(JSON.stringify({ captured: got.length }));
} else if (cmd === 'replay' || cmd === 'forge') {
  const [file, port] = args;
  let packets = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((h) => Buffer.from(h, 'hex'));
  if (cmd === 'forge') {
    packets = packets.map((p) => {
      const b = Buffer.from(p);
      b[20] ^= 0x55; // inside the body: the shape stays valid, the HMAC no longer matches
      return b;
    });
  }
  await sendAll(packets, Number(port));
  console.log(JSON.stringify({ sent: packets.length }));
} else if (cmd === 'vxlan') {
  const [host, port, vni, n] = args;
  const vx = Buffer.alloc(8);
  vx[0] = 0x08; // I flag: VNI present
  vx.writeUIntBE(Number(vni), 4, 3);
  const inner = Buffer.concat([
    Buffer.from('ffffffffffff', 'hex'), Buffer.from('02deadbeef01', 'hex'), Buffer.from('0806', 'hex'), // ARP
    Buffer.from('0001080006040001' + '02deadbeef01' + '64' + '40c0fe' + '000000000000' + '6440c001', 'hex'),
  ]);
  const pkt = Buffer.concat([vx, inner]);
  await sendAll(Array.from({ length: Number(n) }, () => pkt), Number(port), host);
  console.log(JSON.stringify({ sent: Number(n) }));
} else {
  console.error('usage: outsider.mjs capture|replay|forge|vxlan ...');
  process.exit(2);
}
