// 200 Pods on one node becoming ready at once. The lab's kubelet starts 200 real Pod
// processes and holds their ContainersReady, then releases them together. Measured: time until
// every member is in every HAProxy instance and every gate is True, next to HAProxy's own
// check time (rise × inter) and runtime-API round trips per Pod.
import { pathToFileURL } from 'node:url';
import { startLab } from '../src/lab/lab.js';
import { READINESS_GATE, type Pod } from '../src/api/types.js';
import { waitFor } from '../src/lab/netns.js';
import { LAB_BACKEND } from '../src/lab/objects.js';

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
    const unwatch = lab.api.store.watch('pods', { namespace: 'demo' }, (ev: { object: unknown }) => {
      const pod = ev.object as Pod;
      if (pod.status?.conditions?.some((c) => c.type === READINESS_GATE && c.status === 'True') && !gateTrue.has(pod.metadata.name ?? ''))
        gateTrue.set(pod.metadata.name ?? '', performance.now());
    });
    await waitFor('BGP at the ToR', async () => ((await lab.topo.tor.kernelRoutes()).some((r) => r.dst === '10.244.1.0/24') ? true : undefined), 30_000, 50);
    lab.kubelet.hold();
    const names = Array.from({ length: count }, (_, i) => `burst-${i}`);
    const tStart = performance.now();
    for (const n of names) await lab.createPod('node1', n);
    await waitFor(`${count} Pods started`, () => (lab.kubelet.held >= count ? true : undefined), 180_000, 100);
    const startMs = performance.now() - tStart;
    const tripsBefore = await roundTrips();
    const t0 = performance.now();
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
    const r = {
      pods: count,
      lbInstances: lab.haproxies.length,
      podProcessesStartMs: Math.round(startMs),
      releaseMs: Math.round(released - t0),
      allMembersAddedMs: Math.round(allMembers - t0),
      allGatesTrueMs: Math.round(lastGate - t0),
      haproxyCheckTimeMs: checkMs,
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
    console.log(`  runtime-API round trips                  ${trips} (${r.roundTripsPerPodPerInstance} per Pod per instance, polls included)`);
    return r;
  } finally {
    await lab.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchBurst();
}
