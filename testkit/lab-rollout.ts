// Rolling updates in the lab, played the way the Deployment controller does with
// maxSurge 1 / maxUnavailable 0: create one new Pod, wait until it is Ready (with podlb's gate,
// Ready means "healthy in every load balancer instance"), then delete one old Pod; repeat.
// Constant load runs through the LB meanwhile and every failed request is counted.
import type { Pod } from '../src/api/types.js';
import type { Lab } from '../src/lab/lab.js';
import { runLoad, type LoadResult } from '../src/lab/http-load.js';
import { waitFor } from '../src/lab/netns.js';
import { LAB_BACKEND, type LabPodOptions } from '../src/lab/objects.js';

export interface RolloutOptions {
  /** Pods to replace, by name; each is replaced on the same node. */
  pods: string[];
  /** Prefix of the new Pods' names; a counter is appended. */
  newPrefix: string;
  /** With podlb's readiness gate (the point) or without it (the baseline). */
  gates: boolean;
  preStopSeconds: number;
  /** Called before replacing Pod i (e.g. to restart an agent mid-rollout). */
  beforeStep?: (i: number) => Promise<void>;
  /** Give up on one step after this long. */
  stepTimeoutMs?: number;
  /** The new Pods' readinessProbe (default none: containers are ready once the server listens). */
  readinessProbe?: LabPodOptions['readinessProbe'];
  /** Where the load goes (default: every HAProxy instance's frontend of the lab's Service). */
  loadSockets?: string[];
  /** Members taking new requests now (default: healthy and ready in the first HAProxy instance). */
  servingMembers?: () => Promise<number | undefined>;
}

export interface RolloutResult {
  durationMs: number;
  newPods: string[];
  /** Load through every load socket during the rollout. */
  load: LoadResult[];
  failed: number;
  sent: number;
  /** Fewest members taking requests (servingMembers) at any sample (every 20 ms). */
  minHealthyMembers: number;
}

function isReady(p: Pod | undefined): boolean {
  return p?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
}

export async function rollingReplace(lab: Lab, opts: RolloutOptions, loadOpts: { concurrency: number } = { concurrency: 2 }): Promise<RolloutResult> {
  const ctl = new AbortController();
  const sockets = opts.loadSockets ?? lab.topo.lbs.map((lb) => lb.httpSocket);
  const loads = sockets.map((socketPath) => runLoad({ socketPath, concurrency: loadOpts.concurrency, durationMs: 600_000, stopSignal: ctl.signal }));
  const serving =
    opts.servingMembers ??
    (async () => {
      const ms = await lab.haproxy.listMembers([LAB_BACKEND], 'podlb_').catch(() => undefined);
      return ms?.members.filter((m) => m.health === 'healthy' && m.admin === 'ready').length;
    });
  const newPods: string[] = [];
  const t0 = performance.now();
  // Capacity as the load balancer sees it: maxUnavailable 0 promises it never drops.
  let minHealthy = Infinity;
  const sampler = (async () => {
    while (!ctl.signal.aborted) {
      const n = await serving().catch(() => undefined);
      if (n !== undefined) minHealthy = Math.min(minHealthy, n);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    for (const [i, old] of opts.pods.entries()) {
      await opts.beforeStep?.(i);
      const oldPod = await lab.getPod(old);
      if (!oldPod?.spec.nodeName) throw new Error(`pod ${old} not found`);
      const name = `${opts.newPrefix}-${i}`;
      await lab.createPod(oldPod.spec.nodeName, name, {
        gate: opts.gates,
        preStopSeconds: opts.preStopSeconds,
        ...(opts.readinessProbe ? { readinessProbe: opts.readinessProbe } : {}),
      });
      await waitFor(`${name} Ready`, async () => (isReady(await lab.getPod(name)) ? true : undefined), opts.stepTimeoutMs ?? 30_000, 10);
      await lab.deletePod(old);
      newPods.push(name);
    }
    // The rollout is over when the last old Pod is gone.
    await waitFor(
      'old Pods gone',
      async () => {
        for (const old of opts.pods) if (await lab.getPod(old)) return undefined;
        return true;
      },
      60_000,
      50,
    );
  } finally {
    // A little load after the end, so a late failure (last member removed too early) counts.
    await new Promise((r) => setTimeout(r, 300));
    ctl.abort();
  }
  const durationMs = performance.now() - t0;
  const load = await Promise.all(loads);
  await sampler;
  return {
    durationMs,
    newPods,
    load,
    failed: load.reduce((a, l) => a + l.failed, 0),
    sent: load.reduce((a, l) => a + l.sent, 0),
    minHealthyMembers: minHealthy,
  };
}

/** Creates `replicas` Pods spread over the lab's nodes and waits until all are Ready. */
export async function deployReplicas(
  lab: Lab,
  prefix: string,
  replicas: number,
  opts: { gates: boolean; preStopSeconds: number; readinessProbe?: LabPodOptions['readinessProbe']; timeoutMs?: number },
): Promise<string[]> {
  const nodes = lab.topo.nodes.map((n) => n.name);
  const names = Array.from({ length: replicas }, (_, i) => `${prefix}-${i}`);
  for (const [i, name] of names.entries()) {
    await lab.createPod(nodes[i % nodes.length]!, name, {
      gate: opts.gates,
      preStopSeconds: opts.preStopSeconds,
      ...(opts.readinessProbe ? { readinessProbe: opts.readinessProbe } : {}),
    });
  }
  await waitFor(
    `${replicas} replicas Ready`,
    async () => {
      for (const n of names) if (!isReady(await lab.getPod(n))) return undefined;
      return true;
    },
    opts.timeoutMs ?? 60_000,
    50,
  );
  return names;
}
