// Zero-loss rolling updates: a 10-replica backend over two nodes, constant load
// through both HAProxy instances, every Pod replaced the way a Deployment does it
// (maxSurge 1, maxUnavailable 0), with the preStop and drain the README recommends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab } from '../src/lab/lab.js';
import { deployReplicas, rollingReplace, type RolloutResult } from '../testkit/lab-rollout.js';

let lab: Lab;
let current: string[] = [];
const PRESTOP = 2;

function summary(r: RolloutResult): string {
  const l = r.load[0]!;
  return `${(r.durationMs / 1000).toFixed(1)} s, ${r.sent} requests, ${r.failed} failed, fewest healthy members ${r.minHealthyMembers}, p50 ${l.latencyMs.p50.toFixed(1)} ms p99 ${l.latencyMs.p99.toFixed(1)} ms${r.failed ? ` errors: ${r.load.flatMap((x) => x.errors).join(', ')}` : ''}`;
}

beforeAll(async () => {
  lab = await startLab({ agentMode: 'inProcess', healthCheck: { interval: '300ms', rise: 2, fall: 2 }, drainSeconds: 3 });
  current = await deployReplicas(lab, 'v0', 10, { gates: true, preStopSeconds: PRESTOP });
}, 180_000);

afterAll(async () => {
  const denied = lab?.api.deniedRequests() ?? [];
  await lab?.stop();
  // The agents run as their ServiceAccount: a call the shipped RBAC does not grant fails here.
  expect(denied).toEqual([]);
});

describe('rolling updates through podlb', () => {
  it('5 consecutive full rollouts of 10 replicas: 0 failed requests', async () => {
    for (let round = 1; round <= 5; round++) {
      const r = await rollingReplace(lab, { pods: current, newPrefix: `v${round}`, gates: true, preStopSeconds: PRESTOP });
      console.log(`rollout ${round}: ${summary(r)}`);
      expect(r.sent).toBeGreaterThan(100);
      expect(r.failed).toBe(0);
      // maxUnavailable 0 as the load balancer sees it: never fewer healthy members than replicas.
      expect(r.minHealthyMembers).toBeGreaterThanOrEqual(10);
      current = r.newPods;
    }
  }, 300_000);

  it('a rollout with the node1 agent restarted in the middle: 0 failed requests', async () => {
    let restarted: Promise<void> | undefined;
    const r = await rollingReplace(lab, {
      pods: current,
      newPrefix: 'vr',
      gates: true,
      preStopSeconds: PRESTOP,
      beforeStep: async (i) => {
        if (i !== 4) return;
        const agent = lab.agents.get('node1')!;
        await agent.stop();
        // Back after a second, while the rollout goes on (its next Pod waits for its gate).
        restarted = new Promise((resolve) => setTimeout(() => void agent.start().then(resolve), 1000));
      },
    });
    await restarted;
    console.log(`rollout with agent restart: ${summary(r)}`);
    expect(r.failed).toBe(0);
    current = r.newPods;
  }, 120_000);
});
