// 200 Pods on one node becoming ready at once. The lab's kubelet starts 200 real Pod
// processes and holds their ContainersReady, then releases them together. Measured: time until
// every member is in every HAProxy instance and every gate is True, next to HAProxy's own
// check time (rise × inter) and runtime-API round trips per Pod.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { startLab } from '../src/lab/lab.js';
import { READINESS_GATE, type Pod } from '../src/api/types.js';
import { isConflict, KubeClient } from '../src/kube/client.js';
import { mapLimit } from '../src/util/concurrency.js';
import { waitFor } from '../src/lab/netns.js';
import { LAB_BACKEND, LAB_NAMESPACE, labPod } from '../src/lab/objects.js';

/** Pod POSTs in flight while setting up: the lab process also starts each Pod's server. */
const SETUP_PARALLEL = 8;
/** Setup only: on a loaded shared machine a Pod POST has taken over 15 s; the measured part keeps the defaults. */
const SETUP_TIMEOUT_MS = 120_000;
const SETUP_ATTEMPTS = 5;

/** Milliseconds after `t0` (epoch ms) at which p50 and the last of `times` fall. */
function spread(times: number[], t0: number): string {
  if (times.length === 0) return '-';
  const sorted = times.map((t) => t - t0).sort((a, b) => a - b);
  return `p50 ${Math.round(sorted[Math.floor(sorted.length / 2)]!)}, last ${Math.round(sorted[sorted.length - 1]!)} (${sorted.length})`;
}

/**
 * Where each Pod's wait went, from the agent's own log (debug level for 'member healthy'):
 * member added → seen healthy on every instance → gate write decided → sent → answered, then
 * the gate True as the API server's watch shows it (the lab's clock: same machine, epoch ms).
 */
function timeline(agentLog: string, t0: number, containersReady: number[], gateTrue: number[]): Record<string, string> {
  const first = new Map<string, number>();
  const at: Record<string, number[]> = { added: [], healthy: [], decided: [], sent: [], answered: [] };
  for (const line of readFileSync(agentLog, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    let e: { time: number; msg: string; pod?: string; member?: string; status?: string; queuedMs?: number; patchMs?: number };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      continue; // a line cut short by the agent's stop
    }
    if (e.msg === 'member added' && e.pod && !first.has(e.pod)) {
      first.set(e.pod, e.time);
      at.added!.push(e.time);
    } else if (e.msg === 'member healthy on every instance') at.healthy!.push(e.time);
    else if (e.msg === 'readiness gate set' && e.status === 'True' && e.patchMs !== undefined && e.queuedMs !== undefined) {
      at.answered!.push(e.time);
      at.sent!.push(e.time - e.patchMs);
      at.decided!.push(e.time - e.patchMs - e.queuedMs);
    }
  }
  return {
    containersReady: spread(containersReady, t0),
    memberAdded: spread(at.added!, t0),
    memberHealthySeen: spread(at.healthy!, t0),
    gateWriteDecided: spread(at.decided!, t0),
    gatePatchSent: spread(at.sent!, t0),
    gatePatchAnswered: spread(at.answered!, t0),
    gateTrueWatched: spread(gateTrue, t0),
  };
}

function conditionTrue(pod: Pod, type: string): boolean {
  return pod.status?.conditions?.some((c) => c.type === type && c.status === 'True') === true;
}

export async function benchBurst(opts: { pods?: number } = {}): Promise<Record<string, unknown>> {
  const count = opts.pods ?? 200;
  // Agents as separate processes, as on a node: the lab process (API server, kubelet and
  // EndpointSlice stand-ins) handles the burst's API traffic without stalling the agent.
  const lab = await startLab({
    agentMode: 'process',
    ...(process.env.PODLB_BENCH_LOGDIR ? { logDir: process.env.PODLB_BENCH_LOGDIR } : {}),
    healthCheck: { interval: '500ms', rise: 2, fall: 2 },
    // Configured as large clusters run kube-controller-manager; with 0 the lab's single
    // process spends the burst rewriting a 200-endpoint slice 200 times (measured: 18 s vs 4.5 s).
    endpointSliceBatchMs: 100,
  });
  const roundTrips = async (): Promise<number> => Number(/^podlb_lb_api_round_trips (\d+)/m.exec(await lab.agents.get('node1')!.metrics())?.[1] ?? NaN);
  try {
    const gateTrue = new Map<string, number>();
    const containersReady = new Map<string, number>();
    const unwatch = lab.api.store.watch('pods', { namespace: LAB_NAMESPACE }, (ev: { object: unknown }) => {
      const pod = ev.object as Pod;
      const name = pod.metadata.name ?? '';
      if (conditionTrue(pod, 'ContainersReady') && !containersReady.has(name)) containersReady.set(name, performance.now());
      if (conditionTrue(pod, READINESS_GATE) && !gateTrue.has(name)) gateTrue.set(name, performance.now());
    });
    await waitFor('BGP at the ToR', async () => ((await lab.topo.tor.kernelRoutes()).some((r) => r.dst === '10.244.1.0/24') ? true : undefined), 60_000, 50);
    lab.kubelet.hold();
    const names = Array.from({ length: count }, (_, i) => `burst-${i}`);
    const tStart = performance.now();
    const kc = new KubeConfig();
    kc.loadFromString(lab.api.kubeconfigYaml());
    const setup = new KubeClient(kc, { timeoutMs: SETUP_TIMEOUT_MS });
    await mapLimit(names, SETUP_PARALLEL, async (n) => {
      // Retried after a timeout or a reset connection (the lab process, busy starting Pod
      // processes, lets idle keep-alive connections lapse): a POST may have been stored, then 409 is success.
      for (let attempt = 0; ; attempt++) {
        try {
          await setup.create<Pod>(`/api/v1/namespaces/${LAB_NAMESPACE}/pods`, labPod(n, 'node1'));
          return;
        } catch (err) {
          if (isConflict(err)) return;
          if (attempt >= SETUP_ATTEMPTS - 1 || !(err as { transient?: boolean }).transient) throw err;
        }
      }
    });
    // Setup: on a shared 2-core machine at load 15, 200 Pod processes took over 5 minutes to start.
    await waitFor(`${count} Pods started`, () => (lab.kubelet.held >= count ? true : undefined), 900_000, 100);
    const startMs = performance.now() - tStart;
    const tripsBefore = await roundTrips();
    const t0 = performance.now();
    const t0Epoch = performance.timeOrigin + t0;
    await lab.kubelet.release();
    const released = performance.now();
    const allMembers = await waitFor(
      'all members in every instance',
      async () => {
        const counts = await Promise.all(lab.haproxies.map(async (h) => (await h.listMembers([LAB_BACKEND], 'podlb_node1_')).members.length));
        return counts.every((c) => c >= count) ? performance.now() : undefined;
      },
      120_000,
      10,
    );
    await waitFor('all gates True', () => (names.every((n) => gateTrue.has(n)) ? true : undefined), 120_000, 10);
    const lastGate = Math.max(...names.map((n) => gateTrue.get(n)!));
    unwatch();
    const trips = (await roundTrips()) - tripsBefore;
    const checkMs = 2 * 500;
    // Each Pod's own wait, from its ContainersReady to its gate True: the release loop's spread is the lab's, not the agent's.
    const waits = names.map((n) => gateTrue.get(n)! - (containersReady.get(n) ?? t0));
    const lastContainersReady = Math.max(...names.map((n) => containersReady.get(n) ?? t0));
    const worstWaitMs = Math.max(...waits);
    const r = {
      pods: count,
      lbInstances: lab.haproxies.length,
      podProcessesStartMs: Math.round(startMs),
      releaseMs: Math.round(released - t0),
      allMembersAddedMs: Math.round(allMembers - t0),
      allGatesTrueMs: Math.round(lastGate - t0),
      allGatesTrueAfterLastContainersReadyMs: Math.round(lastGate - lastContainersReady),
      worstPodWaitMs: Math.round(worstWaitMs),
      haproxyCheckTimeMs: checkMs,
      gatesToDecisionRatio: Number((worstWaitMs / checkMs).toFixed(2)),
      loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
      beyondCheckTimeMs: Math.round(lastGate - t0 - checkMs),
      runtimeRoundTrips: trips,
      roundTripsPerPodPerInstance: Number((trips / count / lab.haproxies.length).toFixed(2)),
    };
    console.log(
      `\n${count} Pods on node1 ready at once (${r.lbInstances} HAProxy instances, check inter 500ms rise 2 = ${checkMs} ms; EndpointSlice updates batched every 100 ms)`,
    );
    console.log(`  ContainersReady written for all (API)     ${r.releaseMs} ms`);
    console.log(`  all members in every instance            ${r.allMembersAddedMs} ms`);
    console.log(`  all gates True                           ${r.allGatesTrueMs} ms  (beyond HAProxy's own check time: ${r.beyondCheckTimeMs} ms)`);
    console.log(`  all gates True after the last ContainersReady ${r.allGatesTrueAfterLastContainersReadyMs} ms`);
    console.log(`  worst Pod: ContainersReady → gate True    ${r.worstPodWaitMs} ms`);
    console.log(`  ratio gates-all-True-after-ContainersReady / HAProxy decision time: ${r.gatesToDecisionRatio} (goal ≤ 1.2)`);
    console.log(`  load average (1 min) at the end          ${r.loadAverage1m}`);
    console.log(`  runtime-API round trips                  ${trips} (${r.roundTripsPerPodPerInstance} per Pod per instance, polls included)`);
    const logDir = process.env.PODLB_BENCH_LOGDIR;
    if (logDir) {
      const epoch = (m: Map<string, number>): number[] => names.flatMap((n) => (m.has(n) ? [performance.timeOrigin + m.get(n)!] : []));
      const steps = timeline(join(logDir, 'agent-node1.log'), t0Epoch, epoch(containersReady), epoch(gateTrue));
      console.log('  timeline after release, ms (p50, last):');
      for (const [step, v] of Object.entries(steps)) console.log(`    ${step.padEnd(22)} ${v}`);
      Object.assign(r, { timeline: steps });
    }
    return r;
  } finally {
    await lab.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchBurst();
}
