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
  opts: { now?: number; cls?: LoadBalancerClass | null; svcAnn?: Record<string, string>; noService?: boolean } = {},
) {
  const plan = planMembers({
    nodeName: NODE,
    pods: [p],
    services: opts.noService ? [] : [service(opts.svcAnn)],
    endpointSlices: [slice([{ pod: p.metadata.name!, ip: '10.244.1.10', ready: false }])],
    classes: opts.cls === null ? [] : [opts.cls ?? lbClass()],
  });
  return planGates([p], plan, new Map(view ? [[KEY, view]] : []), opts.now ?? T0 + 1000);
}

describe('planGates: readiness gate transitions (design §4.3)', () => {
  it.each<{ name: string; p: Pod; view?: MemberView; opts?: Parameters<typeof run>[2]; want: [string, string] | 'none' }>([
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
    },
    {
      name: 'Pods without our gate are left alone',
      p: pod('p1', { containersReady: true, gate: false }),
      view: { registered: true, healthy: true },
      want: 'none',
    },
  ])('$name', ({ p, view, opts, want }) => {
    const { decisions } = run(p, view, opts);
    if (want === 'none') expect(decisions).toEqual([]);
    else expect(decisions.map((d) => [d.status, d.reason])).toEqual([want]);
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
