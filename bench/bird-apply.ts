// BIRD apply cost on this machine: render + `configure check` + rename + `configure` for 1,
// 100 and 1,000 advertised prefixes, each apply changing the set (so BIRD really
// reconfigures), and the BGP session flaps an FRR ToR sees over 100 applies (goal: 0).
// PodIPs: the same for 10, 1,000 and 10,000 host routes; how long after the start of
// an apply that adds or removes one host route the ToR's kernel has it (watched with
// `ip monitor route` in the ToR namespace; goal < 150 ms), and how much of it is the ToR's own
// hold timers; how many routes BIRD re-sends per change; flaps over 100 host-route applies.
// Needs root (network namespaces). Runnable alone: node dist/bench/bird-apply.js
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { BirdApplier } from '../src/bgp/bird-apply.js';
import { BirdControl } from '../src/bgp/bird-control.js';
import { nodeFixture, peerFixture, poolFixture } from '../testkit/bgp-fixtures.js';
import { buildBgpPlan } from '../src/bgp/model.js';
import { renderBirdConf } from '../src/bgp/render.js';
import { startBird } from '../src/lab/bird-process.js';
import { startFrr } from '../src/lab/frr.js';
import { NetnsSandbox, waitFor } from '../src/lab/netns.js';
import type { PodIPs } from '../src/bgp/model.js';
import { summarize } from './stats.js';
import { RouteMonitor } from './route-monitor.js';

/** `count` /26 podCIDRs inside 10.0.0.0/8, starting at block `offset`. */
function podCidrs(count: number, offset: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const b = (i + offset) % (1 << 18);
    return `10.${(b >> 10) & 0xff}.${(b >> 2) & 0xff}.${(b & 3) * 64}/26`;
  });
}

function confFor(cidrs: string[], podIPs?: PodIPs[]): string {
  const plan = buildBgpPlan({
    node: nodeFixture({ podCIDRs: cidrs }),
    pools: [poolFixture('bench', { cidrs: ['10.0.0.0/8'] }), poolFixture('hosts', { advertise: 'PodIPs', cidrs: ['100.64.0.0/10'] })],
    peers: [peerFixture('tor')],
    secrets: [],
    ...(podIPs ? { podIPs } : {}),
  });
  return renderBirdConf(plan.model);
}

/** `count` Pods with one IP each in 100.64.0.0/10, starting at host `offset`. */
function pods(count: number, offset: number): PodIPs[] {
  return Array.from({ length: count }, (_, i) => {
    const n = (i + offset) % (1 << 22);
    return { namespace: 'bench', name: `p${n}`, ips: [`100.${64 + (n >> 16)}.${(n >> 8) & 0xff}.${n & 0xff}`] };
  });
}

export async function benchBirdApply(): Promise<Record<string, unknown>> {
  const sb = new NetnsSandbox();
  try {
    const nodeNs = await sb.addNetns('bnode');
    const torNs = await sb.addNetns('btor');
    await sb.veth({ ns: nodeNs, ifname: 'eth0', addrs: ['172.31.0.2/24'] }, { ns: torNs, ifname: 'eth0', addrs: ['172.31.0.1/24'] });
    const frr = await startFrr(sb, torNs, { asn: 65000, routerId: '172.31.0.1', neighbors: [{ address: '172.31.0.2', asn: 64512 }] });
    const bird = await startBird(sb, nodeNs, { dir: sb.memoryTempDir('bbird'), initialConfig: confFor(podCidrs(1, 0)) });
    const ctl = new BirdControl(bird.socketPath);
    const applier = new BirdApplier({ control: ctl, configPath: bird.configPath });
    await waitFor('session Established', async () => ((await frr.bgpNeighbors())['172.31.0.2']?.state === 'Established' ? true : undefined), 30_000, 50);

    const rtt: number[] = [];
    for (let i = 0; i < 200; i++) rtt.push((await ctl.command('show status')).durationMs);

    const results: Record<string, unknown> = { controlRoundTrip: summarize(rtt) };
    let offset = 1;
    for (const [count, reps] of [
      [1, 50],
      [100, 30],
      [1000, 20],
    ] as const) {
      const total: number[] = [];
      const render: number[] = [];
      for (let i = 0; i < reps; i++) {
        const t0 = performance.now();
        const text = confFor(podCidrs(count, offset++));
        const t1 = performance.now();
        const r = await applier.apply(text);
        if (r.result !== 'Applied') throw new Error(`apply of ${count} prefixes: ${r.result} ${r.error ?? ''}`);
        render.push(t1 - t0);
        total.push(performance.now() - t0);
      }
      results[`apply${count}`] = { ...summarize(total), renderP50Ms: summarize(render).p50Ms };
    }

    // Flaps over 100 applies that each change the prefix set.
    await applier.apply(confFor(podCidrs(10, 5000)));
    await waitFor('ToR settled', async () => ((await frr.bgpNeighbors())['172.31.0.2']?.state === 'Established' ? true : undefined), 30_000, 50);
    const before = (await frr.bgpNeighbors())['172.31.0.2']?.establishedTransitions ?? 0;
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) await applier.apply(confFor(podCidrs(10, 6000 + i)));
    const last = podCidrs(10, 6099).at(-1)!;
    await waitFor('last prefix at the ToR', async () => ((await frr.kernelRoutes()).some((r) => r.dst === last) ? true : undefined), 15_000, 20);
    const after = await frr.bgpNeighbors();
    results.flaps100 = {
      sessionFlaps: (after['172.31.0.2']?.establishedTransitions ?? 0) - before,
      state: after['172.31.0.2']?.state,
      totalMs: Number((performance.now() - t0).toFixed(1)),
    };

    // ---- PodIPs host routes ----
    const monitor = new RouteMonitor(sb.spawn(torNs, 'ip', ['monitor', 'route'], { name: 'ip monitor route' }));
    for (const [count, reps] of [
      [10, 30],
      [1000, 15],
      [10000, 5],
    ] as const) {
      const total: number[] = [];
      const render: number[] = [];
      for (let i = 0; i < reps; i++) {
        const t0 = performance.now();
        const text = confFor(podCidrs(1, 0), pods(count, i));
        const t1 = performance.now();
        const r = await applier.apply(text);
        if (r.result !== 'Applied') throw new Error(`apply of ${count} host routes: ${r.result} ${r.error ?? ''}`);
        render.push(t1 - t0);
        total.push(performance.now() - t0);
      }
      results[`podIPs${count}`] = { ...summarize(total), renderP50Ms: summarize(render).p50Ms };
    }
    // FIB latency of one host-route change on top of 1,000 others: apply start → ToR kernel.
    const base = pods(1000, 0);
    await applier.apply(confFor(podCidrs(1, 0), base));
    // Wait for exactly the base set: the previous section left up to 10,000 host routes, and
    // an "extra" route still waiting to be withdrawn would make its add below a no-op.
    const baseIps = new Set(base.map((p) => p.ips[0]!));
    await waitFor(
      'exactly the 1,000 base host routes at the ToR',
      async () => {
        const hosts = (await frr.kernelRoutes()).filter((r) => /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./.test(r.dst));
        return hosts.length === baseIps.size && hosts.every((r) => baseIps.has(r.dst.replace(/\/32$/, ''))) ? true : undefined;
      },
      60_000,
      100,
    );
    const fibAdd: number[] = [];
    const fibDel: number[] = [];
    const afterApply: number[] = [];
    const delAfterApply: number[] = [];
    const applyMs: number[] = [];
    const phases: Record<string, number | undefined>[] = [];
    const exportUpdates = async (): Promise<number> => {
      const ch = (await ctl.showProtocolsAll()).find((p) => p.proto === 'BGP')?.channels[0];
      return (ch?.exportUpdates ?? 0) + (ch?.exportWithdraws ?? 0);
    };
    const FIB_SAMPLES = 50;
    // One change: render + apply, then wait for the ToR kernel to show it. Returns the time
    // from render start to the ToR FIB and from the end of the apply to the ToR FIB.
    const change = async (hostRoutes: ReturnType<typeof pods>, seen: Promise<number>): Promise<{ fib: number; afterApply: number }> => {
      const t0 = performance.now();
      const conf = confFor(podCidrs(1, 0), hostRoutes);
      const rendered = performance.now();
      const r = await applier.apply(conf);
      const applied = performance.now();
      phases.push({ render: rendered - t0, ...r.phasesMs });
      applyMs.push(applied - t0);
      const at = await seen;
      return { fib: at - t0, afterApply: at - applied };
    };
    const updatesBefore = await exportUpdates();
    for (let i = 0; i < FIB_SAMPLES; i++) {
      const extra = pods(1, 5000 + i);
      const ip = extra[0]!.ips[0]!;
      const add = await change([...base, ...extra], monitor.next(ip, false));
      fibAdd.push(add.fib);
      afterApply.push(add.afterApply);
      const del = await change(base, monitor.next(ip, true));
      fibDel.push(del.fib);
      delAfterApply.push(del.afterApply);
    }
    results.hostRouteFibAdd = summarize(fibAdd);
    results.hostRouteFibWithdraw = summarize(fibDel);
    // What the ToR adds on its own: FRR holds received routes 50 ms (bgpd's work queue) and
    // zebra 10 ms more before its kernel sees them; everything before is podlb's and BIRD's.
    results.hostRouteFibAddAfterApply = summarize(afterApply);
    results.hostRouteFibWithdrawAfterApply = summarize(delAfterApply);
    // podlb's and BIRD's share of the two figures above: render + configure check + configure.
    results.hostRouteApply = summarize(applyMs);
    for (const k of ['render', 'write', 'check', 'replace', 'configure'] as const) results[`hostRouteApply_${k}`] = summarize(phases.map((p) => p[k] ?? 0));
    // Routes BIRD passed to the BGP session per single-route change (2 changes per sample):
    // 1 when only the static route changed; the table size if the filter changed too.
    results.routesSentPerHostRouteChange = Number((((await exportUpdates()) - updatesBefore) / (2 * FIB_SAMPLES)).toFixed(2));
    // Flaps over 100 applies that each change one host route.
    const hBefore = (await frr.bgpNeighbors())['172.31.0.2']?.establishedTransitions ?? 0;
    const h0 = performance.now();
    for (let i = 0; i < 100; i++) await applier.apply(confFor(podCidrs(1, 0), [...base.slice(i % 2), ...pods(1, 7000 + i)]));
    const lastHost = pods(1, 7099)[0]!.ips[0]!;
    await waitFor('last host route at the ToR', async () => ((await frr.kernelRoutes()).some((r) => r.dst === lastHost) ? true : undefined), 15_000, 20);
    const hAfter = await frr.bgpNeighbors();
    results.flaps100HostRoutes = {
      sessionFlaps: (hAfter['172.31.0.2']?.establishedTransitions ?? 0) - hBefore,
      state: hAfter['172.31.0.2']?.state,
      totalMs: Number((performance.now() - h0).toFixed(1)),
    };
    await ctl.close();
    return results;
  } finally {
    await sb.cleanup();
  }
}

function printTable(r: Record<string, unknown>): void {
  const rows: string[][] = [['measure', 'n', 'p50 ms', 'p99 ms', 'mean ms', 'render p50 ms']];
  for (const [k, v] of Object.entries(r)) {
    const s = v as Record<string, number | string | undefined>;
    if (k === 'flaps100' || k === 'flaps100HostRoutes' || k === 'routesSentPerHostRouteChange') continue;
    rows.push([k, String(s.n ?? ''), String(s.p50Ms ?? ''), String(s.p99Ms ?? ''), String(s.meanMs ?? ''), String(s.renderP50Ms ?? '')]);
  }
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(w[c]!)).join('  '));
  const f = r.flaps100 as { sessionFlaps: number; state: string; totalMs: number };
  console.log(`session flaps seen by the ToR over 100 applies: ${f.sessionFlaps} (state ${f.state}, ${f.totalMs} ms)`);
  if (r.routesSentPerHostRouteChange !== undefined)
    console.log(`routes BIRD sent to the ToR per single host-route change (1,000 others): ${String(r.routesSentPerHostRouteChange)}`);
  const h = r.flaps100HostRoutes as { sessionFlaps: number; state: string; totalMs: number } | undefined;
  if (h) console.log(`session flaps seen by the ToR over 100 host-route applies: ${h.sessionFlaps} (state ${h.state}, ${h.totalMs} ms)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchBirdApply().then(
    (r) => printTable(r),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
