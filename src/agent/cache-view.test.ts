// The agent's caches keep only what the planners read (cache-view.ts). Here the planners run
// over transformed objects wrapped so that reading a field the transform dropped throws, and
// must plan exactly what they plan over the full objects. A transform that drops one field too
// many fails this test (the last case proves the check can fail).
import { describe, expect, it } from 'vitest';
import type { EndpointSlice, Service } from '../api/types.js';
import { podIPsForNode } from '../bgp/pod-ips.js';
import type { WireObject } from '../kube/wire.js';
import { isOptedIn } from '../members/binding.js';
import { planMembers } from '../members/plan.js';
import { asServed, guarded } from '../../testkit/cache-guard.js';
import { NODE, lbClass, pod, service, slice, type Ep } from '../../testkit/member-fixtures.js';
import { serviceRelevant, serviceTransform, sliceRelevant, sliceTransform } from './cache-view.js';

function servedService(svc: Service): Service {
  const s = asServed(svc, { status: { loadBalancer: {} } });
  return { ...s, spec: { ...s.spec, clusterIP: '10.96.0.10', type: 'ClusterIP', sessionAffinity: 'None', ipFamilies: ['IPv4'] } as Service['spec'] };
}

function servedSlice(sl: EndpointSlice): EndpointSlice {
  const s = asServed(sl, {});
  return {
    ...s,
    endpoints: s.endpoints.map((ep) => ({ ...ep, zone: 'z1', hints: { forZones: [{ name: 'z1' }] }, conditions: { serving: true, ...ep.conditions } })),
  };
}

const eps = (list: Ep[]): Ep[] => [
  ...list,
  { pod: 'far1', ip: '10.244.9.1', node: 'node-z', ready: true },
  { pod: 'far2', ip: '10.244.9.2', node: 'node-z', ready: false },
];

/** Worlds the members and Pod-IP planners distinguish: ready, gated, terminating, foreign addresses, not opted in, bad annotations. */
const worlds = [
  { pods: [pod('p1')], services: [service()], slices: [slice(eps([{ pod: 'p1', ip: '10.244.1.10', ready: true }]))] },
  {
    pods: [pod('p1', { containersReady: true, gateStatus: 'False' })],
    services: [service()],
    slices: [slice(eps([{ pod: 'p1', ip: '10.244.1.10', ready: false }]))],
  },
  {
    pods: [pod('p1', { deleting: true })],
    services: [service({ 'podlb.io/drain-seconds': '30' })],
    slices: [slice(eps([{ pod: 'p1', ip: '10.244.1.10', terminating: true }]))],
  },
  { pods: [pod('p1', { containersReady: false })], services: [service()], slices: [slice(eps([{ pod: 'p1', ip: '10.244.1.99', ready: false }]))] },
  {
    pods: [pod('p1')],
    services: [service({ 'podlb.io/load-balancer': '' }), service({}, { name: 'other' })],
    slices: [slice(eps([{ pod: 'p1', ip: '10.244.1.10' }]), { service: 'other' })],
  },
  { pods: [pod('p1')], services: [service({ 'podlb.io/ports': 'nope' })], slices: [slice(eps([{ pod: 'p1', ip: '10.244.1.10' }]))] },
  {
    pods: [pod('p1')],
    services: [service({}, { ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'UDP' }] })],
    slices: [slice(eps([{ pod: 'p1', ip: '10.244.1.10' }]))],
  },
];

function planAll(w: (typeof worlds)[number], slices: readonly EndpointSlice[], services: readonly Service[]): unknown {
  const plan = planMembers({ nodeName: NODE, pods: w.pods, services, endpointSlices: slices, classes: [lbClass()] });
  return { members: plan.members, problems: plan.problems, bindings: plan.bindings, podIPs: podIPsForNode({ nodeName: NODE, pods: w.pods, services }) };
}

function check(transformSlice: (raw: WireObject) => EndpointSlice, transformService: (raw: WireObject) => Service): void {
  for (const w of worlds) {
    const slices = w.slices.map(servedSlice);
    const services = w.services.map(servedService);
    const want = planAll(w, slices, services);
    const guardedSlices = slices.map((s) => guarded(transformSlice(s as unknown as WireObject), s));
    // The agent's snapshot holds the opted-in Services only (the class index).
    const guardedServices = services.map((s) => guarded(transformService(s as unknown as WireObject), s)).filter(isOptedIn);
    expect(planAll(w, guardedSlices, guardedServices)).toEqual(want);
  }
}

describe('cache transforms', () => {
  it('the planners plan the same from transformed objects, and read no field the transform dropped', () => {
    check(sliceTransform(NODE), serviceTransform);
  });

  it('keep only the endpoints on this node', () => {
    const s = sliceTransform(NODE)(servedSlice(slice(eps([{ pod: 'p1', ip: '10.244.1.10' }]))) as unknown as WireObject);
    expect(s.endpoints.map((e) => e.addresses[0])).toEqual(['10.244.1.10']);
    expect(s.metadata).toEqual({ name: 'bidder-abc', namespace: 'ads', resourceVersion: '42', labels: { 'kubernetes.io/service-name': 'bidder' } });
  });

  it('the check fails when a transform drops a field a planner reads', () => {
    const dropsConditions = (raw: WireObject): EndpointSlice => {
      const s = sliceTransform(NODE)(raw);
      return { ...s, endpoints: s.endpoints.map(({ conditions: _c, ...ep }) => ep) };
    };
    expect(() => check(dropsConditions, serviceTransform)).toThrow(/endpoints\[\]\.conditions/);
    const dropsSelector = (raw: WireObject): Service => {
      const s = serviceTransform(raw);
      return { ...s, spec: { ...s.spec, selector: undefined as never } };
    };
    expect(() => check(sliceTransform(NODE), dropsSelector)).toThrow();
  });
});

describe('relevance', () => {
  const t = sliceTransform(NODE);
  const far = (rv: string, ip = '10.244.9.1'): EndpointSlice =>
    t({ ...slice([{ pod: 'far', ip, node: 'node-z' }]), metadata: { ...slice([]).metadata, resourceVersion: rv } } as unknown as WireObject);
  const near = (rv: string, ready: boolean): EndpointSlice =>
    t({ ...slice([{ pod: 'p1', ip: '10.244.1.10', ready }]), metadata: { ...slice([]).metadata, resourceVersion: rv } } as unknown as WireObject);

  it('a slice with no endpoint on this node before or after is not relevant', () => {
    expect(sliceRelevant(far('1'), far('2', '10.244.9.7'))).toBe(false);
    expect(sliceRelevant(undefined, far('1'))).toBe(false);
    expect(sliceRelevant(far('1'), undefined)).toBe(false);
  });

  it('a slice whose endpoints on this node appear, change or go is relevant; a change elsewhere in it is not', () => {
    expect(sliceRelevant(far('1'), near('2', true))).toBe(true);
    expect(sliceRelevant(near('1', true), near('2', false))).toBe(true);
    expect(sliceRelevant(near('1', true), far('2'))).toBe(true);
    expect(sliceRelevant(near('1', true), undefined)).toBe(true);
    expect(sliceRelevant(near('1', true), near('2', true))).toBe(false);
  });

  it('a Service matters while it is opted in, before or after', () => {
    const svc = (ann: Record<string, string>, rv: string): Service =>
      serviceTransform({ ...service(ann), metadata: { ...service(ann).metadata, resourceVersion: rv } } as unknown as WireObject);
    const off = { 'podlb.io/load-balancer': '' };
    expect(serviceRelevant(svc(off, '1'), svc(off, '2'))).toBe(false);
    expect(serviceRelevant(undefined, svc(off, '1'))).toBe(false);
    expect(serviceRelevant(svc(off, '1'), svc({}, '2'))).toBe(true);
    expect(serviceRelevant(svc({}, '1'), svc(off, '2'))).toBe(true);
    expect(serviceRelevant(svc({}, '1'), svc({ 'podlb.io/drain-seconds': '5' }, '2'))).toBe(true);
    expect(serviceRelevant(svc({}, '1'), svc({}, '2'))).toBe(false);
  });
});
