import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { closeRunScope, findLeaks, formatLeaks, openRunScope, parseIpRoutes, parseNftTables, preexisting, type HostState, type Leak } from './leak-check.js';

const run = { tag: 'a1b2c3', selfPids: [100, 101] };
const empty: HostState = { routes: [], namespaces: [], processes: [], files: [], containers: [], nftTables: [] };
const blackhole = { family: 4 as const, dst: '10.244.3.0/24', table: 'main', type: 'blackhole' };

describe('findLeaks', () => {
  it.each<[string, Partial<HostState>, Partial<HostState>, Pick<Leak, 'kind' | 'what'>[]]>([
    ['nothing changed', {}, {}, []],
    ['a new proto-201 blackhole in the root table', {}, { routes: [blackhole] }, [{ kind: 'route', what: 'ip blackhole 10.244.3.0/24 proto 201' }]],
    [
      'an IPv6 one in another table',
      {},
      { routes: [{ family: 6, dst: 'fd00:244::/48', table: '100', type: 'unicast', dev: 'eth0' }] },
      [{ kind: 'route', what: 'ip -6 fd00:244::/48 dev eth0 proto 201 table 100' }],
    ],
    ['a route that was there before the run is not the run’s', { routes: [blackhole] }, { routes: [blackhole] }, []],
    [
      'the same prefix in another table is new',
      { routes: [blackhole] },
      { routes: [blackhole, { ...blackhole, table: 'local' }] },
      [{ kind: 'route', what: 'ip blackhole 10.244.3.0/24 proto 201 table local' }],
    ],
    [
      'a namespace named with the run’s tag',
      {},
      { namespaces: ['podlb-4242-a1b2c3ff0011-tor'] },
      [{ kind: 'netns', what: 'netns podlb-4242-a1b2c3ff0011-tor' }],
    ],
    ['another run’s namespace, made meanwhile', {}, { namespaces: ['podlb-4243-ffffffff0011-tor', 'podlb-4243-ff0011-tor'] }, []],
    ['a namespace that is not podlb’s', {}, { namespaces: ['a1b2c3', 'cni-a1b2c3'] }, []],
    ['a tagged namespace that existed before', { namespaces: ['podlb-1-a1b2c3000000-x'] }, { namespaces: ['podlb-1-a1b2c3000000-x'] }, []],
    [
      'BIRD still running with the run’s tag',
      {},
      { processes: [{ pid: 300, comm: 'bird', cmdline: 'bird -f -c /tmp/x/bird.conf' }] },
      [{ kind: 'process', what: 'pid 300 bird -f -c /tmp/x/bird.conf' }],
    ],
    [
      'each FRR and HAProxy daemon',
      {},
      { processes: ['zebra', 'bgpd', 'watchfrr', 'staticd', 'haproxy'].map((comm, i) => ({ pid: 400 + i, comm, cmdline: '' })) },
      ['zebra', 'bgpd', 'watchfrr', 'staticd', 'haproxy'].map((c, i) => ({ kind: 'process' as const, what: `pid ${400 + i} ${c}` })),
    ],
    [
      'a lab Pod server',
      {},
      { processes: [{ pid: 500, comm: 'node', cmdline: 'node dist/src/lab/pod-host-main.js --libc file:///x/native/libc.js' }] },
      [{ kind: 'process', what: 'pid 500 node dist/src/lab/pod-host-main.js --libc file:///x/native/libc.js' }],
    ],
    [
      'a node agent run from the agent image (Node.js 26 names its main thread)',
      {},
      { processes: [{ pid: 510, comm: 'node-MainThread', cmdline: 'node dist/src/cli/podlb.js agent --node-name node1' }] },
      [{ kind: 'process', what: 'pid 510 node dist/src/cli/podlb.js agent --node-name node1' }],
    ],
    [
      'contain.sh’s wrapper around a command run from an image',
      {},
      { processes: [{ pid: 520, comm: 'unshare', cmdline: 'unshare --mount --pid --fork --kill-child=SIGKILL --propagation private -- bash -c' }] },
      [{ kind: 'process', what: 'pid 520 unshare --mount --pid --fork --kill-child=SIGKILL --propagation private -- bash -c' }],
    ],
    [
      'a mounted image of the run (buildah working container)',
      {},
      { containers: ['podlb-4242-a1b2c3ff0011-bird', 'podlb-bird-working-container', 'podlb-4243-ffffff0011aa-agent'] },
      [{ kind: 'container', what: 'buildah container podlb-4242-a1b2c3ff0011-bird (a mounted image)' }],
    ],
    ['an image mounted before the run', { containers: ['podlb-1-a1b2c3000000-agent'] }, { containers: ['podlb-1-a1b2c3000000-agent'] }, []],
    [
      'the runner itself and its workers are not leaks',
      {},
      {
        processes: [
          { pid: 100, comm: 'node', cmdline: 'node vitest run' },
          { pid: 600, comm: 'node', cmdline: 'node vitest/dist/workers/forks.js' },
          { pid: 601, comm: 'esbuild', cmdline: 'esbuild --service' },
        ],
      },
      [],
    ],
    [
      'a process alive before the run',
      { processes: [{ pid: 700, comm: 'bird', cmdline: 'bird' }] },
      { processes: [{ pid: 700, comm: 'bird', cmdline: 'bird' }] },
      [],
    ],
    [
      'a podlb nft table in the root namespace (NAT rules belong in a node namespace)',
      {},
      { nftTables: ['ip podlb-lab-kube-proxy'] },
      [{ kind: 'nft', what: 'nft table ip podlb-lab-kube-proxy in the root network namespace' }],
    ],
    ['a podlb nft table there before the run', { nftTables: ['ip podlb-lab-kube-proxy'] }, { nftTables: ['ip podlb-lab-kube-proxy'] }, []],
    [
      'files left in the run’s temp dirs',
      {},
      { files: ['/tmp/podlb-run-a1b2c3/podlb-lab-logs-x', '/dev/shm/podlb-run-a1b2c3/podlb-bird-y'] },
      [
        { kind: 'file', what: '/tmp/podlb-run-a1b2c3/podlb-lab-logs-x' },
        { kind: 'file', what: '/dev/shm/podlb-run-a1b2c3/podlb-bird-y' },
      ],
    ],
  ])('%s', (_name, before, after, want) => {
    const leaks = findLeaks({ ...empty, ...before }, { ...empty, ...after }, run);
    expect(leaks.map(({ kind, what }) => ({ kind, what }))).toEqual(want);
  });

  it('says how to remove each leftover', () => {
    const leaks = findLeaks(
      empty,
      { ...empty, routes: [blackhole, { family: 6, dst: 'fd00::/64', table: '100', type: 'blackhole' }], namespaces: ['podlb-9-a1b2c3000000-n1'] },
      run,
    );
    expect(leaks.map((l) => l.fix)).toEqual([
      'ip route del blackhole 10.244.3.0/24',
      'ip -6 route del blackhole fd00::/64 table 100',
      'ip netns pids podlb-9-a1b2c3000000-n1 | xargs -r kill -9; ip netns del podlb-9-a1b2c3000000-n1',
    ]);
    expect(formatLeaks(leaks, 'this run')).toMatch(/^this run left 3 thing\(s\) behind/);
    expect(findLeaks(empty, { ...empty, containers: ['podlb-9-a1b2c3000000-bird'] }, run).map((l) => l.fix)).toEqual(['buildah rm podlb-9-a1b2c3000000-bird']);
    expect(findLeaks(empty, { ...empty, nftTables: ['ip podlb-lab-kube-proxy'] }, run).map((l) => l.fix)).toEqual(['nft delete table ip podlb-lab-kube-proxy']);
    expect(formatLeaks([], 'this run')).toBe('');
  });
});

describe('parseIpRoutes', () => {
  it('reads `ip -j route show table all proto 201` as iproute2 prints it', () => {
    const json = '[{"type":"blackhole","dst":"10.244.3.0/24","metric":4000000000,"flags":[]},{"dst":"10.9.0.0/16","dev":"eth0","table":"100","flags":[]}]\n';
    expect(parseIpRoutes(json, 4)).toEqual([
      { family: 4, dst: '10.244.3.0/24', table: 'main', type: 'blackhole' },
      { family: 4, dst: '10.9.0.0/16', table: '100', type: 'unicast', dev: 'eth0' },
    ]);
    expect(parseIpRoutes('', 6)).toEqual([]);
  });

  it('preexisting lists what the root table had before the run', () => {
    expect(preexisting({ ...empty, routes: [blackhole] })).toEqual(['ip blackhole 10.244.3.0/24 proto 201']);
  });
});

describe('parseNftTables', () => {
  it('reads `nft -j list tables` as nft 1.0.6 prints it, keeping only podlb… tables', () => {
    const json =
      '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "podlb-lab-kube-proxy", "handle": 1}}, {"table": {"family": "inet", "name": "filter", "handle": 2}}]}\n';
    expect(parseNftTables(json)).toEqual(['ip podlb-lab-kube-proxy']);
    expect(parseNftTables('')).toEqual([]);
  });
});

describe('openRunScope', () => {
  it("keeps Node's module compile cache, which tsc and vite turn on in the processes they run in, out of the run's temp dir", () => {
    const before = process.env.NODE_COMPILE_CACHE;
    const scope = openRunScope();
    try {
      const mod = createRequire(import.meta.url).resolve('yaml');
      execFileSync(process.execPath, ['-e', "const m = require('node:module'); m.enableCompileCache(); require(process.argv[1]); m.flushCompileCache()", mod], {
        stdio: 'ignore',
      });
      expect(readdirSync(scope.tmpDir)).toEqual([]);
    } finally {
      closeRunScope(scope);
    }
    expect(process.env.NODE_COMPILE_CACHE).toBe(before);
  });
});
