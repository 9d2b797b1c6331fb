// The controller's Pod and EndpointSlice caches keep only what the leader's planner reads
// (cache-view.ts). Here planClusterMembers runs over transformed objects wrapped so that reading
// a field the transform dropped throws, and must plan exactly what it plans over the full
// objects. A transform that drops one field too many fails this test (the last cases prove the
// check can fail).
import { describe, expect, it } from 'vitest';
import type { EndpointSlice, Pod } from '../api/types.js';
import type { WireObject } from '../kube/wire.js';
import { asServed, guarded } from '../../testkit/cache-guard.js';
import { lbClass, pod, service, slice, type Ep } from '../../testkit/member-fixtures.js';
import { clusterSliceTransform, podTransform, viewChanged } from './cache-view.js';
import { planClusterMembers } from './octavia-batch-plan.js';

function servedPod(p: Pod): Pod {
  const s = asServed(p, {});
  return {
    ...s,
    spec: { ...s.spec, containers: [{ name: 'c', image: 'bidder:1', resources: {} }], dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler' },
    status: {
      ...s.status,
      phase: 'Running',
      hostIP: '192.168.1.10',
      podIPs: [{ ip: s.status?.podIP ?? '' }],
      qosClass: 'BestEffort',
      containerStatuses: [{ name: 'c', ready: true, restartCount: 0 }],
      conditions: (s.status?.conditions ?? []).map((c) => ({ ...c, lastProbeTime: null, message: 'm' })),
    },
  };
}

function servedSlice(sl: EndpointSlice): EndpointSlice {
  const s = asServed(sl, {});
  return {
    ...s,
    endpoints: s.endpoints.map((ep) => ({ ...ep, zone: 'z1', hints: { forZones: [{ name: 'z1' }] }, conditions: { serving: true, ...ep.conditions } })),
  };
}

const onB = (e: Omit<Ep, 'node'>): Ep => ({ ...e, node: 'node-b' });

/** Worlds the planner distinguishes, over two nodes: ready, gated, terminating, foreign addresses, a second gate, not opted in. */
const worlds = [
  {
    pods: [pod('p1'), pod('p2', { node: 'node-b', ip: '10.244.2.10' })],
    services: [service()],
    slices: [slice([{ pod: 'p1', ip: '10.244.1.10', ready: true }, onB({ pod: 'p2', ip: '10.244.2.10', ready: true })])],
  },
  {
    pods: [
      pod('p1', { containersReady: true, gateStatus: 'False' }),
      pod('p2', { node: 'node-b', ip: '10.244.2.10', containersReady: true, gateStatus: 'True' }),
    ],
    services: [service()],
    slices: [slice([{ pod: 'p1', ip: '10.244.1.10', ready: false }, onB({ pod: 'p2', ip: '10.244.2.10', ready: false })])],
  },
  {
    pods: [pod('p1', { deleting: true }), pod('p2', { node: 'node-b', ip: '10.244.2.10', containersReady: true, gateStatus: 'False', otherGate: 'False' })],
    services: [service({ 'podlb.io/drain-seconds': '30' })],
    slices: [slice([{ pod: 'p1', ip: '10.244.1.10', terminating: true }, onB({ pod: 'p2', ip: '10.244.2.10', ready: false })])],
  },
  {
    pods: [pod('p1', { containersReady: false }), pod('p2', { node: 'node-b', ip: '10.244.2.10' })],
    services: [service()],
    slices: [slice([{ pod: 'p1', ip: '10.244.1.99', ready: false }, onB({ pod: 'p2', ip: '10.244.2.10' })])],
  },
  {
    pods: [pod('p1')],
    services: [service({ 'podlb.io/load-balancer': '' }), service({}, { name: 'other' })],
    slices: [slice([{ pod: 'p1', ip: '10.244.1.10' }], { service: 'other' })],
  },
];

function check(transformPod: (raw: WireObject) => Pod, transformSlice: (raw: WireObject) => EndpointSlice): void {
  for (const w of worlds) {
    const pods = w.pods.map(servedPod);
    const slices = w.slices.map(servedSlice);
    const plan = (ps: readonly Pod[], ss: readonly EndpointSlice[]) =>
      planClusterMembers({ pods: ps, services: w.services, endpointSlices: ss, classes: [lbClass()] });
    const want = plan(pods, slices);
    expect([...want.members.values()].flat().length).toBeGreaterThan(0);
    const got = plan(
      pods.map((p) => guarded(transformPod(p as unknown as WireObject), p)),
      slices.map((s) => guarded(transformSlice(s as unknown as WireObject), s)),
    );
    expect(got).toEqual(want);
  }
}

describe('controller cache transforms', () => {
  it('the leader plans every node the same from transformed Pods and slices, and reads no field the transforms dropped', () => {
    check(podTransform, clusterSliceTransform);
  });

  it('keep every node’s endpoints, and of a Pod what the planner reads', () => {
    const s = clusterSliceTransform(servedSlice(worlds[0]!.slices[0]!) as unknown as WireObject);
    expect(s.endpoints.map((e) => e.nodeName)).toEqual(['node-a', 'node-b']);
    const p = podTransform(servedPod(pod('p1', { containersReady: true })) as unknown as WireObject);
    expect(p).toEqual({
      metadata: { name: 'p1', namespace: 'ads', uid: 'uid-p1', resourceVersion: '42' },
      spec: { nodeName: 'node-a', readinessGates: [{ conditionType: 'podlb.io/load-balancer-ready' }] },
      status: { podIP: '10.244.1.10', podIPs: [{ ip: '10.244.1.10' }], conditions: [{ type: 'ContainersReady', status: 'True' }] },
    });
  });

  it('the check fails when a transform drops a field the planner reads', () => {
    const dropsConditions = (raw: WireObject): Pod => {
      const p = podTransform(raw);
      const { conditions: _c, ...status } = p.status ?? {};
      return { ...p, status };
    };
    expect(() => check(dropsConditions, clusterSliceTransform)).toThrow(/status\.conditions/);
    const dropsGates = (raw: WireObject): Pod => {
      const { readinessGates: _g, ...spec } = podTransform(raw).spec;
      return { ...podTransform(raw), spec: spec as Pod['spec'] };
    };
    expect(() => check(dropsGates, clusterSliceTransform)).toThrow(/spec\.readinessGates/);
  });

  it('a change the planner cannot see (a condition’s probe time, a label) is not worth a pass', () => {
    const at = (rv: string, extra: Partial<Pod['status']> = {}, labels: Record<string, string> = {}) => {
      const p = servedPod(pod('p1', { containersReady: true }));
      return podTransform({ ...p, metadata: { ...p.metadata, resourceVersion: rv, labels }, status: { ...p.status, ...extra } } as unknown as WireObject);
    };
    expect(viewChanged(at('1'), at('2', { phase: 'Running', qosClass: 'Burstable' }, { team: 'x' }))).toBe(false);
    expect(viewChanged(at('1'), at('2', { podIP: '10.244.1.11', podIPs: [{ ip: '10.244.1.11' }] }))).toBe(true);
    expect(viewChanged(undefined, at('1'))).toBe(true);
    expect(viewChanged(at('1'), undefined)).toBe(true);
  });
});
