#!/usr/bin/env node
// Lab helper: a long-lived TCP connection across the overlay.
//   node tcp-probe.mjs server PORT            print {listening}; echo every byte back; on SIGTERM print {received}
//   node tcp-probe.mjs client HOST PORT MS    print {connected}; send an 8-byte counter (its own stream offset)
//                                             every MS ms
// On SIGTERM the client stops sending, waits up to 2 s for the last echoes,
// and prints one JSON line: bytes sent and echoed back, whether every echoed
// byte was the one sent at that offset, the longest gap between echoes, and
// whether the connection ever failed.
import net from 'node:net';

const [mode, a, b, c] = process.argv.slice(2);
if (mode === 'server') {
  let total = 0;
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => { total += d.length; s.write(d); });
    s.on('error', () => {});
  });
  server.listen(Number(a), '0.0.0.0', () => process.stdout.write(`${JSON.stringify({ listening: true })}\n`));
  process.on('SIGTERM', () => { process.stdout.write(`${JSON.stringify({ received: total })}\n`); process.exit(0); });
} else if (mode === 'client') {
  const interval = Number(c ?? 20);
  let sent = 0; let echoed = 0; let lastEcho = 0; let maxGap = 0; let error = null; let closed = false;
  let intact = true;
  let carry = Buffer.alloc(0);
  let timer;
  const sock = net.createConnection({ host: a, port: Number(b) }, () => {
    process.stdout.write(`${JSON.stringify({ connected: true })}\n`);
    lastEcho = Date.now();
    sock.setNoDelay(true);
    timer = setInterval(() => {
      const buf = Buffer.alloc(8);
      buf.writeBigUInt64BE(BigInt(sent));
      sock.write(buf);
      sent += 8;
    }, interval);
  });
  sock.on('data', (d) => {
    const now = Date.now();
    if (echoed > 0) maxGap = Math.max(maxGap, now - lastEcho);
    lastEcho = now;
    // every 8-byte word must hold its own offset in the stream
    carry = Buffer.concat([carry, d]);
    while (carry.length >= 8) {
      if (carry.readBigUInt64BE(0) !== BigInt(echoed)) intact = false;
      carry = carry.subarray(8);
      echoed += 8;
    }
  });
  sock.on('error', (e) => { error = e.code ?? String(e); });
  sock.on('close', () => { closed = true; });
  process.on('SIGTERM', () => {
    clearInterval(timer);
    const deadline = Date.now() + 2000;
    const done = () => {
      if (echoed < sent && !closed && Date.now() < deadline) return setTimeout(done, 10);
      process.stdout.write(
        `${JSON.stringify({ sent, echoed, intact: intact && carry.length === 0, maxGapMs: maxGap, error, closed })}\n`);
      process.exit(0);
    };
    done();
  });
} else {
  process.stderr.write('usage: tcp-probe.mjs server PORT | client HOST PORT [MS]\n');
  process.exit(2);
}
