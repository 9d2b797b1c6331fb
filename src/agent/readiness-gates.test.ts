import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { READINESS_GATE, type Pod } from '../api/types.js';
import { startApiServer, type ApiServer } from '../apiserver/index.js';
import { startHttpStub, tooManyRequests } from '../../testkit/http-stub.js';
import { KubeClient } from '../kube/client.js';
import type { MemberView } from '../members/gates.js';
import { lbClass, NODE, pod, service, slice } from '../../testkit/member-fixtures.js';
import { memberKey, planMembers } from '../members/plan.js';
import type { MemberOutcome } from '../members/reconciler.js';
import type { MembersRun } from './lb-members.js';
import { AgentMetrics } from './metrics.js';
import { ReadinessGatesReconciler, type ReadinessGatesOptions } from './readiness-gates.js';
import type { AgentSnapshot } from './snapshot.js';
import { adminClient } from '../../testkit/api-client.js';
import { agentSnapshot } from '../../testkit/agent-snapshot.js';

const log = pino({ level: 'silent' });
let api: ApiServer;
let client: KubeClient;

beforeAll(async () => {
  api = await startApiServer();
  client = adminClient(api);
  api.store.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ads' } });
});
afterAll(async () => {
  await api?.close();
});

function scenario(name: string, view: MemberView, at: number): { snap: AgentSnapshot; run: MembersRun; stored: () => Pod } {
  const fixture = pod(name, { containersReady: true });
  const created = api.store.create('pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...fixture.metadata, uid: undefined, namespace: 'ads' },
    spec: { ...fixture.spec, containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: 8080 }] }] },
    status: fixture.status,
  }) as Pod;
  const p = { ...fixture, metadata: { ...fixture.metadata, uid: created.metadata.uid! } };
  const snap = agentSnapshot({
    nodeName: NODE,
    pods: [p],
    services: [service()],
    slices: [slice([{ pod: name, ip: '10.244.1.10', ready: false }])],
    classes: [lbClass()],
  });
  snap.slices[0]!.endpoints[0]!.targetRef!.uid = created.metadata.uid!;
  const plan = planMembers({ nodeName: NODE, pods: snap.pods, services: snap.services, endpointSlices: snap.slices, classes: snap.classes });
  expect(plan.members).toHaveLength(1);
  const views = new Map([[memberKey(plan.members[0]!.backend, plan.members[0]!.name), view]]);
  const outcome = {
    views,
    details: new Map(),
    instances: [],
    counts: { registered: 1, healthy: view.healthy ? 1 : 0, draining: 0, warming: 0 },
    events: [],
    added: [],
  } as MemberOutcome;
  return { snap, run: { at, plan, outcome }, stored: () => api.store.get('pods', name, 'ads') as Pod };
}

type MembersStandIn = { -readonly [K in keyof ReadinessGatesOptions['members']]: ReadinessGatesOptions['members'][K] };

/**
 * The members reconciler as the gates see it, at `run` (a test moves it on by assigning
 * `current`): no member added by this agent, no containers-ready time known.
 */
const membersAt = (run: MembersRun): MembersStandIn => ({ current: run, addedAt: () => undefined, containersReadyAt: () => undefined });
/** A reconciler writing to `stub` with `concurrency` writes in flight: the write-queue cases. */
const queueReconciler = (
  stub: { kubeConfig(): ConstructorParameters<typeof KubeClient>[0] },
  members: MembersStandIn,
  concurrency: number,
): ReadinessGatesReconciler =>
  new ReadinessGatesReconciler({
    client: new KubeClient(stub.kubeConfig()),
    members,
    pendingPollMs: 25,
    log,
    metrics: new AgentMetrics(),
    random: () => 0,
    concurrency,
  });

const gate = (p: Pod) => p.status?.conditions?.find((c) => c.type === READINESS_GATE);

describe('ReadinessGatesReconciler', () => {
  it('writes nothing without this run of the members reconciler', async () => {
    const now = Date.parse('2026-11-23T10:00:10Z');
    const { snap, run, stored } = scenario('stale', { registered: true, healthy: true }, now - 1);
    const r = new ReadinessGatesReconciler({
      client,
      members: membersAt(run),
      pendingPollMs: 25,
      log,
      metrics: new AgentMetrics(),
      random: () => 0.5,
    });
    expect(await r.reconcile(snap, now)).toEqual({});
    expect(gate(stored())).toBeUndefined();
  });

  it('registered, not yet healthy: False once, polled soon; healthy: True', async () => {
    const now = Date.parse('2026-11-23T10:00:10Z');
    const { snap, run, stored } = scenario('pending', { registered: true, healthy: false }, now);
    const members = membersAt(run);
    const r = new ReadinessGatesReconciler({ client, members, pendingPollMs: 25, log, metrics: new AgentMetrics(), random: () => 0 });
    const first = await r.reconcile(snap, now);
    await r.idle();
    expect(gate(stored())).toMatchObject({ status: 'False', reason: 'RegistrationInProgress', lastTransitionTime: '2026-11-23T10:00:10.000Z' });
    expect(r.lastWritten.map((d) => d.status)).toEqual(['False']);
    // A member this agent did not add (no add time): the steady cadence, inter / 4 of the
    // class's 1 s check, jittered early only: 250 ms × 0.8 with random() = 0.
    expect(first.nextWakeAt).toBe(now + 200);
    const rv = stored().metadata.resourceVersion;

    // The cache has not caught up yet: the same decision is not written again.
    members.current = { ...run, at: now + 25 };
    await r.reconcile(snap, now + 25);
    await r.idle();
    expect(stored().metadata.resourceVersion).toBe(rv);

    const healthy = { ...run.outcome, views: new Map([...run.outcome.views].map(([k]) => [k, { registered: true, healthy: true }])) };
    members.current = { at: now + 2_000, plan: run.plan, outcome: healthy };
    const done = await r.reconcile(snap, now + 2_000);
    await r.idle();
    expect(gate(stored())).toMatchObject({ status: 'True', reason: 'LoadBalancerHealthy', lastTransitionTime: '2026-11-23T10:00:12.000Z' });
    // No more polling for it: only the planner's fail-safe deadline remains until the cache shows True.
    expect(done.nextWakeAt).toBe(Date.parse('2026-11-23T10:10:00Z'));
  });

  it('while the API server sheds load, gate writes wait out its Retry-After, and those held back are neither warned about nor counted again', async () => {
    const seen: string[] = [];
    const stub = await startHttpStub((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      tooManyRequests(res, '7');
    });
    try {
      const now = Date.parse('2026-11-23T10:00:10Z');
      const { snap, run } = scenario('throttled', { registered: true, healthy: true }, now);
      const members = membersAt(run);
      const metrics = new AgentMetrics();
      const lines: { level: number; msg: string }[] = [];
      const logged = pino({ level: 'debug' }, { write: (l: string) => lines.push(JSON.parse(l) as { level: number; msg: string }) });
      const r = new ReadinessGatesReconciler({ client: new KubeClient(stub.kubeConfig()), members, pendingPollMs: 25, log: logged, metrics, random: () => 0 });
      const errors = async (): Promise<number> => (await metrics.reconcileErrors.get()).values.find((v) => v.labels.component === 'gates')?.value ?? 0;
      const warnings = () => lines.filter((l) => l.level >= 40).map((l) => l.msg);

      // The write runs beside the loop: its 429 reaches the run after it.
      await r.reconcile(snap, now);
      await r.idle();
      expect(seen).toEqual([`PATCH /api/v1/namespaces/ads/pods/throttled/status`]);
      expect([await errors(), warnings()]).toEqual([1, ['could not patch readiness gate']]);
      // The line carries the Error itself (type, code, the server's status), and the metric its code.
      const warned = lines.find((l) => l.msg === 'could not patch readiness gate') as unknown as { pod: string; err: Record<string, unknown> };
      expect(warned.pod).toBe('ads/throttled');
      expect(warned.err).toMatchObject({ type: 'KubeApiError', code: 'KUBE_TOOMANYREQUESTS', status: 429, message: expect.any(String) });
      expect(warned.err.stack).toMatch(/^KubeApiError: /);
      expect(await metrics.registry.getSingleMetricAsString('podlb_reconcile_errors_total')).toContain(
        'podlb_reconcile_errors_total{component="gates",code="KUBE_TOOMANYREQUESTS"} 1',
      );

      // Woken again a second later (any informer event): nothing sent, nothing new reported.
      members.current = { ...run, at: now + 1000 };
      expect((await r.reconcile(snap, now + 1000)).nextWakeAt).toBe(now + 7000);
      await r.idle();
      expect(seen).toHaveLength(1);
      expect([await errors(), warnings()]).toEqual([1, ['could not patch readiness gate']]);

      members.current = { ...run, at: now + 7000 };
      await r.reconcile(snap, now + 7000);
      await r.idle();
      expect(seen).toHaveLength(2);
    } finally {
      await stub.close();
    }
  });
});

describe('ReadinessGatesReconciler: a burst of gate writes', () => {
  /** `count` gated Pods on this node behind one Service, each registered, healthy or not per `healthy`. */
  function burst(count: number, healthy: boolean, at: number): { snap: AgentSnapshot; run: MembersRun } {
    const names = Array.from({ length: count }, (_, i) => `b${i}`);
    const pods = names.map((n, i) => {
      const p = pod(n, { containersReady: true, ip: `10.244.1.${10 + i}` });
      return { ...p, metadata: { ...p.metadata, uid: `uid-${n}` } };
    });
    const slices = [slice(names.map((n, i) => ({ pod: n, ip: `10.244.1.${10 + i}`, ready: false })))];
    const snap = agentSnapshot({ nodeName: NODE, pods, services: [service()], slices, classes: [lbClass()] });
    const plan = planMembers({ nodeName: NODE, pods, services: snap.services, endpointSlices: slices, classes: snap.classes });
    expect(plan.members).toHaveLength(count);
    const views = new Map(plan.members.map((m) => [memberKey(m.backend, m.name), { registered: true, healthy }]));
    const outcome = {
      views,
      details: new Map(),
      instances: [],
      counts: { registered: count, healthy: 0, draining: 0, warming: 0 },
      events: [],
      added: [],
    } as MemberOutcome;
    return { snap, run: { at, plan, outcome } };
  }

  it('bounded in flight; one slow write holds neither the loop nor the others; a True decided meanwhile replaces the unsent False', async () => {
    let releaseSlow: () => void = () => undefined;
    const slowHeld = new Promise<void>((r) => (releaseSlow = r));
    // The first write to b0 stalls until released; every other answers after 20 ms.
    const { stub, sent, maxInFlight } = await recordingStub((pod, status, reply) => {
      if (pod === 'b0' && status === 'False') void slowHeld.then(reply);
      else setTimeout(reply, 20);
    });
    try {
      const now = Date.parse('2026-11-23T10:00:10Z');
      const pending = burst(40, false, now);
      const members = membersAt(pending.run);
      const r = queueReconciler(stub, members, 4);
      // The run returns at once: the writes go on beside the loop, b0's held by the server.
      await r.reconcile(pending.snap, now);
      await new Promise((res) => setTimeout(res, 60));
      // The members turn healthy while most False writes still wait: True for all, those first.
      const healthy = burst(40, true, now + 1000);
      members.current = healthy.run;
      await r.reconcile(healthy.snap, now + 1000);
      await vi.waitFor(() => expect(sent.filter((s) => s.status === 'True').map((s) => s.pod)).toHaveLength(39), { timeout: 10_000 });
      // b0's True waits for the answer to its False, which the server still holds.
      expect(sent.filter((s) => s.pod === 'b0').map((s) => s.status)).toEqual(['False']);
      releaseSlow();
      await r.idle();
      members.current = { ...healthy.run, at: now + 2000 };
      await r.reconcile(healthy.snap, now + 2000);
      await r.idle();

      expect(maxInFlight.get('all')).toBeLessThanOrEqual(4);
      const last = new Map(sent.map((s) => [s.pod, s.status]));
      expect([...last.values()].every((s) => s === 'True')).toBe(true);
      expect(last.size).toBe(40);
      // Far fewer than a False and a True for each Pod: most False writes were never sent.
      expect(sent.filter((s) => s.status === 'False').length).toBeLessThan(12);
    } finally {
      releaseSlow();
      await stub.close();
    }
  });

  /** The same run with each member's view chosen by its Pod's name. */
  function withViews(run: MembersRun, view: (pod: string) => MemberView): MembersRun {
    const views = new Map(run.plan.members.map((m) => [memberKey(m.backend, m.name), view(m.pod.name)]));
    return { ...run, outcome: { ...run.outcome, views } };
  }

  /** A pods/status stub that records each write and answers it when `answer` says so; the most in flight by status, and under 'all'. */
  async function recordingStub(answer: (pod: string, status: string, reply: () => void) => void) {
    const sent: { pod: string; status: string }[] = [];
    const inFlight = new Map<string, number>();
    const maxInFlight = new Map<string, number>();
    const stub = await startHttpStub((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const pod = /pods\/([^/]+)\/status/.exec(req.url ?? '')?.[1] ?? '';
        const status = (JSON.parse(body) as { status: { conditions: { status: string }[] } }).status.conditions[0]!.status;
        sent.push({ pod, status });
        for (const k of [status, 'all']) {
          inFlight.set(k, (inFlight.get(k) ?? 0) + 1);
          maxInFlight.set(k, Math.max(maxInFlight.get(k) ?? 0, inFlight.get(k)!));
        }
        answer(pod, status, () => {
          for (const k of [status, 'all']) inFlight.set(k, inFlight.get(k)! - 1);
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        });
      });
    });
    return { stub, sent, maxInFlight };
  }

  it("a True decided earlier is written before Trues decided after it, whatever the Pods' order", async () => {
    const { stub, sent } = await recordingStub((_pod, _status, reply) => void setTimeout(reply, 30));
    try {
      const now = Date.parse('2026-11-23T10:00:10Z');
      const all = burst(10, true, now);
      // First only b8 and b9 are registered and healthy: their True writes are decided now.
      const early = withViews(all.run, (pod) => (pod === 'b8' || pod === 'b9' ? { registered: true, healthy: true } : { registered: false, healthy: false }));
      const members = membersAt(early);
      const r = queueReconciler(stub, members, 1);
      await r.reconcile(all.snap, now);
      await new Promise((res) => setTimeout(res, 5));
      // While b8's write is under way, every other Pod turns healthy: b9 has waited longest.
      members.current = { ...all.run, at: now + 10 };
      await r.reconcile(all.snap, now + 10);
      await r.idle();
      expect(sent.map((x) => x.pod).slice(0, 3)).toEqual(['b8', 'b9', 'b0']);
      expect(sent).toHaveLength(10);
    } finally {
      await stub.close();
    }
  });

  it('False writes hold at most half the slots: a True decided while they stall is sent at once', async () => {
    let releaseFalse: () => void = () => undefined;
    const falseHeld = new Promise<void>((r) => (releaseFalse = r));
    const { stub, sent, maxInFlight } = await recordingStub((_pod, status, reply) => {
      if (status === 'False') void falseHeld.then(reply);
      else setTimeout(reply, 5);
    });
    try {
      const now = Date.parse('2026-11-23T10:00:10Z');
      const all = burst(9, false, now);
      // b0..b7 registered, not healthy yet (False each); b8 not registered yet.
      const pending = withViews(all.run, (pod) => ({ registered: pod !== 'b8', healthy: false }));
      const members = membersAt(pending);
      const r = queueReconciler(stub, members, 4);
      await r.reconcile(all.snap, now);
      await vi.waitFor(() => expect(sent.length).toBeGreaterThanOrEqual(2), { timeout: 5_000 });
      // b8 turns healthy while the server holds every False write.
      members.current = withViews({ ...all.run, at: now + 10 }, (pod) => ({ registered: true, healthy: pod === 'b8' }));
      await r.reconcile(all.snap, now + 10);
      await vi.waitFor(() => expect(sent).toContainEqual({ pod: 'b8', status: 'True' }), { timeout: 5_000 });
      expect(maxInFlight.get('False')).toBe(2);
      releaseFalse();
      await r.idle();
    } finally {
      releaseFalse();
      await stub.close();
    }
  });
});
