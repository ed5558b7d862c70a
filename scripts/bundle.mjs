#!/usr/bin/env node
// Build step: the one bundled program. Contract: bundles src/main.ts and its
// dependencies (esbuild) into dist/edge-overlay.cjs, one CommonJS file, and
// copies the two native addons beside it (edge_overlay.node,
// netlink_binding.node), where the bundle looks for them. Run by `npm run build`.
//
// Start-up is what a CLI call pays, and V8 pre-parses every function of a
// file it loads. So the file has two halves: the start-up half (commander,
// help, `status`) as code, and the commands half (src/cli/commands.ts: the
// agent, doctor, down, zod, yaml, pino, netlink — 90 % of the bytes) as one
// string literal, compiled only when a command imports it (a string costs a
// scan, not a parse). Both halves are plain esbuild bundles.
import { build } from 'esbuild';
import { chmodSync, copyFileSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'edge-overlay.cjs');

/**
 * A plugin that replaces `find` by `replace` in the dependency file matching `filter`; fails if `find` is gone (the
 * dependency changed).
 */
const patch = (name, filter, find, replace) => ({
  name,
  setup(b) {
    b.onLoad({ filter }, (args) => {
      const src = readFileSync(args.path, 'utf8');
      if (!src.includes(find)) {
        throw new Error(`${args.path}: "${find}" is gone (the dependency changed); `
          + `update ${name} in scripts/bundle.mjs`);
      }
      return { contents: src.replace(find, replace), loader: 'js' };
    });
  },
});

// netlink finds its binding through node-gyp-build and __dirname; in the
// bundle it sits beside the bundle instead
const netlinkBinding = patch('netlink-binding', /[\\/]netlink[\\/]dist[\\/]raw\.js$/,
  "require('node-gyp-build')(__dirname + '/..')", "require(__eoNative('netlink_binding.node'))");

// commander loads child_process (and with it net and stream: ~20 ms of Node's
// own modules) only to spawn executable subcommands, which we have none of
const commanderLazy = patch('commander-lazy-child-process', /[\\/]commander[\\/]lib[\\/]command\.js$/,
  "const childProcess = require('node:child_process');",
  "const childProcess = { spawn: (...a) => require('node:child_process').spawn(...a) };");

// The commands half, evaluated like a CommonJS module the first time it is imported.
const commandsModule = (source) => `
const wrapped = '(function (exports, require, module, __filename, __dirname, __eoUrl, __eoNative) {'
  + ${JSON.stringify(source)} + '\\n})';
const fn = new (require('node:vm').Script)(wrapped, { filename: __filename + '#commands' }).runInThisContext();
const m = { exports: {} };
fn(m.exports, require, m, __filename, __dirname, __eoUrl, __eoNative);
module.exports = m.exports;
`;
const commandsHalf = (source) => ({
  name: 'commands-half',
  setup(b) {
    b.onResolve({ filter: /^\.\/cli\/commands\.js$/ }, () => ({ path: 'commands', namespace: 'eo-commands' }));
    b.onLoad({ filter: /.*/, namespace: 'eo-commands' }, () => ({ contents: commandsModule(source), loader: 'js' }));
  },
});

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
  define: { 'import.meta.url': '__eoUrl' },
};

try {
  const commands = await build({
    ...common, entryPoints: [join(root, 'src', 'cli', 'commands.ts')], write: false, outfile: 'commands.cjs',
    plugins: [netlinkBinding],
  });
  await build({
    ...common,
    entryPoints: [join(root, 'src', 'main.ts')],
    outfile: out,
    plugins: [commanderLazy, commandsHalf(commands.outputFiles[0].text)],
    banner: {
      js: [
        "'use strict';",
        "const __eoUrl = require('node:url').pathToFileURL(__filename).href;",
        "const __eoNative = (name) => require('node:path').join(__dirname, name);",
      ].join('\n'),
    },
  });
} catch {
  process.exit(1); // esbuild printed what failed
}
chmodSync(out, 0o755);
copyFileSync(join(root, 'build', 'Release', 'edge_overlay.node'), join(root, 'dist', 'edge_overlay.node'));
copyFileSync(join(root, 'node_modules', 'netlink', 'build', 'Release', 'netlink_binding.node'),
  join(root, 'dist', 'netlink_binding.node'));
console.log(`bundle: dist/edge-overlay.cjs ${(statSync(out).size / 1024).toFixed(0)} KiB`);
