// Request latency through the L7 load balancer to the same Pods by two paths, in one run:
// direct to Pod IPs (podlb: members registered by the agents, routes learned by BGP) and via
// NodePorts (kube-proxy's DNAT with externalTrafficPolicy Cluster, cross-node, masqueraded;
// src/lab/datapath.ts). One HAProxy, one backend per path, the same Pods and health checks.
//
// The load is open loop at a fixed rate per path, keep-alive to HAProxy, HAProxy to the
// servers as the lab configures it. Both backends' servers are dynamic (`add server`, as podlb
// adds its members), and HAProxy 2.6 reuses no server connection of a dynamic server (`show
// stat`: one `connect` per request, `reuse` 0; a static `server` line in the same backend is
// reused): so every request pays a TCP handshake over its path, and every NodePort request
// gets a DNAT pick of its own. The figures printed include both counters. Both paths are
// loaded at once, their schedules interleaved (path B's requests half an interval
// after path A's): on a machine shared with others, whatever they do lands on both paths alike.
// Taking turns in 2.5 s rounds was tried first: at a load average of 16 on 2 cores, with the
// generator itself up to 290 ms late, the direct path's p50 came out at twice the NodePort's,
// which said more about when the neighbours' bursts fell than about either path.
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { NODEPORT_BACKEND, startDataPathLab } from '../src/lab/datapath.js';
import { LAB_BACKEND } from '../src/lab/objects.js';
import type { Reply } from '../src/lab/http-load.js';
import { runPacedLoad, type PacedLoadResult } from '../src/lab/paced-load.js';
import { connectionCounters } from '../testkit/haproxy-stats.js';
import { summarize, type Summary } from './stats.js';

export interface DataPathOptions {
  ratePerSecond: number;
  durationMs: number;
  podsPerNode: number;
}

// 2 x 100 req/s: at 2 x 200 on this shared machine (load average 16) the Pods and HAProxy fell
// seconds behind, and the figures measured the queue, not the path.
const CLIENT_CONNECTIONS = 256;
/** Above this p50 the figures measure a queue (the machine fell behind the rate), not a path. */
const SATURATED_P50_MS = 50;
const DEFAULTS: DataPathOptions = { ratePerSecond: 100, durationMs: 15_000, podsPerNode: 2 };

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
    // Connections to HAProxy are not the thing measured: with the paced load's default cap (16)
    // a stall of a few hundred ms on this shared machine held every connection and the queue
    // in front of them, not the path, made the figures.
    const paths = {
      direct: { socketPath: dp.sockets.direct, classify: directClass, maxConnections: CLIENT_CONNECTIONS },
      nodePort: { socketPath: dp.sockets.nodePort, classify: nodePortClass, maxConnections: CLIENT_CONNECTIONS },
    };
    const both = async (durationMs: number): Promise<{ direct: PacedLoadResult; nodePort: PacedLoadResult }> => {
      const direct = runPacedLoad({ ...paths.direct, ratePerSecond: o.ratePerSecond, durationMs });
      await new Promise((r) => setTimeout(r, 500 / o.ratePerSecond));
      const nodePort = runPacedLoad({ ...paths.nodePort, ratePerSecond: o.ratePerSecond, durationMs });
      return { direct: await direct, nodePort: await nodePort };
    };
    const connections = async (): Promise<Record<'direct' | 'nodePort', { connect: number; reuse: number } | undefined>> => {
      const csv = await dp.lab.haproxy.runtime.command('show stat');
      return { direct: connectionCounters(csv, LAB_BACKEND), nodePort: connectionCounters(csv, NODEPORT_BACKEND) };
    };

    // Unmeasured warm-up: JIT in the Pods and the generator, HAProxy's server connections.
    await both(1000);
    const connBefore = await connections();
    const loadStart = load();
    const totals = await both(o.durationMs);
    const loadEnd = load();
    const connAfter = await connections();
    const newConnections = (p: 'direct' | 'nodePort'): { connect: number; reuse: number } | undefined => {
      const a = connAfter[p];
      const b = connBefore[p];
      return a && b ? { connect: a.connect - b.connect, reuse: a.reuse - b.reuse } : undefined;
    };

    const d = summarize(totals.direct.latenciesMs);
    const n = summarize(totals.nodePort.latenciesMs);
    const classes = Object.fromEntries(Object.entries(totals.nodePort.latenciesByClassMs).map(([c, xs]) => [c, summarize(xs)])) as Record<string, Summary>;
    const unexpected = [...Object.keys(totals.direct.latenciesByClassMs), ...Object.keys(totals.nodePort.latenciesByClassMs)].filter((c) =>
      c.startsWith('unexpected'),
    );
    const crossShare = (classes.crossNode?.n ?? 0) / Math.max(1, totals.nodePort.ok);

    const secondsPerPath = o.durationMs / 1000;
    console.log(
      `\nLB → Pod request latency, ${o.ratePerSecond} req/s per path (open loop), both paths at once for ${secondsPerPath} s, ` +
        `${dp.pods.length} Pods on ${dp.lab.topo.nodes.length} nodes, keep-alive to HAProxy`,
    );
    const row = (name: string, s: Summary, failed: number | string): string =>
      `  ${name.padEnd(26)}${String(s.n).padStart(6)}${s.p50Ms.toFixed(3).padStart(10)}${s.p99Ms.toFixed(3).padStart(10)}${s.meanMs.toFixed(3).padStart(10)}${s.maxMs.toFixed(3).padStart(10)}${String(failed).padStart(8)}`;
    console.log(
      `  ${'path'.padEnd(26)}${'n'.padStart(6)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'mean ms'.padStart(10)}${'max ms'.padStart(10)}${'failed'.padStart(8)}`,
    );
    console.log(row('direct to Pod IP (podlb)', d, totals.direct.failed));
    console.log(row('via NodePort', n, totals.nodePort.failed));
    if (classes.local) console.log(row('  of which DNAT on node', classes.local, ''));
    if (classes.crossNode) console.log(row('  of which across nodes', classes.crossNode, ''));
    console.log(`  ratio NodePort / direct: p50 ${ratio(n.p50Ms, d.p50Ms)}, p99 ${ratio(n.p99Ms, d.p99Ms)}, mean ${ratio(n.meanMs, d.meanMs)}`);
    console.log(`  NodePort requests answered by a Pod on another node: ${(crossShare * 100).toFixed(0)} %`);
    for (const p of ['direct', 'nodePort'] as const) {
      const c = newConnections(p);
      if (c) console.log(`  HAProxy → ${p === 'direct' ? 'Pods' : 'NodePorts'}: ${c.connect} new server connections, ${c.reuse} requests on a reused one`);
    }
    console.log(`  load average (1/5/15 min): before setup ${loadBefore}; load start ${loadStart}; load end ${loadEnd}`);
    console.log(`  generator lateness, worst: direct ${totals.direct.scheduleLagMs} ms, NodePort ${totals.nodePort.scheduleLagMs} ms`);
    for (const [p, t] of Object.entries(totals)) if (t.errors.length) console.log(`  ${p} errors: ${t.errors.join(', ')}`);
    const saturated = Math.max(d.p50Ms, n.p50Ms) > SATURATED_P50_MS;
    if (saturated)
      console.log(`  WARNING: p50 above ${SATURATED_P50_MS} ms: this machine fell behind the rate, so these figures measure its queue, not the paths`);
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
      serverConnections: { direct: newConnections('direct'), nodePort: newConnections('nodePort') },
      ratePerSecond: o.ratePerSecond,
      secondsPerPath,
      loadAverage: { beforeSetup: loadBefore, loadStart, loadEnd },
      saturated,
    };
  } finally {
    await dp.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchDataPath();
}
