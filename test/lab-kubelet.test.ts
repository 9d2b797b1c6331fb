// The lab with a kubelet as slow as a real 1.32 one (Ready 100-300 ms after the last gate,
// the EndpointSlice about 20 ms later): what podlb does in that window, what its latency
// metrics say against what is measured outside the agent, and how the kubelet probes and
// terminates Pods. Assertions read the real HAProxy, the API server's watch stream and the
// agents' own metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, gateStatus, type Lab } from '../src/lab/lab.js';
import { waitFor } from '../src/lab/netns.js';
import { READINESS_GATE, type Pod } from '../src/api/types.js';
import { LAB_BACKEND, LAB_CLASS, LAB_NAMESPACE } from '../src/lab/objects.js';

interface KEvent {
  reason: string;
  involvedObject: { kind: string; name: string };
}

const wall = (): number => performance.timeOrigin + performance.now();
let lab: Lab;
/** First time (wall ms) the API server committed each fact, per Pod name. */
const seen = {
  containersReady: new Map<string, number>(),
  gateTrue: new Map<string, number>(),
  ready: new Map<string, number>(),
  phase: new Map<string, string>(),
};
/** Member addresses ever seen in drain on any instance, and when each address first appeared. */
const drained = new Set<string>();
const memberSeen = new Map<string, number>();
let polling = true;
let poller: Promise<void> | undefined;
let unwatch: (() => void) | undefined;

beforeAll(async () => {
  // No kubelet or slice options: the defaults are the realistic lags under test.
  lab = await startLab({ agentMode: 'inProcess', healthCheck: { interval: '300ms', rise: 2, fall: 2 }, drainSeconds: 2 });
  // This suite holds the rules of registration after ContainersReady (a member is never drained
  // while the kubelet catches up, a failing probe leaves it registered): pre-registration off.
  // Pre-registration's own rules: src/agent/pre-register.test.ts, test/haproxy-instance.test.ts.
  await lab.client.patch(`/apis/podlb.io/v1alpha1/loadbalancerclasses/${LAB_CLASS}`, { spec: { readiness: { preRegister: false } } }, 'merge');
  unwatch = lab.api.store.watch('pods', { namespace: LAB_NAMESPACE }, (ev: { type: string; object: unknown }) => {
    const pod = ev.object as Pod;
    const name = pod.metadata.name ?? '';
    const c = (t: string): string | undefined => pod.status?.conditions?.find((x) => x.type === t)?.status;
    const first = (m: Map<string, number>, ok: boolean): void => {
      if (ok && !m.has(name)) m.set(name, wall());
    };
    first(seen.containersReady, c('ContainersReady') === 'True');
    first(seen.gateTrue, c(READINESS_GATE) === 'True');
    first(seen.ready, c('Ready') === 'True');
    if (pod.status?.phase) seen.phase.set(name, pod.status.phase);
  });
  poller = (async () => {
    while (polling) {
      for (const h of lab.haproxies) {
        const { members } = await h.listMembers([LAB_BACKEND], 'podlb_').catch(() => ({ members: [] }));
        const t = wall();
        for (const m of members) {
          if (m.admin === 'drain') drained.add(m.address);
          // Registered means on every instance: keep the latest first-sighting over instances.
          const k = `${h.id}|${m.address}`;
          if (!memberSeen.has(k)) memberSeen.set(k, t);
        }
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  await waitFor(
    'pod CIDRs at the ToR',
    async () => {
      const rs = await lab.topo.tor.kernelRoutes();
      return lab.topo.nodes.every((n) => rs.some((r) => r.dst === n.podCidr)) ? true : undefined;
    },
    30_000,
    100,
  );
}, 120_000);

afterAll(async () => {
  polling = false;
  await poller;
  unwatch?.();
  await lab?.stop();
});

const ipOf = (name: string): string => lab.topo.pods().find((p) => p.name === name)?.ip ?? '';
const registeredAt = (ip: string): number | undefined => {
  const ts = lab.haproxies.map((h) => memberSeen.get(`${h.id}|${ip}`));
  return ts.every((t) => t !== undefined) ? Math.max(...(ts as number[])) : undefined;
};

async function memberDrainingEvents(names: string[]): Promise<KEvent[]> {
  const evs = (await lab.client.list<KEvent>(`/api/v1/namespaces/${LAB_NAMESPACE}/events`)).items;
  return evs.filter(
    (e) => e.involvedObject.kind === 'Pod' && names.includes(e.involvedObject.name) && (e.reason === 'MemberDraining' || e.reason === 'MemberRemoved'),
  );
}

async function histogram(name: string): Promise<{ sum: number; count: number }> {
  let sum = 0;
  let count = 0;
  for (const a of lab.agents.values()) {
    const text = await a.metrics();
    sum += Number(new RegExp(`^${name}_sum (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    count += Number(new RegExp(`^${name}_count (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  }
  return { sum, count };
}

describe('fresh Pods with the realistic kubelet lag', () => {
  const names = ['fresh-1', 'fresh-2', 'fresh-3', 'fresh-4', 'fresh-5', 'fresh-6'];

  it('no new member is ever drained while the kubelet catches up with the gate', async () => {
    const before = await histogram('podlb_member_registration_seconds');
    // One at a time, as a rolling update creates them; each one's window is its own.
    for (const [i, name] of names.entries()) {
      await lab.createPod(i % 2 === 0 ? 'node1' : 'node2', name);
      await waitFor(`${name} Ready`, () => (seen.ready.has(name) ? true : undefined), 30_000, 10);
    }
    // Ready caught up (and the slice after it): any drain the lag caused has happened by now.
    await new Promise((r) => setTimeout(r, 1000));
    // The lag is real: Ready came 100-300 ms after the gate, so the window was open.
    for (const n of names) {
      const lag = seen.ready.get(n)! - seen.gateTrue.get(n)!;
      expect(lag, `${n}: Ready ${lag.toFixed(0)} ms after the gate`).toBeGreaterThanOrEqual(90);
      expect(lag).toBeLessThan(1000);
    }
    expect([...drained].filter((ip) => names.map(ipOf).includes(ip))).toEqual([]);
    expect(await memberDrainingEvents(names)).toEqual([]);
    for (const n of names) {
      const m = (await lab.members()).find((x) => x.address === ipOf(n));
      expect(m, n).toMatchObject({ admin: 'ready', health: 'healthy' });
    }

    // Registration latency: the agents' histogram agrees with what is seen from outside
    // (ContainersReady committed by the API server → member on every HAProxy instance).
    const after = await histogram('podlb_member_registration_seconds');
    const count = after.count - before.count;
    expect(count).toBe(names.length);
    const meanMetric = (after.sum - before.sum) / count;
    const outside = names.map((n) => registeredAt(ipOf(n))! - seen.containersReady.get(n)!);
    const meanOutside = outside.reduce((a, b) => a + b, 0) / outside.length / 1000;
    expect(meanMetric, `metric ${meanMetric.toFixed(3)} s, outside ${meanOutside.toFixed(3)} s`).toBeLessThan(0.2);
    expect(Math.abs(meanMetric - meanOutside), `metric ${meanMetric.toFixed(3)} s, outside ${meanOutside.toFixed(3)} s`).toBeLessThan(0.05);
  });
});

describe('readiness probes', () => {
  it('a probe that fails later makes the Pod not Ready; its member stays, and HAProxy stops sending to it', async () => {
    const name = 'probed-1';
    const t0 = wall();
    await lab.createPod('node1', name, { readinessProbe: { periodSeconds: 1, failureThreshold: 2 } });
    await waitFor(`${name} gate True and Ready`, () => (seen.ready.has(name) ? true : undefined), 30_000, 10);
    // ContainersReady waited for the first passing probe, not for the process to start.
    expect(seen.containersReady.get(name)! - t0).toBeGreaterThan(0);
    const pod = lab.topo.pods().find((p) => p.name === name)!;
    const tFail = wall();
    await pod.setHealthy(false);
    const notReady = await waitFor(
      'ContainersReady False',
      async () => {
        const p = await lab.getPod(name);
        return p?.status?.conditions?.find((c) => c.type === 'ContainersReady')?.status === 'False' ? p : undefined;
      },
      10_000,
      20,
    );
    // failureThreshold 2 at a 1 s period: at least one period after the switch, at most about three.
    expect(wall() - tFail).toBeGreaterThan(900);
    expect(wall() - tFail).toBeLessThan(4000);
    expect(notReady.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady' });
    expect(gateStatus(notReady).status).toBe('True'); // latched
    const down = await waitFor('HAProxy check down', async () => (await lab.members()).find((m) => m.address === pod.ip && m.health !== 'healthy'), 10_000, 20);
    expect(down.admin).toBe('ready');
    await pod.setHealthy(true);
    await waitFor(
      'Ready again',
      async () => ((await lab.getPod(name))?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? true : undefined),
      10_000,
      20,
    );
    await waitFor('healthy again', async () => ((await lab.members()).find((m) => m.address === pod.ip)?.health === 'healthy' ? true : undefined), 10_000, 20);
    expect(drained.has(pod.ip)).toBe(false);
    expect(await memberDrainingEvents([name])).toEqual([]);
  });
});

describe('termination', () => {
  it('preStop, then SIGTERM; a server still busy when the grace period ends is killed and the Pod ends Failed', async () => {
    const name = 'graceful-1';
    await lab.createPod('node2', name, { preStopSeconds: 1, terminationGracePeriodSeconds: 3 });
    await waitFor(`${name} Ready`, () => (seen.ready.has(name) ? true : undefined), 30_000, 10);
    const pod = lab.topo.pods().find((p) => p.name === name)!;
    const nodeNs = lab.topo.nodes.find((n) => n.name === 'node2')!.ns;
    // A request that outlives the grace period keeps the server from exiting on SIGTERM.
    const busy = lab.sb.exec(nodeNs, 'curl', ['-s', '--max-time', '20', `http://${pod.ip}:8080/?delayMs=15000`]).catch(() => 'cut');
    await new Promise((r) => setTimeout(r, 200));
    const t0 = wall();
    await lab.deletePod(name);
    await waitFor(`${name} gone`, async () => ((await lab.getPod(name)) === undefined ? true : undefined), 20_000, 20);
    const took = wall() - t0;
    expect(took).toBeGreaterThan(2800);
    expect(took).toBeLessThan(6000);
    expect(await pod.exited).toBeNull(); // killed by a signal
    expect(seen.phase.get(name)).toBe('Failed');
    expect(await busy).toBe('cut');
    // The member drained at once on deletion and is gone with the Pod.
    expect(drained.has(pod.ip)).toBe(true);
    await waitFor('member removed', async () => ((await lab.members()).some((m) => m.address === pod.ip) ? undefined : true), 10_000, 50);
  });

  it("a forced delete (gracePeriodSeconds=0) stops the container within the kubelet's minimum window and frees the member", async () => {
    const name = 'forced-1';
    await lab.createPod('node1', name);
    await waitFor(`${name} Ready`, () => (seen.ready.has(name) ? true : undefined), 30_000, 10);
    const pod = lab.topo.pods().find((p) => p.name === name)!;
    const t0 = wall();
    await lab.client.request('DELETE', `/api/v1/namespaces/${LAB_NAMESPACE}/pods/${name}`, {
      body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 },
    });
    expect(await lab.getPod(name)).toBeUndefined();
    expect(await pod.exited).toBe(0); // SIGTERM, and the idle server exits cleanly
    expect(wall() - t0).toBeLessThan(2500);
    await waitFor('pod network gone', () => (lab.topo.pods().some((p) => p.name === name) ? undefined : true), 5_000, 20);
    await waitFor('member removed', async () => ((await lab.members()).some((m) => m.address === pod.ip) ? undefined : true), 10_000, 50);
  });
});
