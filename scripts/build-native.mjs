#!/usr/bin/env node
// Build helper: native code. Contract: after it returns, node_modules/netlink
// carries our patch (native/netlink-0.3.0.patch) and is built from source, and
// our own addon (binding.gyp, native/*.cc) is built. Idempotent: it rebuilds
// only what is missing or older than its sources. netlink@0.3.0 ships no
// prebuilt binary for us and, unpatched, aborts the process on a netlink
// receive overrun (see the patch header in README.md).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const nl = join(root, 'node_modules', 'netlink');
const MARKER = 'edge-overlay patch';

function fail(msg) {
  console.error(`build-native: ${msg}`);
  process.exit(1);
}

function mtime(p) {
  return existsSync(p) ? statSync(p).mtimeMs : 0;
}

function nodeGypArgs() {
  const nodedir = process.env.npm_config_nodedir
    || (existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined);
  return nodedir ? [`--nodedir=${nodedir}`] : [];
}

function nodeGyp(cwd) {
  const gyp = require.resolve('node-gyp/bin/node-gyp.js');
  execFileSync(process.execPath, [gyp, 'rebuild', '--loglevel=warn', ...nodeGypArgs()], {
    cwd, stdio: ['ignore', 'ignore', 'inherit'],
  });
}

// 1. netlink: check version, patch once, build when stale.
if (!existsSync(join(nl, 'package.json'))) fail('node_modules/netlink is missing; run npm ci first');
const version = JSON.parse(readFileSync(join(nl, 'package.json'), 'utf8')).version;
if (version !== '0.3.0') fail(`netlink ${version} installed, but native/netlink-0.3.0.patch is for 0.3.0`);
const src = join(nl, 'src', 'binding.cc');
if (!readFileSync(src, 'utf8').includes(MARKER)) {
  execFileSync('patch', ['-p1', '--forward', '--batch', '-d', nl, '-i', join(root, 'native', 'netlink-0.3.0.patch')], {
    stdio: 'inherit',
  });
  if (!readFileSync(src, 'utf8').includes(MARKER)) fail('patching netlink did not apply');
}
const nlOut = join(nl, 'build', 'Release', 'netlink_binding.node');
if (mtime(nlOut) < mtime(src)) {
  console.error('build-native: building patched netlink binding');
  nodeGyp(nl);
}

// 2. our addon.
const ours = join(root, 'build', 'Release', 'edge_overlay.node');
const sources = [
  join(root, 'binding.gyp'),
  ...readdirSync(join(root, 'native'))
    .filter((f) => f.endsWith('.cc') || f.endsWith('.h'))
    .map((f) => join(root, 'native', f)),
];
if (sources.some((s) => mtime(s) > mtime(ours))) {
  console.error('build-native: building edge_overlay addon');
  nodeGyp(root);
}
