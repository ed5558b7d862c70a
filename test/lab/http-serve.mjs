#!/usr/bin/env node
// Lab helper: the LAN's file server (a package mirror for booted test machines).
//   node http-serve.mjs DIR HOST PORT
// Serves the regular files directly in DIR (GET and HEAD; no listing, no
// subdirectories, nothing outside DIR) on HOST:PORT. Prints one JSON line
// {listening} once it accepts connections, then one per request as it is
// answered: {method, path, status, bytes (promised), from}. Ends on SIGTERM.
import http from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { basename, join } from 'node:path';

const [dir, host, port] = process.argv.slice(2);
if (!dir || !host || !port) {
  process.stderr.write('usage: http-serve.mjs DIR HOST PORT\n');
  process.exit(2);
}
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

const server = http.createServer((req, res) => {
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  const done = (status, bytes) => say({ method: req.method, path, status, bytes, from: req.socket.remoteAddress });
  const name = path.slice(1);
  let size = -1;
  if (name && name === basename(name) && !name.startsWith('.')) {
    try {
      const st = statSync(join(dir, name));
      if (st.isFile()) size = st.size;
    } catch {
      size = -1;
    }
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return done(405, 0);
  }
  if (size < 0) {
    res.writeHead(404).end();
    return done(404, 0);
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
  done(200, req.method === 'HEAD' ? 0 : size);
  if (req.method === 'HEAD') return res.end();
  const s = createReadStream(join(dir, name));
  s.on('error', () => res.destroy());
  s.pipe(res);
});
server.listen(Number(port), host, () => say({ listening: `${host}:${port}` }));
process.on('SIGTERM', () => { server.close(); process.exit(0); });
