// Pre-registration through the agent's two reconcilers, members then gates, run by run as the
// loop runs them: a member is added taking no traffic as soon as its Pod has an IP, and is
// switched to traffic only after the gate True write succeeded. The load balancer is an
// in-memory instance that records each call in one timeline with the gate writes.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Pod } from '../api/types.js';
import type { LbInstance, MemberListing, ObservedMember } from '../lb/provider.js';
import { defaultInstanceRefs } from '../members/instance-state.js';
import { lbClass, NODE, pod, service, slice } from '../../testkit/member-fixtures.js';
import { LbMembersReconciler } from './lb-members.js';
import { AgentMetrics } from './metrics.js';
import { ReadinessGatesReconciler } from './readiness-gates.js';
import type { AgentSnapshot } from './snapshot.js';
import { agentSnapshot } from '../../testkit/agent-snapshot.js';

const log = pino({ level: 'silent' });
const IP = '10.244.1.10';

function memoryLb(timeline: string[]) {
  const servers = new Map<string, ObservedMember>();
  const set = (backend: string, name: string, change: Partial<ObservedMember>): void => {
    const s = servers.get(`${backend}/${name}`);
    if (s) servers.set(`${backend}/${name}`, { ...s, ...change });
  };
  const inst: LbInstance = {
    id: 'unix:///run/haproxy.sock',
    listMembers: async (backends, prefix): Promise<MemberListing> => ({
      members: [...servers.values()].filter((s) => backends.includes(s.backend) && s.name.startsWith(prefix)),
      missingBackends: [],
    }),
    addMember: async (m) => {
      timeline.push(`lb add${m.warm ? ' warm' : ''}`);
      servers.set(`${m.backend}/${m.name}`, { ...m, admin: m.warm ? 'drain' : 'ready', health: 'pending', detail: '' });
    },
    drainMember: async (b, n) => {
      timeline.push('lb drain');
      set(b, n, { admin: 'drain' });
    },
    enableMember: async (b, n) => {
      timeline.push('lb enable');
      set(b, n, { admin: 'ready' });
    },
    removeMember: async (b, n) => {
      timeline.push('lb remove');
      servers.delete(`${b}/${n}`);
    },
    close: async () => undefined,
  };
  const only = (): ObservedMember | undefined => [...servers.values()][0];
  const setHealth = (health: ObservedMember['health']): void => {
    for (const [k, s] of servers) servers.set(k, { ...s, health });
  };
  return { inst, only, setHealth };
}

/** Gate writes that wait until the test settles them, each logged in the timeline. */
function heldClient(timeline: string[]) {
  const pending: { status: string; settle: (ok: boolean) => void }[] = [];
  return {
    pending,
    client: {
      patch: (_path: string, body: unknown): Promise<never> => {
        const status = (body as { status: { conditions: { status: string }[] } }).status.conditions[0]!.status;
        timeline.push(`gate ${status} sent`);
        return new Promise((resolve, reject) =>
          pending.push({
            status,
            settle: (ok) => {
              timeline.push(`gate ${status} ${ok ? 'written' : 'failed'}`);
              if (ok) resolve(undefined as never);
              else reject(new Error('connection reset'));
            },
          }),
        );
      },
    },
  };
}

function setup() {
  const timeline: string[] = [];
  const lb = memoryLb(timeline);
  const held = heldClient(timeline);
  const metrics = new AgentMetrics();
  let wakes = 0;
  const members: LbMembersReconciler = new LbMembersReconciler({
    nodeName: NODE,
    factory: { instancesOf: defaultInstanceRefs },
    makeInstance: () => lb.inst,
    log,
    metrics,
    random: () => 0.5,
    gateOpened: (uid) => gates.gateOpened(uid),
  });
  const gates = new ReadinessGatesReconciler({ client: held.client, members, pendingPollMs: 25, log, metrics, random: () => 0.5, wake: () => wakes++ });
  let now = Date.parse('2026-11-23T10:00:10Z');
  const run = async (p: Pod, cls = lbClass()): Promise<AgentSnapshot> => {
    now += 100;
    const snap = agentSnapshot({
      nodeName: NODE,
      pods: [p],
      services: [service()],
      slices: [slice([{ pod: 'p1', ip: IP, ready: false }])],
      classes: [cls],
      observedAt: performance.now(),
    });
    await members.reconcile(snap, now);
    await gates.reconcile(snap, now);
    return snap;
  };
  return { timeline, lb, held, gates, members, metrics, run, wakes: () => wakes };
}

describe('pre-registration (agent reconcilers, run by run)', () => {
  it('added warm while starting; traffic only after the gate True write succeeded; a container restart takes it out again', async () => {
    const t = setup();
    // Scheduled, has an IP, containers starting: registered taking no traffic, gate False.
    await t.run(pod('p1', { ip: IP }));
    expect(t.lb.only()).toMatchObject({ address: IP, admin: 'drain' });
    expect(t.members.current?.plan.members[0]?.state).toBe('warming');
    expect(t.held.pending.map((p) => p.status)).toEqual(['False']);
    t.held.pending.shift()!.settle(true);
    await t.gates.idle();

    // The load balancer finds it healthy before the kubelet's probe passes: the gate still waits.
    t.lb.setHealth('healthy');
    await t.run(pod('p1', { ip: IP, containersReady: false, gateStatus: 'False' }));
    expect(t.held.pending).toEqual([]);
    expect(t.members.current?.outcome.counts).toMatchObject({ registered: 0, warming: 1 });

    // The app takes its time to start: none of it counts as the load balancer's gate latency.
    const START_MS = 400;
    await new Promise((r) => setTimeout(r, START_MS));
    // ContainersReady: the gate True is sent in that same run, and while it is in flight the
    // member stays out of traffic, however often the loop runs.
    const ready = pod('p1', { ip: IP, containersReady: true, gateStatus: 'False' });
    await t.run(ready);
    expect(t.held.pending.map((p) => p.status)).toEqual(['True']);
    await t.run(ready);
    expect(t.lb.only()?.admin).toBe('drain');

    const wakesBefore = t.wakes();
    t.held.pending.shift()!.settle(true);
    await t.gates.idle();
    expect(t.wakes()).toBeGreaterThan(wakesBefore); // the loop runs at once, not at the Pod watch
    await t.run(ready); // the Pod cache has not caught up: the agent's own write is enough
    expect(t.lb.only()?.admin).toBe('ready');
    expect(t.timeline.slice(t.timeline.indexOf('gate True sent'))).toEqual(['gate True sent', 'gate True written', 'lb enable']);
    const gate = await t.metrics.readinessSeconds.get();
    expect(gate.values.find((v) => v.metricName === 'podlb_readiness_gate_seconds_count')?.value).toBe(1);
    expect(gate.values.find((v) => v.metricName === 'podlb_readiness_gate_seconds_sum')?.value).toBeLessThan(START_MS / 1000);

    // The containers restart: ContainersReady False, the gate stays latched True; no traffic.
    await t.run(pod('p1', { ip: IP, containersReady: false, gateStatus: 'True', gateReason: 'LoadBalancerHealthy' }));
    expect(t.lb.only()?.admin).toBe('drain');
    expect(t.members.current?.plan.members[0]?.state).toBe('warming');
    expect(t.held.pending).toEqual([]);
    // Ready again: the gate is True already, so it takes traffic at once.
    await t.run(pod('p1', { ip: IP, containersReady: true, gateStatus: 'True', gateReason: 'LoadBalancerHealthy' }));
    expect(t.lb.only()?.admin).toBe('ready');
    expect(t.timeline.filter((e) => e.startsWith('lb'))).toEqual(['lb add warm', 'lb enable', 'lb drain', 'lb enable']);
    // Registered before its containers were ready: one registration, of no latency.
    const registration = await t.metrics.registrationSeconds.get();
    expect(registration.values.find((v) => v.metricName === 'podlb_member_registration_seconds_count')?.value).toBe(1);
    expect(registration.values.find((v) => v.metricName === 'podlb_member_registration_seconds_sum')?.value).toBe(0);
  });

  it('a failed gate True write lets no traffic in; the retry that succeeds does', async () => {
    const t = setup();
    const ready = pod('p1', { ip: IP, containersReady: true, gateStatus: 'False' });
    await t.run(ready);
    t.lb.setHealth('healthy');
    await t.run(ready);
    expect(t.held.pending.map((p) => p.status)).toEqual(['True']);
    t.held.pending.shift()!.settle(false);
    await t.gates.idle();
    await t.run(ready);
    expect(t.lb.only()?.admin).toBe('drain');
    expect(t.timeline).not.toContain('lb enable');
  });

  it('a Pod that never gets ready is never enabled and is removed when it goes', async () => {
    const t = setup();
    await t.run(pod('p1', { ip: IP, containersReady: false }));
    t.lb.setHealth('healthy');
    await t.run(pod('p1', { ip: IP, containersReady: false }));
    const gone = await t.run(pod('other', { ip: '10.244.1.99' }));
    expect(gone.pods.map((p) => p.metadata.name)).toEqual(['other']);
    expect(t.lb.only()).toBeUndefined();
    expect(t.timeline.filter((e) => e.startsWith('lb'))).toEqual(['lb add warm', 'lb remove']);
  });

  it('preRegister false: nothing is registered before ContainersReady (today’s rules)', async () => {
    const t = setup();
    const off = lbClass({ readiness: { preRegister: false } });
    await t.run(pod('p1', { ip: IP, containersReady: false }), off);
    expect(t.lb.only()).toBeUndefined();
    await t.run(pod('p1', { ip: IP, containersReady: true }), off);
    expect(t.lb.only()).toMatchObject({ admin: 'ready' });
    expect(t.timeline.filter((e) => e.startsWith('lb'))).toEqual(['lb add']);
  });
});
