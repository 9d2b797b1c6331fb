// The controller's leader as the one writer of a podlb-owned Octavia pool, with two agents
// that only read, against the in-process API server (shipped RBAC, each process its own
// ServiceAccount token) and the in-process Octavia/Keystone fake with a PENDING_UPDATE window
// after every change. A lock cycle is counted as one write Octavia accepted: each one holds
// the load balancer PENDING_UPDATE for the window, and nothing else can be written meanwhile.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { startApiServer, type ApiServer } from '../src/apiserver/index.js';
import { startEndpointSliceController } from '../src/lab/endpointslice-controller.js';
import { AGENT_SERVICE_ACCOUNT } from '../src/lab/lab.js';
import { waitFor } from '../src/lab/netns.js';
import { Agent } from '../src/agent/agent.js';
import { Controller } from '../src/controller/controller.js';
import type { KubeClient } from '../src/kube/client.js';
import { adminClient } from '../testkit/api-client.js';
import { memberName } from '../src/lb/naming.js';
import { API_VERSION, READINESS_GATE, type Pod } from '../src/api/types.js';
import { startOctaviaFake, type OctaviaFake } from '../testkit/octavia-fake/index.js';
import { credentialsSecret, octaviaClass } from '../testkit/octavia-env.js';
import type { FakePool } from '../testkit/octavia-fake/state.js';
import { CONTROLLER_SERVICE_ACCOUNT, controllerResources } from '../testkit/controller-resources.js';

const log = pino({ level: process.env.PODLB_TEST_LOG ? 'debug' : 'silent' });
const PENDING_MS = 1_500; // a real amphora reload takes 1-5 s
const NODES = ['node1', 'node2'];

let api: ApiServer;
let fake: OctaviaFake;
let client: KubeClient;
let slices: { stop(): void };
let controller: Controller;
const agents: Agent[] = [];
let cart: FakePool;
let legacy: FakePool;

/** Writes Octavia accepted (each one a PENDING_UPDATE lock cycle), optionally only those on one pool. */
function lockCycles(poolId?: string): number {
  return fake.requestLog.filter((r) => r.method !== 'GET' && r.path.startsWith('/octavia/') && r.status < 300 && (!poolId || r.path.includes(poolId))).length;
}

async function gate(name: string): Promise<string | undefined> {
  const p = await client.get<Pod>(`/api/v1/namespaces/shop/pods/${name}`);
  return p.status?.conditions?.find((x) => x.type === READINESS_GATE)?.status;
}

async function createPod(name: string, node: string, app: string): Promise<void> {
  await client.create('/api/v1/namespaces/shop/pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'shop', labels: { app } },
    spec: {
      nodeName: node,
      readinessGates: [{ conditionType: READINESS_GATE }],
      containers: [{ name: 'c', image: app, ports: [{ name: 'http', containerPort: 8080 }] }],
    },
  });
}

/** The kubelet's view: containers ready, Pod not Ready until our gate turns True. */
function readyStatus(ip: string): object {
  const now = new Date().toISOString();
  return {
    phase: 'Running',
    podIP: ip,
    podIPs: [{ ip }],
    conditions: [
      { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
      { type: 'Ready', status: 'False', lastTransitionTime: now },
    ],
  };
}

async function containersReady(name: string, ip: string): Promise<void> {
  await client.patch(`/api/v1/namespaces/shop/pods/${name}/status`, { status: readyStatus(ip) }, 'strategic');
}

function service(name: string, backend: string, app: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'shop', annotations: { 'podlb.io/load-balancer': 'octavia-lb', 'podlb.io/backend': backend } },
    spec: { selector: { app }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  };
}

beforeAll(async () => {
  fake = await startOctaviaFake({ pendingMs: PENDING_MS, heartbeatMs: 200 });
  const lb = fake.state.createLoadBalancer({ name: 'l7lb' });
  cart = fake.state.createPool(lb.id, { name: 'cart', healthMonitor: { delay: 0.1, max_retries_down: 2 }, tags: ['podlb-owned'] });
  legacy = fake.state.createPool(lb.id, { name: 'legacy', healthMonitor: { delay: 0.1, max_retries_down: 2 } });
  api = await startApiServer({ resources: controllerResources() });
  client = adminClient(api);
  api.installManifests();
  await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  for (const n of NODES) await client.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: n } });
  await client.create('/api/v1/namespaces/podlb-system/secrets', credentialsSecret(fake, 'octavia-credentials'));
  await client.create(
    `/apis/${API_VERSION}/loadbalancerclasses`,
    octaviaClass(fake, { name: 'octavia-lb', loadBalancerID: lb.id, secretName: 'octavia-credentials', namespace: 'shop', backends: ['cart', 'legacy'] }),
  );
  await client.create('/api/v1/namespaces/shop/services', service('cart', 'cart', 'cart'));
  slices = startEndpointSliceController(api.store);
  controller = new Controller({
    kubeConfig: api.podIdentity({ serviceAccount: CONTROLLER_SERVICE_ACCOUNT, nodeName: 'control-plane' }).kubeConfig(),
    log,
    identity: 'ctl-a',
    webhookPort: 0,
    webhookHost: '127.0.0.1',
    // Long enough that a loaded 2-core machine does not flap leadership (that is another suite's subject).
    leaseDurationSeconds: 15,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 200,
    octaviaBatch: { pollMs: 100 },
  });
  await controller.start();
  await waitFor('leader', () => controller.isLeader || undefined, 10_000);
  for (const n of NODES) {
    const kc = api.podIdentity({ serviceAccount: AGENT_SERVICE_ACCOUNT, nodeName: n, hostNetwork: true }).kubeConfig();
    const a = await Agent.create({ nodeName: n, kubeConfig: kc, log, pendingPollMs: 50, octaviaHeartbeatMs: 200 });
    agents.push(a);
    await a.start();
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await controller?.stop();
  slices?.stop();
  const denied = api?.deniedRequests() ?? [];
  await api?.close();
  await fake?.close();
  expect(denied, 'calls the shipped RBAC does not grant').toEqual([]);
});

describe('one writer per load balancer: the leader batch-writes podlb-owned pools', () => {
  const pods = Array.from({ length: 100 }, (_, i) => ({ name: `cart-${i}`, node: NODES[i % 2]!, ip: `10.244.${(i % 2) + 1}.${Math.floor(i / 2) + 10}` }));

  it('100 Pods on two nodes are registered in at most 3 lock cycles, every gate turns True, and no agent writes into the pool', async () => {
    await Promise.all(pods.map((p) => createPod(p.name, p.node, 'cart')));
    const before = lockCycles();
    const t0 = performance.now();
    // All at once, as a kubelet burst reaches the watchers (HTTP from this loaded test process would spread it over seconds).
    for (const p of pods) api.store.patch('pods', p.name, 'shop', 'strategic', { status: readyStatus(p.ip) }, { subresource: 'status' });
    await waitFor(
      '100 members in the pool',
      () => (fake.state.membersOf(cart.id).filter((m) => m.provisioning_status === 'ACTIVE').length === 100 ? true : undefined),
      30_000,
      50,
    );
    const registeredMs = performance.now() - t0;
    const cycles = lockCycles() - before;
    expect(cycles, `lock cycles to register 100 Pods (${Math.round(registeredMs)} ms)`).toBeLessThanOrEqual(3);
    expect(cycles).toBeGreaterThanOrEqual(1);
    // Every member as an agent would have made it: the node in its name and tags; pre-registered
    // at weight 0, and at weight 1 only once its Pod's gate is True (weights read before gates).
    const weights = pods.map((p) => fake.state.memberByName(cart.id, memberName(p.node, p.ip, 8080))?.weight);
    const gatesThen = await Promise.all(pods.map((p) => gate(p.name)));
    pods.forEach((p, i) => {
      const m = fake.state.memberByName(cart.id, memberName(p.node, p.ip, 8080));
      expect(m, p.name).toMatchObject({ address: p.ip, protocol_port: 8080, admin_state_up: true });
      expect(m!.tags.sort()).toEqual(['podlb', `podlb-node:${p.node}`]);
      if (weights[i] !== 0) expect(gatesThen[i], `${p.name} at weight ${weights[i]}`).toBe('True');
    });
    // The agents still read health from Octavia and flip their gates; then the leader lets them in.
    await waitFor(
      'all 100 gates True',
      async () => ((await Promise.all(pods.map((p) => gate(p.name)))).every((s) => s === 'True') ? true : undefined),
      30_000,
      100,
    );
    await waitFor(
      'all 100 at weight 1',
      () => (pods.every((p) => fake.state.memberByName(cart.id, memberName(p.node, p.ip, 8080))?.weight === 1) ? true : undefined),
      30_000,
      100,
    );
    // Only batch updates touched the pool: no per-member POST, PUT or DELETE from any agent.
    const writes = fake.requestLog.filter((r) => r.method !== 'GET' && r.path.includes(cart.id));
    expect(writes.every((w) => w.method === 'PUT' && w.path.endsWith(`/pools/${cart.id}/members`))).toBe(true);
    expect(controller.lastLeaderRun?.octaviaError).toBeUndefined();
  });

  it('a deleted Pod is drained at weight 0 (kept at 0 by later batches), then removed after drain-seconds, in batch', async () => {
    const [gone, other] = [pods[0]!, pods[1]!];
    await client.request('DELETE', `/api/v1/namespaces/shop/pods/${gone.name}`, { body: { gracePeriodSeconds: 30 } });
    const name = memberName(gone.node, gone.ip, 8080);
    await waitFor('weight 0', () => (fake.state.memberByName(cart.id, name)?.weight === 0 ? true : undefined), 10_000, 50);
    // A change elsewhere in the pool during the drain: the next batch must keep the drained member at weight 0.
    await client.request('DELETE', `/api/v1/namespaces/shop/pods/${other.name}`, { body: { gracePeriodSeconds: 30 } });
    const otherName = memberName(other.node, other.ip, 8080);
    await waitFor('second drained', () => (fake.state.memberByName(cart.id, otherName)?.weight === 0 ? true : undefined), 10_000, 50);
    expect(fake.state.memberByName(cart.id, name)?.weight).toBe(0);
    await waitFor('removed after the 2 s window', () => (fake.state.memberByName(cart.id, name) ? undefined : true), 15_000, 100);
    await waitFor('second removed', () => (fake.state.memberByName(cart.id, otherName) ? undefined : true), 15_000, 100);
    expect(fake.state.membersOf(cart.id)).toHaveLength(98);
    const writes = fake.requestLog.filter((r) => r.method !== 'GET' && r.path.includes(cart.id));
    expect(writes.every((w) => w.method === 'PUT' && w.path.endsWith(`/pools/${cart.id}/members`))).toBe(true);
  });

  it('a pool not tagged podlb-owned is never batch-written: agents write their own members there one by one, a hand-made member stays', async () => {
    const handMade = fake.state.insertMember(legacy.id, { name: 'legacy-vm', address: '192.0.2.7', protocol_port: 80 });
    await client.create('/api/v1/namespaces/shop/services', service('legacy', 'legacy', 'legacy'));
    await createPod('legacy-0', 'node1', 'legacy');
    await containersReady('legacy-0', '10.244.1.200');
    await waitFor('legacy gate True', async () => ((await gate('legacy-0')) === 'True' ? true : undefined), 20_000, 100);
    expect(fake.state.memberByName(legacy.id, memberName('node1', '10.244.1.200', 8080))).toBeDefined();
    expect(fake.state.members.get(handMade.id)).toMatchObject({ name: 'legacy-vm', weight: 1 });
    const onLegacy = fake.requestLog.filter((r) => r.method !== 'GET' && r.path.includes(legacy.id));
    expect(onLegacy.map((r) => r.method)).toContain('POST');
    expect(onLegacy.filter((r) => r.method === 'PUT' && r.path.endsWith('/members'))).toEqual([]);
  });

  it('a podlb-owned pool that holds a member podlb did not make is left alone, with a Warning on the class', async () => {
    const intruder = fake.state.insertMember(cart.id, { name: 'added-by-hand', address: '192.0.2.9', protocol_port: 80 });
    const before = fake.requestLog.filter((r) => r.method === 'PUT' && r.path.endsWith(`/pools/${cart.id}/members`)).length;
    await createPod('cart-late', 'node2', 'cart');
    await containersReady('cart-late', '10.244.2.250');
    const ev = await waitFor('Warning', () =>
      api.store.list('events', { namespace: 'default' }).items.find((e: { reason?: string }) => e.reason === 'OwnedPoolHasForeignMembers'),
    );
    expect(ev.involvedObject).toMatchObject({ kind: 'LoadBalancerClass', name: 'octavia-lb' });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(fake.requestLog.filter((r) => r.method === 'PUT' && r.path.endsWith(`/pools/${cart.id}/members`)).length).toBe(before);
    expect(fake.state.members.get(intruder.id)).toBeDefined();
    // Once the operator removes it, the pending Pod is registered in the next batch.
    fake.state.members.delete(intruder.id);
    await waitFor('late Pod registered', () => (fake.state.memberByName(cart.id, memberName('node2', '10.244.2.250', 8080)) ? true : undefined), 15_000, 100);
  });

  it('a batch Octavia fails to apply leaves its members in ERROR: the leader lists them again with nothing else to change, and the gate turns True', async () => {
    await waitFor('pool settled', () => (fake.state.membersOf(cart.id).every((m) => m.provisioning_status === 'ACTIVE') ? true : undefined), 15_000, 50);
    fake.faults.failProvisioning(1);
    const before = fake.requestLog.filter((r) => r.method === 'PUT' && r.path.endsWith(`/pools/${cart.id}/members`) && r.status < 300).length;
    await createPod('cart-err', 'node1', 'cart');
    await containersReady('cart-err', '10.244.1.240');
    // The fault is spent when the provider finishes that batch. The member's ERROR that follows
    // lasts only until the leader's next pass repairs it, too short to poll for on a loaded
    // machine; the repair's own lock cycle and Event below prove it happened.
    await waitFor('the batch failed', () => (fake.state.failProvisioning === 0 ? true : undefined), 15_000, 20);
    await waitFor(
      'every member ACTIVE again',
      () => (fake.state.membersOf(cart.id).every((m) => m.provisioning_status === 'ACTIVE') ? true : undefined),
      15_000,
      50,
    );
    await waitFor('gate True', async () => ((await gate('cart-err')) === 'True' ? true : undefined), 20_000, 100);
    // The failed batch and the repair: one lock cycle each.
    expect(fake.requestLog.filter((r) => r.method === 'PUT' && r.path.endsWith(`/pools/${cart.id}/members`) && r.status < 300).length - before).toBe(2);
    const ev = await waitFor('Warning', () =>
      api.store.list('events', { namespace: 'default' }).items.find((e: { reason?: string }) => e.reason === 'MemberRepaired'),
    );
    expect(ev.involvedObject).toMatchObject({ kind: 'LoadBalancerClass', name: 'octavia-lb' });
  });
});
