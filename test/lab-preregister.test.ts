// Pre-registration is safe: during a rolling update under load, a member added before its
// Pod's containers are ready is health-checked but takes no request until the Pod's readiness
// gate is True. Proved from both ends: each Pod server records when the first request reached
// it (/stats, wall clock), the API server's store when the gate turned True (at commit), and no
// Pod may have served a request before its gate's commit. For HAProxy (the lab's real
// instances) and for Octavia (the fake, with an amphora on a real HAProxy as its data plane:
// testkit/octavia-fake/amphora.ts). The Pods listen before their readiness probe passes, so
// each member is registered, checked and found healthy while the kubelet still waits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, READINESS_GATE } from '../src/api/types.js';
import { startLab, type Lab } from '../src/lab/lab.js';
import { LAB_NAMESPACE, LAB_POD_PORT, LAB_SERVICE } from '../src/lab/objects.js';
import { waitFor } from '../src/lab/netns.js';
import { deployReplicas, rollingReplace, type RolloutResult } from '../testkit/lab-rollout.js';
import { recordPodConditionTimes, type PodConditionTimes } from '../testkit/pod-condition-times.js';
import { startOctaviaFake, type OctaviaFake } from '../testkit/octavia-fake/index.js';
import { startAmphora, type Amphora } from '../testkit/octavia-fake/amphora.js';
import { credentialsSecret, octaviaClass } from '../testkit/octavia-env.js';

const REPLICAS = 4;
const PRESTOP = 1;
// An Octavia change (the drain's weight 0 included) reaches the amphora only after the load
// balancer's lock: a terminating Pod must keep serving that long (README: preStop).
const OCTAVIA_PRESTOP = 4;
// The app listens at once; the kubelet's first probe comes 2 s later, as with a typical
// initialDelaySeconds: the load balancer has seen the member healthy long before.
const PROBE = { initialDelaySeconds: 2, periodSeconds: 2 };
const OCTAVIA_BACKEND = 'octavia_pool_web';
const OCTAVIA_CLASS = 'lab-octavia';

let lab: Lab;
let fake: OctaviaFake;
let amphora: Amphora | undefined;
let times: PodConditionTimes;
let current: string[] = [];
/** Pod IP → when a member with that address was first seen in the load balancer, and first seen allowed traffic. */
const registeredAt = new Map<string, number>();
const enabledAt = new Map<string, number>();
let sampling: AbortController | undefined;

const wallNow = (): number => performance.timeOrigin + performance.now();

/** Notes the first time each address appears among the LB's members (any state) and is allowed traffic, every 20 ms. */
function sampleRegistrations(members: () => Promise<{ address: string; enabled: boolean }[]>): void {
  sampling?.abort();
  const ctl = new AbortController();
  sampling = ctl;
  void (async () => {
    while (!ctl.signal.aborted) {
      const now = wallNow();
      for (const m of await members().catch(() => [])) {
        if (!registeredAt.has(m.address)) registeredAt.set(m.address, now);
        if (m.enabled && !enabledAt.has(m.address)) enabledAt.set(m.address, now);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
}

/** What Octavia, the amphora and the Pod say, for a failure's message. */
async function octaviaState(poolId: string, pod: string): Promise<string> {
  const p = await lab.getPod(pod);
  const conds = (p?.status?.conditions ?? []).map((c) => `${c.type}=${c.status}${c.reason ? `(${c.reason})` : ''}`).join(' ');
  const members = fake.state.membersOf(poolId).map((m) => `${m.address} w${m.weight} ${m.provisioning_status}/${m.operating_status}`);
  const writes = fake.requestLog
    .filter((r) => r.method !== 'GET')
    .slice(-8)
    .map((r) => `${r.method} ${r.path.replace(/^.*\/lbaas/, '')} ${r.status}`);
  return `${pod} ${p?.status?.podIP ?? '-'}: ${conds}\n  members: ${members.join(', ')}\n  last writes: ${writes.join(', ')}\n  amphora errors: ${amphora?.errors().join('; ') ?? ''}`;
}

interface PodStats {
  served: number;
  firstRequestAt: number | null;
}

/** The Pod server's own account, read from its node like the kubelet's probes. */
async function podStats(name: string): Promise<{ ip: string; stats: PodStats }> {
  const pod = await lab.getPod(name);
  const ip = pod?.status?.podIP;
  const node = lab.topo.nodes.find((n) => n.name === pod?.spec.nodeName);
  if (!ip || !node) throw new Error(`pod ${name} has no IP or node`);
  const body = await lab.sb.exec(node.ns, 'curl', ['-s', '--max-time', '5', `http://${ip}:${LAB_POD_PORT}/stats`]);
  return { ip, stats: JSON.parse(body) as PodStats };
}

/** Every new Pod: pre-registered before ContainersReady, served requests, none before its gate's commit. */
async function expectNoRequestBeforeGate(label: string, r: RolloutResult): Promise<void> {
  const pods = [];
  for (const name of r.newPods) {
    const { ip, stats } = await podStats(name);
    pods.push({
      name,
      stats,
      reg: registeredAt.get(ip),
      enabled: enabledAt.get(ip),
      gateAt: times.at(name, READINESS_GATE),
      crAt: times.at(name, 'ContainersReady'),
    });
  }
  const ms = (a: number | null | undefined, b: number | undefined): string => (a != null && b !== undefined ? (a - b).toFixed(1) : '?');
  console.log(
    [
      `${label}: ${(r.durationMs / 1000).toFixed(1)} s, ${r.sent} requests, ${r.failed} failed, fewest serving members ${r.minHealthyMembers}${r.failed ? ` (${r.load.flatMap((l) => l.errors).join(', ')})` : ''}`,
      ...pods.map(
        (p) =>
          `  ${p.name}: registered ${ms(p.reg, p.crAt)} ms after ContainersReady, gate ${ms(p.gateAt, p.crAt)} ms after it, allowed traffic ${ms(p.enabled, p.gateAt)} ms after the gate (20 ms samples), first request ${ms(p.stats.firstRequestAt, p.gateAt)} ms after the gate, ${p.stats.served} served`,
      ),
    ].join('\n'),
  );
  for (const p of pods) {
    expect(p.gateAt, `${p.name}: gate True committed`).toBeDefined();
    expect(p.crAt, `${p.name}: ContainersReady committed`).toBeDefined();
    // Otherwise the proof would be about a member added once the Pod was ready: nothing to prove.
    expect(p.reg, `${p.name}: member registered`).toBeDefined();
    expect(p.reg!, `${p.name}: member registered before ContainersReady`).toBeLessThan(p.crAt!);
    // Otherwise "no early request" would hold for a Pod that never got any.
    expect(p.stats.served, `${p.name}: requests reached it`).toBeGreaterThan(0);
    expect(p.stats.firstRequestAt!, `${p.name}: first request at or after the gate's commit`).toBeGreaterThanOrEqual(p.gateAt!);
  }
  // The rollout itself: no request lost, capacity never below the replicas.
  expect(r.failed, r.load.flatMap((l) => l.errors).join(', ')).toBe(0);
  expect(r.minHealthyMembers).toBeGreaterThanOrEqual(REPLICAS);
}

beforeAll(async () => {
  // Short PENDING window (each change still locks the LB) and no simulated heartbeat: the amphora reports.
  fake = await startOctaviaFake({ pendingMs: 300, heartbeatMs: null });
  lab = await startLab({
    agentMode: 'inProcess',
    healthCheck: { interval: '300ms', rise: 2, fall: 2 },
    drainSeconds: 2,
    // The pool's monitor checks /healthz, so that GET / counts only requests (the fake's monitor object does not model url_path).
    extraBackends: [{ name: OCTAVIA_BACKEND, httpCheckPath: '/healthz' }],
    agentOptions: { octaviaHeartbeatMs: 100 },
  });
  times = recordPodConditionTimes(lab.api, LAB_NAMESPACE, [READINESS_GATE, 'ContainersReady']);
  current = await deployReplicas(lab, 'p0', REPLICAS, { gates: true, preStopSeconds: PRESTOP, readinessProbe: PROBE });
}, 180_000);

afterAll(async () => {
  sampling?.abort();
  times?.stop();
  await amphora?.stop();
  const denied = lab?.api.deniedRequests() ?? [];
  await lab?.stop();
  await fake?.close();
  expect(denied).toEqual([]);
});

describe('pre-registered members take no request before the gate is True', () => {
  it('HAProxy: a rolling update under load', async () => {
    sampleRegistrations(async () => (await lab.members()).map((m) => ({ address: m.address, enabled: m.admin === 'ready' })));
    const r = await rollingReplace(lab, { pods: current, newPrefix: 'h', gates: true, preStopSeconds: PRESTOP, readinessProbe: PROBE });
    current = r.newPods;
    await expectNoRequestBeforeGate('HAProxy', r);
  }, 120_000);

  it('Octavia (fake, amphora on a real HAProxy): a rolling update under load', async () => {
    const lb = fake.state.createLoadBalancer({ name: 'l7lb' });
    const pool = fake.state.createPool(lb.id, { name: 'web', healthMonitor: { delay: 0.3, max_retries: 2, max_retries_down: 2 } });
    amphora = startAmphora({ state: fake.state, poolId: pool.id, runtime: lab.haproxy.runtime, backend: OCTAVIA_BACKEND, heartbeatMs: 100 });
    await lab.client.create('/api/v1/namespaces/podlb-system/secrets', credentialsSecret(fake, 'os-creds'));
    await lab.client.create(
      `/apis/${API_VERSION}/loadbalancerclasses`,
      octaviaClass(fake, { name: OCTAVIA_CLASS, loadBalancerID: lb.id, secretName: 'os-creds', namespace: LAB_NAMESPACE, backends: ['web'] }),
    );
    // The Service moves to the Octavia class: its Ready Pods become members of the pool.
    await lab.client.patch(
      `/api/v1/namespaces/${LAB_NAMESPACE}/services/${LAB_SERVICE}`,
      { metadata: { annotations: { 'podlb.io/load-balancer': OCTAVIA_CLASS, 'podlb.io/backend': 'web' } } },
      'merge',
    );
    await waitFor("the Service's Pods serving through the amphora", async () => ((await amphora!.serving()) === REPLICAS ? true : undefined), 60_000, 100);
    sampleRegistrations(async () => fake.state.membersOf(pool.id).map((m) => ({ address: m.address, enabled: m.weight > 0 && m.admin_state_up })));
    const r = await rollingReplace(lab, {
      pods: current,
      newPrefix: 'o',
      gates: true,
      preStopSeconds: OCTAVIA_PRESTOP,
      readinessProbe: PROBE,
      loadSockets: [lab.topo.lbs[0]!.httpSockets[OCTAVIA_BACKEND]!],
      servingMembers: () => amphora!.serving(),
      stepTimeoutMs: 60_000,
    }).catch(async (err: unknown) => {
      for (let i = 0; i < REPLICAS; i++) console.log(await octaviaState(pool.id, `o-${i}`));
      throw err;
    });
    current = r.newPods;
    await expectNoRequestBeforeGate('Octavia', r);
  }, 240_000);
});
