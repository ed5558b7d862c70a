// Unit: the shape of the source tree — no import cycle anywhere (src, scripts,
// bench, test), src's folders import only downward (LAYERS), and no line of
// code is longer than 120 characters. Imports are read as text: static,
// type-only, re-exports and dynamic import('...') all count.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, normalize, relative } from 'node:path';

const ROOT = normalize(join(dirname(new URL(import.meta.url).pathname), '../..'));
const CODE = /\.(ts|mjs)$/;
const MAX_LINE = 120;

/** src's top-level modules, lowest first: a module may import only from a lower layer (or its own folder). */
const LAYERS: string[][] = [
  ['errors.ts', 'clock.ts', 'version.ts', 'log.ts'],
  ['util', 'net', 'native', 'control', 'service'],
  ['wire', 'state', 'kernel', 'alloc'],
  ['policy', 'firewall', 'discovery'],
  ['dataplane'],
  ['peers'],
  ['agent'],
  ['config', 'doctor'],
  ['metrics'],
  ['cli'],
  ['main.ts'],
];

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (CODE.test(name)) out.push(p);
  }
  return out;
}

const ALL = ['src', 'scripts', 'bench', 'test'].flatMap((d) => files(join(ROOT, d)));
/** `import ... from './x.js'`, `export ... from './x.js'` (type-only too) and `import('./x.js')` */
const IMPORT = new RegExp(/(?:^|\s)(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]/.source
  + /|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/.source, 'gm');

/** The repository files a file imports (relative imports; `.js` names the `.ts` source). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2]!;
    const target = normalize(join(dirname(file), spec));
    const ts = extname(target) === '.js' ? `${target.slice(0, -3)}.ts` : target;
    out.push(ALL.includes(ts) ? ts : target);
  }
  return out.filter((t) => ALL.includes(t));
}

const rel = (f: string): string => relative(ROOT, f);

describe('source tree', () => {
  const graph = new Map(ALL.map((f) => [f, importsOf(f)]));

  it('has no import cycle', () => {
    // Tarjan's strongly connected components: any component of two or more files is a cycle
    let index = 0;
    const idx = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const on = new Set<string>();
    const cycles: string[][] = [];
    const visit = (v: string): void => {
      idx.set(v, index);
      low.set(v, index++);
      stack.push(v);
      on.add(v);
      for (const w of graph.get(v) ?? []) {
        if (!idx.has(w)) {
          visit(w);
          low.set(v, Math.min(low.get(v)!, low.get(w)!));
        } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
      if (low.get(v) === idx.get(v)) {
        const comp: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          on.delete(w);
          comp.push(rel(w));
        } while (w !== v);
        if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(comp.sort());
      }
    };
    for (const f of ALL) if (!idx.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it('imports only downward in src (LAYERS)', () => {
    const layerOf = new Map(LAYERS.flatMap((names, i) => names.map((n) => [n, i] as const)));
    const top = (f: string): string => rel(f).split('/')[1]!;
    const upward: string[] = [];
    for (const [f, targets] of graph) {
      if (!rel(f).startsWith('src/')) continue;
      for (const t of targets) {
        if (!rel(t).startsWith('src/') || top(t) === top(f)) continue;
        const from = layerOf.get(top(f));
        const to = layerOf.get(top(t));
        if (from === undefined || to === undefined || to >= from) upward.push(`${rel(f)} -> ${rel(t)}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it(`keeps lines of code within ${MAX_LINE} characters`, () => {
    const long: string[] = [];
    for (const f of ALL) {
      readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
        if (line.length > MAX_LINE) long.push(`${rel(f)}:${i + 1} (${line.length})`);
      });
    }
    expect(long).toEqual([]);
  });
});
