// A full rolling replacement of a 10-replica backend under constant load, with
// podlb's readiness gate and without it (the baseline: the rollout may outrun the load balancer).
import { pathToFileURL } from 'node:url';
import { startLab } from '../src/lab/lab.js';
import { deployReplicas, rollingReplace } from '../testkit/lab-rollout.js';

export async function benchRollout(): Promise<Record<string, unknown>> {
  const lab = await startLab({ agentMode: 'inProcess', healthCheck: { interval: '300ms', rise: 2, fall: 2 }, drainSeconds: 3 });
  try {
    const out: Record<string, unknown> = {};
    let current = await deployReplicas(lab, 'b0', 10, { gates: true, preStopSeconds: 2 });
    for (const gates of [true, false]) {
      const r = await rollingReplace(lab, { pods: current, newPrefix: gates ? 'bg' : 'bn', gates, preStopSeconds: 2 });
      current = r.newPods;
      const l = r.load[0]!;
      out[gates ? 'withGates' : 'withoutGates'] = {
        durationMs: Math.round(r.durationMs),
        requests: r.sent,
        failed: r.failed,
        p50Ms: l.latencyMs.p50,
        p99Ms: l.latencyMs.p99,
        minHealthyMembers: r.minHealthyMembers,
      };
    }
    const w = out.withGates as { durationMs: number; failed: number; requests: number; p99Ms: number; minHealthyMembers: number };
    const wo = out.withoutGates as { durationMs: number; failed: number; requests: number; p99Ms: number; minHealthyMembers: number };
    console.log('\nrolling replacement of 10 replicas (surge 1, unavailable 0), load through 2 HAProxy instances');
    console.log(
      `  with gates      ${(w.durationMs / 1000).toFixed(1)} s, ${w.requests} requests, ${w.failed} failed, p99 ${w.p99Ms.toFixed(1)} ms, fewest healthy members ${w.minHealthyMembers}/10`,
    );
    console.log(
      `  without gates   ${(wo.durationMs / 1000).toFixed(1)} s, ${wo.requests} requests, ${wo.failed} failed, p99 ${wo.p99Ms.toFixed(1)} ms, fewest healthy members ${wo.minHealthyMembers}/10`,
    );
    console.log(`  duration ratio with/without ${(w.durationMs / wo.durationMs).toFixed(2)}`);
    return out;
  } finally {
    await lab.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchRollout();
}
