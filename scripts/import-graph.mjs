// The value imports of a TypeScript source file, as the import-cycle check and the agent's
// module-graph test read them. `import type` / `export type` statements (and `import { type A }`)
// are left out: they vanish at compile time, so they load nothing.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

const STATEMENT = /(?:^|\n)\s*(import|export)\s+(type\s+)?([^;'"]*?)\s*from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/**
 * `local`: the .ts files a relative specifier names; `bare`: package specifiers, as written.
 * `dynamic: false` leaves out `import()`: what loads only when the code asks for it.
 */
export function valueImports(file, { dynamic = true } = {}) {
  const text = readFileSync(file, 'utf8');
  const local = new Set();
  const bare = new Set();
  for (const m of text.matchAll(STATEMENT)) {
    if (m[2]) continue;
    if (!dynamic && m[6]) continue;
    if (m[3] && /^\{[^}]*\}$/.test(m[3].trim()) && m[3].slice(1, -1).split(',').every((s) => s.trim() === '' || /^type\s/.test(s.trim()))) continue;
    const spec = m[4] ?? m[5] ?? m[6];
    if (spec.startsWith('.')) local.add(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
    else bare.add(spec);
  }
  return { local, bare };
}
