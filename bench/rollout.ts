// A full rolling replacement of a 10-replica backend under constant load, three ways in one
// lab: with podlb's readiness gate and pre-registration (the member is added, health-checked
// and kept from traffic while the Pod starts), with the gate but without pre-registration
// (the member is added once the containers are ready, then the LB's rise × inter runs), and
// without gates (the baseline: the rollout may outrun the load balancer). The Pods listen at
// once and pass their readinessProbe after initialDelaySeconds, as typical apps do, so with
// pre-registration the LB has decided before the kubelet has.
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { API_VERSION, READINESS_GATE } from '../src/api/types.js';
import { startLab, type Lab } from '../src/lab/lab.js';
import { LAB_CLASS, LAB_NAMESPACE } from '../src/lab/objects.js';
import { deployReplicas, rollingReplace } from '../testkit/lab-rollout.js';
import { recordPodConditionTimes } from '../testkit/pod-condition-times.js';
import { summarize, type Summary } from './stats.js';

const REPLICAS = 10;
const PRESTOP = 2;
// The design's example check: the LB decides a new member is healthy after rise × inter.
const CHECK = { interval: '1s', rise: 2, fall: 3 };
const DECISION_MS = 2 * 1000;
// Kubernetes' default period, a common initial delay.
const PROBE = { initialDelaySeconds: 5, periodSeconds: 10 };

interface Variant {
  key: 'gatesPreRegister' | 'gatesNoPreRegister' | 'withoutGates';
  label: string;
  gates: boolean;
  preRegister: boolean;
}

const VARIANTS: Variant[] = [
  { key: 'gatesPreRegister', label: '(a) gates + pre-registration', gates: true, preRegister: true },
  { key: 'gatesNoPreRegister', label: '(b) gates, preRegister: false', gates: true, preRegister: false },
  // The class default (pre-registration on): what a user without gates gets.
  { key: 'withoutGates', label: '(c) without gates', gates: false, preRegister: true },
];

interface VariantResult {
  durationMs: number;
  requests: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  minHealthyMembers: number;
  /** The new Pods' ContainersReady → gate True, both at their commit in the API server. */
  containersReadyToGate?: Summary;
}

async function setPreRegister(lab: Lab, on: boolean): Promise<void> {
  await lab.client.patch(`/apis/${API_VERSION}/loadbalancerclasses/${LAB_CLASS}`, { spec: { readiness: { preRegister: on } } }, 'merge');
  // The agents' class informers deliver it within milliseconds; this leaves room under load.
  await new Promise((r) => setTimeout(r, 2000));
}

export async function benchRollout(): Promise<Record<string, unknown>> {
  const lab = await startLab({ agentMode: 'inProcess', healthCheck: CHECK, drainSeconds: 3 });
  const times = recordPodConditionTimes(lab.api, LAB_NAMESPACE, [READINESS_GATE, 'ContainersReady']);
  try {
    const results: Partial<Record<Variant['key'], VariantResult>> = {};
    let current = await deployReplicas(lab, 'b0', REPLICAS, { gates: true, preStopSeconds: PRESTOP, readinessProbe: PROBE, timeoutMs: 180_000 });
    for (const v of VARIANTS) {
      await setPreRegister(lab, v.preRegister);
      const r = await rollingReplace(lab, {
        pods: current,
        newPrefix: v.key.toLowerCase(),
        gates: v.gates,
        preStopSeconds: PRESTOP,
        readinessProbe: PROBE,
        stepTimeoutMs: 60_000,
      });
      current = r.newPods;
      const l = r.load[0]!;
      const gateLag = r.newPods.flatMap((p) => {
        const cr = times.at(p, 'ContainersReady');
        const gate = times.at(p, READINESS_GATE);
        return cr !== undefined && gate !== undefined ? [gate - cr] : [];
      });
      results[v.key] = {
        durationMs: Math.round(r.durationMs),
        requests: r.sent,
        failed: r.failed,
        p50Ms: l.latencyMs.p50,
        p99Ms: l.latencyMs.p99,
        minHealthyMembers: r.minHealthyMembers,
        ...(v.gates ? { containersReadyToGate: summarize(gateLag, 1) } : {}),
      };
    }
    const a = results.gatesPreRegister!;
    const c = results.withoutGates!;
    const ratio = a.durationMs / c.durationMs;
    const gate = a.containersReadyToGate!;
    const gateRatio = gate.p99Ms / DECISION_MS;
    const load = loadavg().map((x) => x.toFixed(2));
    console.log(
      `\nrolling update of ${REPLICAS} replicas (maxSurge 1, maxUnavailable 0), load through 2 HAProxy instances; check inter ${CHECK.interval} rise ${CHECK.rise}; readinessProbe initialDelaySeconds ${PROBE.initialDelaySeconds} periodSeconds ${PROBE.periodSeconds}; load average ${load.join(' ')} (indicative)`,
    );
    for (const v of VARIANTS) {
      const x = results[v.key]!;
      console.log(
        `  ${v.label.padEnd(31)} ${(x.durationMs / 1000).toFixed(1)} s, ${x.requests} requests, ${x.failed} failed, p99 ${x.p99Ms.toFixed(1)} ms, fewest healthy members ${x.minHealthyMembers}/${REPLICAS}`,
      );
    }
    console.log(
      `  duration ratio (a)/(c) ${ratio.toFixed(2)} (goal <= 1.1, 0 failed, never fewer than ${REPLICAS} healthy): ${ratio <= 1.1 && a.failed === 0 && a.minHealthyMembers >= REPLICAS ? 'met' : 'NOT met'}; (b)/(c) ${(results.gatesNoPreRegister!.durationMs / c.durationMs).toFixed(2)}`,
    );
    const b = results.gatesNoPreRegister!.containersReadyToGate!;
    console.log(
      `  ContainersReady -> gate True, with pre-registration: p50 ${gate.p50Ms} ms, p99 ${gate.p99Ms} ms (n ${gate.n}); without: p50 ${b.p50Ms} ms, p99 ${b.p99Ms} ms`,
    );
    console.log(
      `  p99 / the LB's own decision time (rise x inter = ${DECISION_MS} ms) ${gateRatio.toFixed(2)} (goal < 0.5): ${gateRatio < 0.5 ? 'met' : 'NOT met'}`,
    );
    return {
      ...results,
      durationRatioPreRegisterVsWithoutGates: Number(ratio.toFixed(3)),
      gateP99VsDecisionTime: Number(gateRatio.toFixed(3)),
      loadAverage: load,
    };
  } finally {
    times.stop();
    await lab.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchRollout();
}
