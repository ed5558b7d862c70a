#!/usr/bin/env node
// Lab helper: a long-lived TCP connection across the overlay.
//   node tcp-probe.mjs server PORT            echo every byte back
//   node tcp-probe.mjs client HOST PORT MS    send an 8-byte counter every MS ms
// On SIGTERM the client prints one JSON line: bytes sent and echoed back,
// the longest gap between echoes, and whether the connection ever failed.
import net from 'node:net';

const [mode, a, b, c] = process.argv.slice(2);
if (mode === 'server') {
  let total = 0;
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => { total += d.length; s.write(d); });
    s.on('error', () => {});
  });
  server.listen(Number(a), '0.0.0.0');
  process.on('SIGTERM', () => { process.stdout.write(`${JSON.stringify({ received: total })}\n`); process.exit(0); });
} else if (mode === 'client') {
  const interval = Number(c ?? 20);
  let sent = 0; let echoed = 0; let lastEcho = 0; let maxGap = 0; let error = null; let closed = false;
  const sock = net.createConnection({ host: a, port: Number(b) }, () => {
    lastEcho = Date.now();
    sock.setNoDelay(true);
    const buf = Buffer.alloc(8);
    setInterval(() => {
      buf.writeBigUInt64BE(BigInt(sent));
      sock.write(buf);
      sent += 8;
    }, interval);
  });
  sock.on('data', (d) => {
    const now = Date.now();
    if (echoed > 0) maxGap = Math.max(maxGap, now - lastEcho);
    lastEcho = now; echoed += d.length;
  });
  sock.on('error', (e) => { error = e.code ?? String(e); });
  sock.on('close', () => { closed = true; });
  process.on('SIGTERM', () => {
    process.stdout.write(`${JSON.stringify({ sent, echoed, maxGapMs: maxGap, error, closed })}\n`);
    process.exit(0);
  });
} else {
  process.stderr.write('usage: tcp-probe.mjs server PORT | client HOST PORT [MS]\n');
  process.exit(2);
}
