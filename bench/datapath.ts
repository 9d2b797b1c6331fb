// Request latency through the L7 load balancer to the same Pods by two paths, in one run:
// direct to Pod IPs (podlb: members registered by the agents, routes learned by BGP) and via
// NodePorts (kube-proxy's DNAT with externalTrafficPolicy Cluster, cross-node, masqueraded;
// src/lab/datapath.ts). One HAProxy, one backend per path, the same Pods and health checks.
//
// The load is open loop at a fixed rate, keep-alive to HAProxy, HAProxy to the servers as the
// lab configures it (its default connection reuse). The paths take turns in short rounds
// (ABBA order), so a change in what the other users of this machine do lands on both.
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { startDataPathLab } from '../src/lab/datapath.js';
import type { Reply } from '../src/lab/http-load.js';
import { runPacedLoad, type PacedLoadResult } from '../src/lab/paced-load.js';
import { summarize, type Summary } from './stats.js';

export interface DataPathOptions {
  ratePerSecond: number;
  /** Rounds per path; the paths alternate. */
  rounds: number;
  roundMs: number;
  podsPerNode: number;
}

const DEFAULTS: DataPathOptions = { ratePerSecond: 200, rounds: 6, roundMs: 2500, podsPerNode: 2 };

interface PathTotals {
  sent: number;
  ok: number;
  failed: number;
  errors: string[];
  byPod: Record<string, number>;
  latencies: number[];
  byClass: Record<string, number[]>;
  scheduleLagMs: number;
}

function add(t: PathTotals, r: PacedLoadResult): void {
  t.sent += r.sent;
  t.ok += r.ok;
  t.failed += r.failed;
  t.errors.push(...r.errors);
  for (const [pod, n] of Object.entries(r.byPod)) t.byPod[pod] = (t.byPod[pod] ?? 0) + n;
  t.latencies.push(...r.latenciesMs);
  for (const [c, xs] of Object.entries(r.latenciesByClassMs)) (t.byClass[c] ??= []).push(...xs);
  t.scheduleLagMs = Math.max(t.scheduleLagMs, r.scheduleLagMs);
}

const empty = (): PathTotals => ({ sent: 0, ok: 0, failed: 0, errors: [], byPod: {}, latencies: [], byClass: {}, scheduleLagMs: 0 });
const ratio = (a: number, b: number): number => Number((a / b).toFixed(2));
const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

export async function benchDataPath(opts: Partial<DataPathOptions> = {}): Promise<Record<string, unknown>> {
  const o = { ...DEFAULTS, ...opts };
  const loadBefore = load();
  const dp = await startDataPathLab({ podsPerNode: [o.podsPerNode, o.podsPerNode] });
  try {
    const nodeOfPod = new Map(dp.pods.map((p) => [p.name, p.node]));
    const nodeOfAddress = new Map(dp.lab.topo.nodes.map((n) => [n.address, n.name]));
    // The Pod reports who connected to it: after masquerade that is the node the request
    // entered by, so a Pod on another node means the request crossed the ToR once more.
    const nodePortClass = (r: Reply): string => {
      const entry = r.peer === undefined ? undefined : nodeOfAddress.get(r.peer);
      if (entry === undefined) return `unexpected peer ${r.peer}`;
      return nodeOfPod.get(r.pod ?? '') === entry ? 'local' : 'crossNode';
    };
    const directClass = (r: Reply): string => (r.peer === dp.lab.topo.lb.address ? 'direct' : `unexpected peer ${r.peer}`);
    const paths = {
      direct: { socketPath: dp.sockets.direct, classify: directClass },
      nodePort: { socketPath: dp.sockets.nodePort, classify: nodePortClass },
    };
    const run = (p: keyof typeof paths, durationMs: number): Promise<PacedLoadResult> =>
      runPacedLoad({ ...paths[p], ratePerSecond: o.ratePerSecond, durationMs });

    // Unmeasured warm-up: JIT in the Pods and the generator, HAProxy's server connections.
    await run('direct', 1000);
    await run('nodePort', 1000);
    const totals = { direct: empty(), nodePort: empty() };
    const loadStart = load();
    for (let i = 0; i < o.rounds; i++) {
      const order: (keyof typeof paths)[] = i % 2 === 0 ? ['direct', 'nodePort'] : ['nodePort', 'direct'];
      for (const p of order) add(totals[p], await run(p, o.roundMs));
    }
    const loadEnd = load();

    const d = summarize(totals.direct.latencies);
    const n = summarize(totals.nodePort.latencies);
    const classes = Object.fromEntries(Object.entries(totals.nodePort.byClass).map(([c, xs]) => [c, summarize(xs)])) as Record<string, Summary>;
    const unexpected = [...Object.keys(totals.direct.byClass), ...Object.keys(totals.nodePort.byClass)].filter((c) => c.startsWith('unexpected'));
    const crossShare = (classes.crossNode?.n ?? 0) / Math.max(1, totals.nodePort.ok);

    const secondsPerPath = (o.rounds * o.roundMs) / 1000;
    console.log(
      `\nLB → Pod request latency, ${o.ratePerSecond} req/s per path (open loop), ${secondsPerPath} s per path in ${o.rounds} alternating rounds, ` +
        `${dp.pods.length} Pods on ${dp.lab.topo.nodes.length} nodes, keep-alive to HAProxy`,
    );
    const row = (name: string, s: Summary, failed: number | string): string =>
      `  ${name.padEnd(26)}${String(s.n).padStart(6)}${s.p50Ms.toFixed(3).padStart(10)}${s.p99Ms.toFixed(3).padStart(10)}${s.meanMs.toFixed(3).padStart(10)}${s.maxMs.toFixed(3).padStart(10)}${String(failed).padStart(8)}`;
    console.log(`  ${'path'.padEnd(26)}${'n'.padStart(6)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'mean ms'.padStart(10)}${'max ms'.padStart(10)}${'failed'.padStart(8)}`);
    console.log(row('direct to Pod IP (podlb)', d, totals.direct.failed));
    console.log(row('via NodePort', n, totals.nodePort.failed));
    if (classes.local) console.log(row('  of which DNAT on node', classes.local, ''));
    if (classes.crossNode) console.log(row('  of which across nodes', classes.crossNode, ''));
    console.log(`  ratio NodePort / direct: p50 ${ratio(n.p50Ms, d.p50Ms)}, p99 ${ratio(n.p99Ms, d.p99Ms)}, mean ${ratio(n.meanMs, d.meanMs)}`);
    console.log(`  NodePort requests answered by a Pod on another node: ${(crossShare * 100).toFixed(0)} %`);
    console.log(`  load average (1/5/15 min): before setup ${loadBefore}; load start ${loadStart}; load end ${loadEnd}`);
    console.log(`  generator lateness, worst: direct ${totals.direct.scheduleLagMs} ms, NodePort ${totals.nodePort.scheduleLagMs} ms`);
    for (const [p, t] of Object.entries(totals)) if (t.errors.length) console.log(`  ${p} errors: ${t.errors.join(', ')}`);
    if (unexpected.length) throw new Error(`replies from an unexpected client address: ${unexpected.join(', ')}`);

    return {
      direct: d,
      nodePort: n,
      ...(classes.local ? { nodePortLocal: classes.local } : {}),
      ...(classes.crossNode ? { nodePortCrossNode: classes.crossNode } : {}),
      ratioP50: ratio(n.p50Ms, d.p50Ms),
      ratioP99: ratio(n.p99Ms, d.p99Ms),
      nodePortCrossNodeShare: Number(crossShare.toFixed(3)),
      failed: { direct: totals.direct.failed, nodePort: totals.nodePort.failed },
      byPod: { direct: totals.direct.byPod, nodePort: totals.nodePort.byPod },
      ratePerSecond: o.ratePerSecond,
      secondsPerPath,
      loadAverage: { beforeSetup: loadBefore, loadStart, loadEnd },
    };
  } finally {
    await dp.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchDataPath();
}
