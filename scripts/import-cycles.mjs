// Import cycles among the TypeScript sources: prints each strongly connected component of the
// import graph with more than one file (or a file importing itself) and exits 1 if there is one.
// `import type` / `export type` statements are left out: they vanish at compile time, so they
// cannot make a module load before its dependency. Usage: node scripts/import-cycles.mjs [dir...]
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { valueImports } from './import-graph.mjs';

const roots = process.argv.slice(2).length ? process.argv.slice(2) : ['src', 'testkit', 'test', 'bench'];
const files = [];
const walk = (d) => {
  for (const e of readdirSync(d)) {
    const p = join(d, e);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.ts')) files.push(resolve(p));
  }
};
for (const r of roots) walk(r);

const known = new Set(files);
const graph = new Map();
for (const f of files) graph.set(f, new Set([...valueImports(f).local].filter((t) => known.has(t))));

// Tarjan's strongly connected components.
let index = 0;
const idx = new Map();
const low = new Map();
const stack = [];
const on = new Set();
const cycles = [];
const visit = (v) => {
  idx.set(v, index);
  low.set(v, index++);
  stack.push(v);
  on.add(v);
  for (const w of graph.get(v)) {
    if (!idx.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const comp = [];
    let w;
    do {
      w = stack.pop();
      on.delete(w);
      comp.push(w);
    } while (w !== v);
    if (comp.length > 1 || graph.get(v).has(v)) cycles.push(comp);
  }
};
for (const f of files) if (!idx.has(f)) visit(f);

const edges = [...graph.values()].reduce((n, d) => n + d.size, 0);
for (const c of cycles) console.log(`cycle: ${c.map((f) => relative(process.cwd(), f)).sort().join(' <-> ')}`);
console.log(`${files.length} files, ${edges} value imports, ${cycles.length} cycle(s)`);
process.exit(cycles.length ? 1 : 0);
