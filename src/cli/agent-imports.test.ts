// The agent binary's module graph: what `podlb agent` loads at run time. client-node's config
// module loads every generated API (about 88 MB of RSS); a per-node process must not pay that,
// so it may appear there only as a type.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { valueImports } from '../../scripts/import-graph.mjs';

/** Every package a file's value imports reach, through the repository's own files. */
function packagesReached(entry: string, opts: { dynamic?: boolean } = {}): Map<string, string> {
  const seen = new Set<string>();
  const packages = new Map<string, string>();
  const todo = [entry];
  for (let f = todo.pop(); f !== undefined; f = todo.pop()) {
    if (seen.has(f)) continue;
    seen.add(f);
    const { local, bare } = valueImports(f, opts);
    for (const p of bare) if (!packages.has(p)) packages.set(p, f);
    todo.push(...local);
  }
  return packages;
}

const src = (p: string): string => fileURLToPath(new URL(`../${p}`, import.meta.url));

describe('agent module graph', () => {
  it('does not load @kubernetes/client-node at run time', () => {
    const reached = packagesReached(src('cli/agent-main.ts'));
    expect(reached.has('protobufjs')).toBe(true);
    const clientNode = [...reached].filter(([p]) => p.startsWith('@kubernetes/client-node'));
    expect(clientNode.map(([p, from]) => `${p} from ${from}`)).toEqual([]);
  });

  it('loads neither undici’s index nor node:http as an ES module', () => {
    // undici's index loads fetch, WebSocket, caches and mocks (14 MB of RSS; src/kube/undici-core.ts
    // takes Agent and request alone); an ES import of node:http loads Node's own bundled undici
    // (16 MB) through its lazy WebSocket exports.
    const reached = packagesReached(src('cli/agent-main.ts'));
    expect([...reached].filter(([p]) => p === 'undici' || p === 'node:http' || p === 'http').map(([p, from]) => `${p} from ${from}`)).toEqual([]);
  });

  it('loads the BGP modules (BIRD rendering, netlink over FFI) only when it runs BGP', () => {
    // A --no-bgp agent on each of 1,000 nodes would carry them for nothing (about 5 MB of RSS):
    // Agent.create() and the withdraw-on-stop path import them when asked.
    const bgpOnly = ['handlebars', 'koffi'];
    const loaded = packagesReached(src('agent/agent.ts'), { dynamic: false });
    expect(bgpOnly.filter((p) => loaded.has(p)).map((p) => `${p} from ${loaded.get(p)}`)).toEqual([]);
    // The check can fail: with what loads on demand, both are there.
    const all = packagesReached(src('agent/agent.ts'));
    expect(bgpOnly.filter((p) => all.has(p))).toEqual(bgpOnly);
  });

  it('sees client-node where it is loaded (the controller), so the check above can fail', () => {
    expect(packagesReached(src('controller/main.ts')).has('@kubernetes/client-node')).toBe(true);
    expect(packagesReached(src('controller/main.ts')).has('node:http')).toBe(true);
  });
});
