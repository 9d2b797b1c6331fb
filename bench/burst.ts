// 200 Pods on one node becoming ready at once, with the class's pre-registration (the default:
// members added and checked while the Pods start) and without it (the LB's checks start only
// when the member is added, at ContainersReady), each in a lab of its own. The lab's kubelet
// starts the 200 Pods and holds their ContainersReady, then releases them together. Measured:
// each Pod's wait from its own ContainersReady to its gate True, next to HAProxy's own decision
// time (rise × inter); time until every member is in every HAProxy instance and every gate is
// True; runtime-API round trips per Pod; and where the worst Pod's wait went, step by step.
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
import { API_VERSION } from '../src/api/types.js';
import { LAB_BACKEND, LAB_CLASS, LAB_NAMESPACE, labPod } from '../src/lab/objects.js';
import { summarize, type Summary } from './stats.js';

/** Pod POSTs in flight while setting up: the lab process also starts each Pod's server. */
const SETUP_PARALLEL = 8;
/** Setup only: on a loaded shared machine a Pod POST has taken over 15 s; the measured part keeps the defaults. */
const SETUP_TIMEOUT_MS = 120_000;
const SETUP_ATTEMPTS = 5;

/** Epoch ms of each step of one Pod's way to its gate True; the agent's steps from its own log. */
interface PodSteps {
  containersReady?: number;
  memberAdded?: number;
  memberHealthySeen?: number;
  gateWriteDecided?: number;
  gatePatchSent?: number;
  gatePatchAnswered?: number;
  gateTrueWatched?: number;
}

/**
 * Where each Pod's wait went, from the agent's own log (debug level for 'member healthy'):
 * member added → seen healthy on every instance → gate write decided → sent → answered, then
 * the gate True as the API server's watch shows it (the lab's clock: same machine, epoch ms).
 */
function podSteps(agentLog: string, containersReady: Map<string, number>, gateTrue: Map<string, number>): Map<string, PodSteps> {
  const steps = new Map<string, PodSteps>();
  const of = (pod: string): PodSteps => {
    const s = steps.get(pod) ?? {};
    steps.set(pod, s);
    return s;
  };
  for (const [pod, t] of containersReady) of(pod).containersReady = t;
  for (const [pod, t] of gateTrue) of(pod).gateTrueWatched = t;
  const podOfMember = new Map<string, string>();
  for (const line of readFileSync(agentLog, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    let e: { time: number; msg: string; pod?: string; member?: string; status?: string; queuedMs?: number; patchMs?: number };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      continue; // a line cut short by the agent's stop
    }
    const pod = e.pod?.split('/')[1];
    if (e.msg === 'member added' && pod && e.member) {
      podOfMember.set(e.member, pod);
      of(pod).memberAdded ??= e.time;
    } else if (e.msg === 'member healthy on every instance' && e.member) {
      // The key is backend/name; the add logged the name.
      const owner = [...podOfMember].find(([m]) => e.member!.endsWith(m))?.[1];
      if (owner) of(owner).memberHealthySeen ??= e.time;
    } else if (e.msg === 'readiness gate set' && pod && e.status === 'True' && e.patchMs !== undefined && e.queuedMs !== undefined) {
      const s = of(pod);
      s.gatePatchAnswered = e.time;
      s.gatePatchSent = e.time - e.patchMs;
      s.gateWriteDecided = e.time - e.patchMs - e.queuedMs;
    }
  }
  return steps;
}

/** p50 and last of each step after `t0` over every Pod, and the worst Pod's own steps. */
function timeline(steps: Map<string, PodSteps>, t0: number, worst: string): Record<string, string> {
  const keys: (keyof PodSteps)[] = [
    'containersReady',
    'memberAdded',
    'memberHealthySeen',
    'gateWriteDecided',
    'gatePatchSent',
    'gatePatchAnswered',
    'gateTrueWatched',
  ];
  const w = steps.get(worst) ?? {};
  const out: Record<string, string> = {};
  for (const k of keys) {
    const sorted = [...steps.values()].flatMap((s) => (s[k] !== undefined ? [s[k]! - t0] : [])).sort((a, b) => a - b);
    // 'member healthy' is logged at debug level only: no row when the agent logs at info.
    if (sorted.length === 0) continue;
    const all = `p50 ${Math.round(sorted[Math.floor(sorted.length / 2)]!)}, last ${Math.round(sorted[sorted.length - 1]!)} (${sorted.length})`;
    out[k] = `${all.padEnd(28)} worst Pod ${w[k] === undefined ? '-' : Math.round(w[k]! - t0)}`;
  }
  return out;
}

function conditionTrue(pod: Pod, type: string): boolean {
  return pod.status?.conditions?.some((c) => c.type === type && c.status === 'True') === true;
}

const INTER_MS = 500;
const RISE = 2;
/** HAProxy's own decision time for a new member: rise × inter. */
const DECISION_MS = RISE * INTER_MS;

interface BurstRun {
  /** Each Pod's ContainersReady → gate True, both as the API server's watch shows them. */
  podWait: Summary;
  releaseMs: number;
  allMembersAddedMs: number;
  allGatesTrueMs: number;
  allGatesTrueAfterLastContainersReadyMs: number;
  runtimeRoundTrips: number;
  roundTripsPerPodPerInstance: number;
  loadAverage1m: number;
  lbInstances: number;
  timeline?: Record<string, string>;
}

async function setPreRegister(lab: Awaited<ReturnType<typeof startLab>>, on: boolean): Promise<void> {
  await lab.client.patch(`/apis/${API_VERSION}/loadbalancerclasses/${LAB_CLASS}`, { spec: { readiness: { preRegister: on } } }, 'merge');
  // The agents' class informers deliver it within milliseconds; this leaves room under load.
  await new Promise((r) => setTimeout(r, 2000));
}

async function burstOnce(count: number, preRegister: boolean, logDir: string | undefined): Promise<BurstRun> {
  // Agents as separate processes, as on a node: the lab process (API server, kubelet and
  // EndpointSlice stand-ins) handles the burst's API traffic without stalling the agent.
  const lab = await startLab({
    agentMode: 'process',
    ...(logDir ? { logDir } : {}),
    healthCheck: { interval: `${INTER_MS}ms`, rise: RISE, fall: 2 },
    // Configured as large clusters run kube-controller-manager; with 0 the lab's single
    // process spends the burst rewriting a 200-endpoint slice 200 times (measured: 18 s vs 4.5 s).
    endpointSliceBatchMs: 100,
  });
  const roundTrips = async (): Promise<number> => Number(/^podlb_lb_api_round_trips (\d+)/m.exec(await lab.agents.get('node1')!.metrics())?.[1] ?? NaN);
  try {
    if (!preRegister) await setPreRegister(lab, false);
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
    await waitFor(`${count} Pods started`, () => (lab.kubelet.held >= count ? true : undefined), 900_000, 100);
    if (preRegister) {
      // Pre-registered members are checked while their Pods start: the burst begins with them warm.
      await waitFor(
        'every member warm and its gate False',
        () =>
          names.every((n) => lab.api.store.get('pods', n, LAB_NAMESPACE) && gateFalse(lab.api.store.get('pods', n, LAB_NAMESPACE) as Pod)) ? true : undefined,
        120_000,
        50,
      );
      await new Promise((r) => setTimeout(r, 3 * DECISION_MS));
    }
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
    // Each Pod's own wait, from its ContainersReady to its gate True: the kubelet's spread of the release is not the agent's.
    const waits = names.map((n) => gateTrue.get(n)! - (containersReady.get(n) ?? t0));
    const lastContainersReady = Math.max(...names.map((n) => containersReady.get(n) ?? t0));
    const r: BurstRun = {
      podWait: summarize(waits, 0),
      releaseMs: Math.round(released - t0),
      allMembersAddedMs: Math.round(allMembers - t0),
      allGatesTrueMs: Math.round(lastGate - t0),
      allGatesTrueAfterLastContainersReadyMs: Math.round(lastGate - lastContainersReady),
      runtimeRoundTrips: trips,
      roundTripsPerPodPerInstance: Number((trips / count / lab.haproxies.length).toFixed(2)),
      loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
      lbInstances: lab.haproxies.length,
    };
    {
      const epoch = (m: Map<string, number>): Map<string, number> => new Map([...m].map(([n, t]) => [n, performance.timeOrigin + t]));
      const worst = names.reduce((a, b) => (gateTrue.get(b)! - (containersReady.get(b) ?? t0) > gateTrue.get(a)! - (containersReady.get(a) ?? t0) ? b : a));
      r.timeline = timeline(podSteps(join(lab.logDir, 'agent-node1.log'), epoch(containersReady), epoch(gateTrue)), performance.timeOrigin + t0, worst);
    }
    return r;
  } finally {
    await lab.stop();
  }
}

function gateFalse(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === READINESS_GATE && c.status === 'False') === true;
}

const ratio = (ms: number): number => Number((ms / DECISION_MS).toFixed(2));

export async function benchBurst(opts: { pods?: number } = {}): Promise<Record<string, unknown>> {
  const count = opts.pods ?? 200;
  const base = process.env.PODLB_BENCH_LOGDIR;
  const variants = [
    { key: 'preRegister', label: 'preRegister: true (default)', on: true },
    { key: 'noPreRegister', label: 'preRegister: false', on: false },
  ] as const;
  const runs: Partial<Record<(typeof variants)[number]['key'], BurstRun>> = {};
  for (const v of variants) runs[v.key] = await burstOnce(count, v.on, base ? join(base, v.key) : undefined);
  const col = (f: (r: BurstRun) => string | number): string => variants.map((v) => String(f(runs[v.key]!)).padEnd(30)).join('');
  const first = runs.preRegister!;
  console.log(
    `\n${count} Pods on node1 ready at once (${first.lbInstances} HAProxy instances, check inter ${INTER_MS}ms rise ${RISE} = ${DECISION_MS} ms; EndpointSlice updates batched every 100 ms)`,
  );
  console.log(`                                           ${variants.map((v) => v.label.padEnd(30)).join('')}`);
  console.log(`  ContainersReady written for all (kubelet) ${col((r) => `${r.releaseMs} ms`)}`);
  console.log(`  all members in every instance            ${col((r) => `${r.allMembersAddedMs} ms`)}`);
  console.log(`  all gates True                           ${col((r) => `${r.allGatesTrueMs} ms`)}`);
  console.log(
    `  all gates True after the last ContainersReady ${col((r) => `${r.allGatesTrueAfterLastContainersReadyMs} ms (${ratio(r.allGatesTrueAfterLastContainersReadyMs)} ×)`)}`,
  );
  console.log(`  Pod's ContainersReady → gate True, p50  ${col((r) => `${r.podWait.p50Ms} ms (${ratio(r.podWait.p50Ms)} ×)`)}`);
  console.log(`  Pod's ContainersReady → gate True, p99  ${col((r) => `${r.podWait.p99Ms} ms (${ratio(r.podWait.p99Ms)} ×)`)}`);
  console.log(`  worst Pod: ContainersReady → gate True   ${col((r) => `${r.podWait.maxMs} ms (${ratio(r.podWait.maxMs)} ×)`)}`);
  console.log(`  (× = of HAProxy's decision time; goal for every Pod ≤ 1.2 ×)`);
  console.log(`  load average (1 min) at the end          ${col((r) => r.loadAverage1m)}`);
  console.log(`  runtime-API round trips                  ${col((r) => `${r.runtimeRoundTrips} (${r.roundTripsPerPodPerInstance}/Pod/instance)`)}`);
  for (const v of variants) {
    const t = runs[v.key]!.timeline;
    if (!t) continue;
    console.log(`  ${v.label}: timeline after release, ms (p50 and last over the Pods; the worst Pod's own)`);
    for (const [step, line] of Object.entries(t)) console.log(`    ${step.padEnd(22)} ${line}`);
  }
  const out: Record<string, unknown> = { pods: count, haproxyCheckTimeMs: DECISION_MS };
  for (const v of variants) {
    const r = runs[v.key]!;
    out[`${v.key}PodWait`] = r.podWait;
    out[`${v.key}WorstPodRatio`] = ratio(r.podWait.maxMs);
    out[`${v.key}P99PodRatio`] = ratio(r.podWait.p99Ms);
    out[`${v.key}AllGatesRatio`] = ratio(r.allGatesTrueAfterLastContainersReadyMs);
    out[v.key] = { ...r, podWait: undefined };
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchBurst();
}
