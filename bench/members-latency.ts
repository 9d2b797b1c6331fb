// Issue 2 figures for the member path, measured in the lab with the real HAProxy:
//   ContainersReady → member added          (agent overhead: watch + plan + runtime API calls)
//   member added    → check passed          (HAProxy's own check time: rise × inter)
//   check passed    → gate True             (agent overhead: health poll + status patch)
// Timestamps come from where each fact becomes true: the API server's watch stream (Pod
// status writes), HAProxy's runtime API polled every 2 ms (check passed), and the agent's
// own log line written when HAProxy acknowledged the add.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startLab } from '../src/lab/lab.js';
import { READINESS_GATE, type Pod } from '../src/api/types.js';
import { waitFor } from '../src/lab/netns.js';
import { LAB_BACKEND } from '../src/lab/objects.js';
import { HaproxyInstance } from '../src/lb/haproxy-instance.js';
import { summarize, type Summary } from './stats.js';


const wall = (): number => performance.timeOrigin + performance.now();

export async function benchMembersLatency(opts: { pods?: number } = {}): Promise<Record<string, unknown>> {
  const count = opts.pods ?? 24;
  // Agents as separate processes, as on a real node: the lab process (API server, kubelet,
  // this bench's poller) does not share their event loop.
  const lab = await startLab({ agentMode: 'process', healthCheck: { interval: '200ms', rise: 2, fall: 2 } });
  try {
    const containersReady = new Map<string, number>();
    const gateTrue = new Map<string, number>();
    const ipOf = new Map<string, string>();
    const unwatch = lab.api.store.watch('pods', { namespace: 'demo' }, (ev: { type: string; object: unknown }) => {
      const pod = ev.object as Pod;
      const name = pod.metadata.name ?? '';
      const cond = (t: string): string | undefined => pod.status?.conditions?.find((c) => c.type === t)?.status;
      if (pod.status?.podIP) ipOf.set(name, pod.status.podIP);
      if (cond('ContainersReady') === 'True' && !containersReady.has(name)) containersReady.set(name, wall());
      if (cond(READINESS_GATE) === 'True' && !gateTrue.has(name)) gateTrue.set(name, wall());
    });

    // An independent runtime connection, polled fast, to see when each check passes.
    const probe = new HaproxyInstance(lab.topo.lb.haproxy.runtimeAddress);
    const checkPassed = new Map<string, number>();
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const { members } = await probe.listMembers([LAB_BACKEND], 'podlb_').catch(() => ({ members: [] }));
        const t = wall();
        for (const m of members) if (m.health === 'healthy' && !checkPassed.has(m.address)) checkPassed.set(m.address, t);
        await new Promise((r) => setTimeout(r, 2));
      }
    })();

    // Measure a settled lab, as a long-running agent is: BGP converged at the ToR and one
    // unmeasured warm-up Pod per node through the whole path.
    await waitFor('pod CIDRs at the ToR', async () => {
      const rs = await lab.topo.tor.kernelRoutes();
      return lab.topo.nodes.every((n) => rs.some((x) => x.dst === n.podCidr)) ? true : undefined;
    }, 30_000, 50);
    for (const [i, node] of ['node1', 'node2'].entries()) {
      await lab.createPod(node, `warmup-${i}`);
      await waitFor('warm-up gate', () => (gateTrue.has(`warmup-${i}`) ? true : undefined), 30_000, 5);
    }
    const names = Array.from({ length: count }, (_, i) => `bench-${i}`);
    // One Pod at a time, as in a rolling update: every Pod is a real Node.js process whose
    // start-up costs ~200 ms of CPU, and overlapping starts on 2 cores would measure CPU
    // contention rather than the agent.
    for (const [i, name] of names.entries()) {
      await lab.createPod(i % 2 === 0 ? 'node1' : 'node2', name);
      await waitFor(`gate True on ${name}`, () => (gateTrue.has(name) ? true : undefined), 30_000, 5);
      await new Promise((r) => setTimeout(r, 100));
    }
    polling = false;
    await poller;
    unwatch();
    await probe.close();

    // The agents' "member added" lines, keyed by Pod.
    const added = new Map<string, number>();
    for (const node of ['node1', 'node2']) {
      for (const line of readFileSync(join(lab.logDir, `agent-${node}.log`), 'utf8').split('\n')) {
        if (!line.includes('"member added"')) continue;
        const rec = JSON.parse(line) as { time: number; pod: string };
        const pod = rec.pod.split('/')[1]!;
        if (!added.has(pod)) added.set(pod, rec.time);
      }
    }

    const toMember: number[] = [];
    const checkTime: number[] = [];
    const toGate: number[] = [];
    const total: number[] = [];
    for (const n of names) {
      const cr = containersReady.get(n)!;
      const add = added.get(n)!;
      const pass = checkPassed.get(ipOf.get(n) ?? '')!;
      const gate = gateTrue.get(n)!;
      toMember.push(add - cr);
      checkTime.push(pass - add);
      toGate.push(gate - pass);
      total.push(gate - cr);
    }
    if (process.env.PODLB_BENCH_VERBOSE) for (const [i, n] of names.entries()) console.log(`  ${n}: toMember ${toMember[i]!.toFixed(1)} check ${checkTime[i]!.toFixed(1)} toGate ${toGate[i]!.toFixed(1)}`);
    const r = {
      pods: count,
      healthCheck: 'inter 200ms rise 2',
      containersReadyToMemberAddedMs: summarize(toMember),
      haproxyCheckTimeMs: summarize(checkTime),
      checkPassedToGateTrueMs: summarize(toGate),
      containersReadyToGateTrueMs: summarize(total),
    };
    const fmt = (s: Summary): string => `p50 ${s.p50Ms.toFixed(1).padStart(6)}  p99 ${s.p99Ms.toFixed(1).padStart(6)}  max ${s.maxMs.toFixed(1).padStart(6)}`;
    console.log(`\nmember and gate latency over ${count} Pods created one at a time in a settled lab (after BGP converged and 2 warm-up Pods; HAProxy check: ${r.healthCheck}; agent pending poll 25 ms; agents are separate processes)`);
    console.log(`  ContainersReady → member added (agent)      ${fmt(r.containersReadyToMemberAddedMs)} ms`);
    console.log(`  member added → check passed (HAProxy)       ${fmt(r.haproxyCheckTimeMs)} ms`);
    console.log(`  check passed → gate True (agent)            ${fmt(r.checkPassedToGateTrueMs)} ms`);
    console.log(`  ContainersReady → gate True (end to end)    ${fmt(r.containersReadyToGateTrueMs)} ms`);
    const overheadP99 = r.containersReadyToMemberAddedMs.p99Ms + r.checkPassedToGateTrueMs.p99Ms;
    console.log(`  agent overhead p99 (both legs) ${overheadP99.toFixed(1)} ms vs HAProxy check p50 ${r.haproxyCheckTimeMs.p50Ms.toFixed(1)} ms: ratio ${(overheadP99 / r.haproxyCheckTimeMs.p50Ms).toFixed(2)}; goal: each leg p99 < 50 ms`);
    return r;
  } finally {
    await lab.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchMembersLatency();
}
