import { describe, expect, it } from 'vitest';
import { planGates, type MemberView } from './gates.js';
import { memberKey, planMembers } from './plan.js';
import { NODE, lbClass, pod, service, slice } from '../../testkit/member-fixtures.js';
import type { LoadBalancerClass, Pod } from '../api/types.js';

const T0 = Date.parse('2026-11-23T10:00:00Z');
const KEY = memberKey('ads.bidder.http', `podlb_${NODE}_10.244.1.10_8080`);

function run(
  p: Pod,
  view: MemberView | undefined,
  opts: { now?: number; cls?: LoadBalancerClass | null; svcAnn?: Record<string, string>; noService?: boolean; preRegister?: boolean } = {},
) {
  const cls = opts.cls ?? lbClass();
  if (opts.preRegister !== undefined) cls.spec.readiness = { ...cls.spec.readiness, preRegister: opts.preRegister };
  const plan = planMembers({
    nodeName: NODE,
    pods: [p],
    services: opts.noService ? [] : [service(opts.svcAnn)],
    endpointSlices: [slice([{ pod: p.metadata.name!, ip: '10.244.1.10', ready: false }])],
    classes: opts.cls === null ? [] : [cls],
  });
  return planGates([p], plan, new Map(view ? [[KEY, view]] : []), opts.now ?? T0 + 1000);
}

type Decision = [string, string] | 'none';

/** The Pod with condition `type` having turned at `at`. */
function withTransition(p: Pod, type: string, at: number): Pod {
  const c = p.status?.conditions?.find((x) => x.type === type);
  if (c) c.lastTransitionTime = new Date(at).toISOString().replace(/\.\d+Z$/, 'Z');
  return p;
}

describe('planGates: readiness gate transitions (design §4.3)', () => {
  // want: with spec.readiness.preRegister false; pre: with it on (the default), when it differs.
  it.each<{ name: string; p: Pod; view?: MemberView; opts?: Parameters<typeof run>[2]; want: Decision; pre?: Decision }>([
    { name: 'not registered yet: nothing to say', p: pod('p1', { containersReady: true }), want: 'none' },
    {
      name: 'registered, check pending → False/RegistrationInProgress',
      p: pod('p1', { containersReady: true }),
      view: { registered: true, healthy: false },
      want: ['False', 'RegistrationInProgress'],
    },
    {
      name: 'already False/RegistrationInProgress: no-op write skipped',
      p: pod('p1', { containersReady: true, gateStatus: 'False' }),
      view: { registered: true, healthy: false },
      want: 'none',
    },
    {
      name: 'passing check on every instance → True/LoadBalancerHealthy',
      p: pod('p1', { containersReady: true, gateStatus: 'False' }),
      view: { registered: true, healthy: true },
      want: ['True', 'LoadBalancerHealthy'],
    },
    {
      name: 'latched: True stays even when unhealthy',
      p: pod('p1', { containersReady: true, gateStatus: 'True', gateReason: 'LoadBalancerHealthy' }),
      view: { registered: true, healthy: false },
      want: 'none',
    },
    {
      name: 'LB reports no health check, Immediate → True/LoadBalancerRegistered',
      p: pod('p1', { containersReady: true }),
      view: { registered: true, healthy: false, unchecked: true },
      opts: { cls: lbClass({ haproxy: { instances: ['unix:///x'] } }) },
      want: ['True', 'LoadBalancerRegistered'],
    },
    {
      name: 'LB reports no health check, Never → stays False',
      p: pod('p1', { containersReady: true }),
      view: { registered: true, healthy: false, unchecked: true },
      opts: { cls: lbClass({ haproxy: { instances: ['unix:///x'] }, readiness: { withoutHealthCheck: 'Never' } }) },
      want: ['False', 'RegistrationInProgress'],
    },
    {
      name: 'class names no check but the LB checks (Octavia pool monitor) → waits for healthy',
      p: pod('p1', { containersReady: true }),
      view: { registered: true, healthy: false, unchecked: false },
      opts: { cls: lbClass({ haproxy: { instances: ['unix:///x'] } }) },
      want: ['False', 'RegistrationInProgress'],
    },
    {
      name: 'class names no check, the LB checks and passes → True/LoadBalancerHealthy',
      p: pod('p1', { containersReady: true, gateStatus: 'False' }),
      view: { registered: true, healthy: true, unchecked: false },
      opts: { cls: lbClass({ haproxy: { instances: ['unix:///x'] } }) },
      want: ['True', 'LoadBalancerHealthy'],
    },
    {
      name: 'fail-safe timeout → True/ReadinessTimeout',
      p: pod('p1', { containersReady: true, gateStatus: 'False' }),
      view: { registered: true, healthy: false },
      opts: { now: T0 + 601_000 },
      want: ['True', 'ReadinessTimeout'],
    },
    {
      name: 'timeout 0 disables the fail-safe',
      p: pod('p1', { containersReady: true, gateStatus: 'False' }),
      view: { registered: true, healthy: false },
      opts: { now: T0 + 10_000_000, cls: lbClass({ readiness: { timeoutSeconds: 0 } }) },
      want: 'none',
    },
    {
      name: 'class deleted → True/LoadBalancerBindingRemoved',
      p: pod('p1', { containersReady: true, gateStatus: 'False' }),
      opts: { cls: null },
      want: ['True', 'LoadBalancerBindingRemoved'],
    },
    {
      name: 'no opted-in Service selects the Pod → released',
      p: pod('p1', { containersReady: true, gateStatus: 'False' }),
      opts: { noService: true },
      want: ['True', 'LoadBalancerBindingRemoved'],
    },
    {
      name: 'malformed annotation keeps the last good state',
      p: pod('p1', { containersReady: true, gateStatus: 'False' }),
      opts: { svcAnn: { 'podlb.io/ports': 'nope' } },
      want: 'none',
    },
    {
      name: 'terminating Pods are left alone',
      p: pod('p1', { containersReady: true, deleting: true }),
      view: { registered: true, healthy: true },
      want: 'none',
    },
    {
      name: 'containers no longer ready: a registered, healthy member does not turn the gate True',
      p: pod('p1', { containersReady: false, gateStatus: 'False' }),
      view: { registered: true, healthy: true },
      want: 'none',
    },
    {
      name: 'another gate False: a registered, healthy member does not turn the gate True',
      p: pod('p1', { containersReady: true, otherGate: 'False', gateStatus: 'False' }),
      view: { registered: true, healthy: true },
      want: 'none',
      // The member is warming: our gate says what the load balancer knows; traffic waits for Ready.
      pre: ['True', 'LoadBalancerHealthy'],
    },
    {
      name: 'pre-registered before ContainersReady, healthy → False/RegistrationInProgress until the containers are ready',
      p: pod('p1', { containersReady: false }),
      view: { registered: true, healthy: true },
      want: 'none',
      pre: ['False', 'RegistrationInProgress'],
    },
    {
      name: 'pre-registered, no condition at all yet, check pending → False/RegistrationInProgress',
      p: pod('p1', {}),
      view: { registered: true, healthy: false },
      want: 'none',
      pre: ['False', 'RegistrationInProgress'],
    },
    {
      name: 'pre-registered and healthy when ContainersReady turns True → True/LoadBalancerHealthy at once',
      p: pod('p1', { containersReady: true, gateStatus: 'False' }),
      view: { registered: true, healthy: true },
      want: ['True', 'LoadBalancerHealthy'],
    },
    {
      // The gate went False at pre-registration, long before the containers were ready: the app's
      // start-up is not the load balancer's time to answer for.
      name: 'fail-safe counts from ContainersReady when the gate went False earlier',
      p: withTransition(pod('p1', { containersReady: true, gateStatus: 'False', since: '2026-11-23T09:00:00Z' }), 'ContainersReady', T0),
      view: { registered: true, healthy: false },
      opts: { now: T0 + 60_000 },
      want: 'none',
    },
    {
      name: 'Pods without our gate are left alone',
      p: pod('p1', { containersReady: true, gate: false }),
      view: { registered: true, healthy: true },
      want: 'none',
    },
  ])('$name', ({ p, view, opts, want, pre }) => {
    for (const [preRegister, expected] of [
      [false, want],
      [true, pre ?? want],
    ] as const) {
      const { decisions } = run(p, view, { ...opts, preRegister });
      if (expected === 'none') expect(decisions).toEqual([]);
      else expect(decisions.map((d) => [d.status, d.reason])).toEqual([expected]);
    }
  });

  it('the timeout decision carries a Warning Event, and an earlier run reports its deadline', () => {
    const p = pod('p1', { containersReady: true, gateStatus: 'False' });
    expect(run(p, { registered: true, healthy: false }, { now: T0 + 1000 }).nextDeadline).toBe(T0 + 600_000);
    expect(run(p, { registered: true, healthy: false }, { now: T0 + 600_000 }).decisions[0]!.event).toMatchObject({
      type: 'Warning',
      reason: 'ReadinessTimeout',
    });
  });
});
