import { describe, expect, it } from 'vitest';
import { planMembers } from './plan.js';
import { parseServiceBinding, parseLbClass } from './binding.js';
import { NODE, lbClass, pod, service, slice, type Ep } from '../../testkit/member-fixtures.js';

describe('planMembers: which endpoints become members (design §4.1)', () => {
  // want: with spec.readiness.preRegister false (today's rules); pre: with it on (default), when it differs.
  it.each<{ name: string; ep: Ep; p: Parameters<typeof pod>[1] | null; want: Want; pre?: Want }>([
    { name: 'ready endpoint on this node', ep: { pod: 'p1', ip: '10.244.1.10', ready: true }, p: {}, want: 'active' },
    { name: 'ready unset counts as ready', ep: { pod: 'p1', ip: '10.244.1.10' }, p: {}, want: 'active' },
    { name: 'other node', ep: { pod: 'p1', ip: '10.244.2.10', node: 'node-b', ready: true }, p: { node: 'node-b' }, want: 'none' },
    { name: 'pod not on this node (not in the pod cache)', ep: { pod: 'p1', ip: '10.244.1.10', ready: true }, p: null, want: 'none' },
    {
      name: 'held back only by our gate',
      ep: { pod: 'p1', ip: '10.244.1.10', ready: false },
      p: { containersReady: true, gateStatus: 'False' },
      want: 'active',
      pre: 'warming',
    },
    {
      name: 'gate condition not written yet',
      ep: { pod: 'p1', ip: '10.244.1.10', ready: false },
      p: { containersReady: true },
      want: 'active',
      pre: 'warming',
    },
    // Not ready for a reason of the Pod's own, not terminating: kept if registered, never added.
    { name: 'containers not ready', ep: { pod: 'p1', ip: '10.244.1.10', ready: false }, p: { containersReady: false }, want: 'kept', pre: 'warming' },
    {
      name: 'not gated by us, containers not ready',
      ep: { pod: 'p1', ip: '10.244.1.10', ready: false },
      p: { containersReady: false, gate: false },
      want: 'kept',
    },
    {
      name: 'not gated by us, containers ready, slice lagging',
      ep: { pod: 'p1', ip: '10.244.1.10', ready: false },
      p: { containersReady: true, gate: false },
      want: 'active',
    },
    {
      name: 'another readiness gate still False',
      ep: { pod: 'p1', ip: '10.244.1.10', ready: false },
      p: { containersReady: true, otherGate: 'False' },
      want: 'kept',
      pre: 'warming',
    },
    // The kubelet sets Ready 100-300 ms after the gate turns True; the slice lags behind it.
    {
      name: 'gate just turned True, kubelet has not set Ready yet',
      ep: { pod: 'p1', ip: '10.244.1.10', ready: false },
      p: { containersReady: true, gateStatus: 'True', gateReason: 'LoadBalancerHealthy' },
      want: 'active',
    },
    {
      name: 'gate and another gate True, slice not updated yet',
      ep: { pod: 'p1', ip: '10.244.1.10', ready: false },
      p: { containersReady: true, gateStatus: 'True', otherGate: 'True' },
      want: 'active',
    },
    {
      name: 'gate True, another gate False',
      ep: { pod: 'p1', ip: '10.244.1.10', ready: false },
      p: { containersReady: true, gateStatus: 'True', otherGate: 'False' },
      want: 'kept',
      pre: 'warming',
    },
    {
      name: 'gate True (latched), readiness probe failing later',
      ep: { pod: 'p1', ip: '10.244.1.10', ready: false },
      p: { containersReady: false, gateStatus: 'True' },
      want: 'kept',
      pre: 'warming',
    },
    {
      name: 'gate False, containers turned not ready while registering',
      ep: { pod: 'p1', ip: '10.244.1.10', ready: false },
      p: { containersReady: false, gateStatus: 'False' },
      want: 'kept',
      pre: 'warming',
    },
    {
      name: 'gate True, endpoint terminating',
      ep: { pod: 'p1', ip: '10.244.1.10', ready: false, terminating: true },
      p: { containersReady: true, gateStatus: 'True' },
      want: 'draining',
    },
    {
      name: 'another readiness gate True',
      ep: { pod: 'p1', ip: '10.244.1.10', ready: false },
      p: { containersReady: true, otherGate: 'True' },
      want: 'active',
      pre: 'warming',
    },
    { name: 'endpoint terminating', ep: { pod: 'p1', ip: '10.244.1.10', ready: false, terminating: true }, p: { containersReady: true }, want: 'draining' },
    { name: 'pod has deletionTimestamp, slice not updated yet', ep: { pod: 'p1', ip: '10.244.1.10', ready: true }, p: { deleting: true }, want: 'draining' },
    // The containers restarted; the kubelet has not set Ready False yet, nor the slice followed.
    {
      name: 'gate True (latched), containers restarted, slice still ready',
      ep: { pod: 'p1', ip: '10.244.1.10', ready: true },
      p: { containersReady: false, gateStatus: 'True' },
      want: 'active',
      pre: 'warming',
    },
    { name: 'starting: no condition yet, has an IP', ep: { pod: 'p1', ip: '10.244.1.10', ready: false }, p: {}, want: 'kept', pre: 'warming' },
  ])('$name → $want (pre-registration: $pre)', ({ ep, p, want, pre }) => {
    const pods = p === null ? [] : [pod('p1', { ip: ep.ip, ...p })];
    for (const [preRegister, expected] of [
      [false, want],
      [true, pre ?? want],
    ] as const) {
      const plan = planMembers({
        nodeName: NODE,
        pods,
        services: [service()],
        endpointSlices: [slice([ep])],
        classes: [lbClass({ readiness: { preRegister } })],
      });
      expectDecision(plan, ep, expected);
    }
  });

  it('a gate this agent wrote True lets a warming member take traffic before the Pod cache shows it', () => {
    const ep: Ep = { pod: 'p1', ip: '10.244.1.10', ready: false };
    const pods = [pod('p1', { ip: ep.ip, containersReady: true, gateStatus: 'False' })];
    const snap = { nodeName: NODE, pods, services: [service()], endpointSlices: [slice([ep])], classes: [lbClass()] };
    expectDecision(planMembers(snap), ep, 'warming');
    expectDecision(planMembers({ ...snap, gateOpened: (uid) => uid === 'uid-p1' }), ep, 'active');
    expectDecision(planMembers({ ...snap, gateOpened: (uid) => uid === 'uid-other' }), ep, 'warming');
    // Opened, but the containers are not ready (they restarted since): still no traffic.
    const restarted = [pod('p1', { ip: ep.ip, containersReady: false, gateStatus: 'False' })];
    expectDecision(planMembers({ ...snap, pods: restarted, gateOpened: () => true }), ep, 'warming');
  });

  it('two Services sharing a backend: an active view of the member wins over a warming one', () => {
    const ep: Ep = { pod: 'p1', ip: '10.244.1.10', ready: false };
    const other = service({ 'podlb.io/backend': 'ads.bidder.http' }, { name: 'bidder2' });
    const pods = [pod('p1', { ip: ep.ip, containersReady: true, gateStatus: 'False' })];
    const plan = planMembers({
      nodeName: NODE,
      pods,
      services: [service(), other],
      endpointSlices: [slice([ep]), slice([{ ...ep, ready: true }], { service: 'bidder2' })],
      classes: [lbClass()],
    });
    expect(plan.members.map((m) => m.state)).toEqual(['active']);
  });
});

type Want = 'active' | 'kept' | 'warming' | 'draining' | 'none';

function expectDecision(plan: ReturnType<typeof planMembers>, ep: Ep, want: Want): void {
  expect(plan.problems).toEqual([]);
  if (want === 'none') expect(plan.members).toEqual([]);
  else {
    expect(plan.members).toHaveLength(1);
    expect(plan.members[0]).toMatchObject({
      state: want === 'kept' ? 'active' : want,
      address: ep.ip,
      port: 8080,
      backend: 'ads.bidder.http',
      name: `podlb_${NODE}_${ep.ip}_8080`,
      drainSeconds: 30,
    });
    expect(plan.members[0]!.keepOnly).toBe(want === 'kept' ? true : undefined);
  }
}

describe('planMembers: the rest', () => {
  it("a tenant who writes an EndpointSlice cannot register an address that is not its Pod's own", () => {
    // The endpoint names the tenant's own Pod, on this node, but points at the API server's
    // Service IP; a second endpoint in the same slice is honest.
    const forged = slice([
      { pod: 'p1', ip: '10.96.0.1' },
      { pod: 'p2', ip: '10.244.1.11' },
    ]);
    const p2 = pod('p2', { ip: '10.244.1.11' });
    p2.status!.podIPs = [{ ip: '10.244.1.11' }];
    const plan = planMembers({
      nodeName: NODE,
      pods: [pod('p1', { ip: '10.244.1.10' }), p2],
      services: [service()],
      endpointSlices: [forged],
      classes: [lbClass()],
    });
    expect(plan.members.map((m) => m.address)).toEqual(['10.244.1.11']);
    expect(plan.problems).toEqual([
      expect.objectContaining({
        reason: 'EndpointAddressNotPodIP',
        severity: 'Warning',
        object: expect.objectContaining({ kind: 'Service', namespace: 'ads', name: 'bidder' }),
      }),
    ]);
    expect(plan.problems[0]!.message).toMatch(/EndpointSlice bidder-abc lists 10\.96\.0\.1 for Pod p1/);
  });

  it("a tenant's slice naming another namespace's Pod registers nothing and ties nothing to that Pod", () => {
    const forged = slice([{ pod: 'p1', ip: '10.244.1.10' }]);
    forged.metadata.namespace = 'evil';
    const svc = service();
    svc.metadata.namespace = 'evil';
    const plan = planMembers({ nodeName: NODE, pods: [pod('p1')], services: [svc], endpointSlices: [forged], classes: [lbClass()] });
    expect(plan.members).toEqual([]);
  });

  it('an endpoint claiming this node for a Pod the kubelet runs elsewhere registers nothing', () => {
    const plan = planMembers({
      nodeName: NODE,
      pods: [pod('p1', { node: 'node-b' })],
      services: [service()],
      endpointSlices: [slice([{ pod: 'p1', ip: '10.244.1.10' }])],
      classes: [lbClass()],
    });
    expect(plan.members).toEqual([]);
  });

  it('a Pod that leaves the Service (no endpoint any more) is no member, so the reconciler drains it', () => {
    const plan = planMembers({
      nodeName: NODE,
      pods: [pod('p1', { containersReady: true, gateStatus: 'True', labels: { app: 'other' } })],
      services: [service()],
      endpointSlices: [slice([])],
      classes: [lbClass()],
    });
    expect(plan.members).toEqual([]);
  });

  it('uses the targetPort from the slice, the backend annotation and the drain annotation', () => {
    const plan = planMembers({
      nodeName: NODE,
      pods: [pod('p1')],
      services: [service({ 'podlb.io/backend': 'ads_bidder', 'podlb.io/drain-seconds': '5' })],
      endpointSlices: [slice([{ pod: 'p1', ip: '10.244.1.10' }], { port: 9090 })],
      classes: [lbClass({ tenancy: { namespaces: [{ name: 'ads', backends: ['ads_*'] }] } })],
    });
    expect(plan.members).toEqual([
      expect.objectContaining({ backend: 'ads_bidder', port: 9090, drainSeconds: 5, healthCheck: { intervalMs: 1000, rise: 2, fall: 3 } }),
    ]);
  });

  it('ignores Services that did not opt in and slices of other Services', () => {
    const plain = service();
    delete plain.metadata.annotations;
    const plan = planMembers({
      nodeName: NODE,
      pods: [pod('p1')],
      services: [plain],
      endpointSlices: [slice([{ pod: 'p1', ip: '10.244.1.10' }]), slice([{ pod: 'p1', ip: '10.244.1.10' }], { service: 'other' })],
      classes: [lbClass()],
    });
    expect(plan.members).toEqual([]);
    expect(plan.bindings).toEqual([]);
  });

  it('a bad Service is reported and does not stop a good one', () => {
    const bad = service({ 'podlb.io/ports': 'grpc' }, { name: 'broken' });
    const plan = planMembers({
      nodeName: NODE,
      pods: [pod('p1')],
      services: [bad, service()],
      endpointSlices: [slice([{ pod: 'p1', ip: '10.244.1.10' }]), slice([{ pod: 'p1', ip: '10.244.1.10' }], { service: 'broken' })],
      classes: [lbClass()],
    });
    expect(plan.members.map((m) => m.service.name)).toEqual(['bidder']);
    expect(plan.problems).toEqual([
      expect.objectContaining({
        reason: 'InvalidAnnotation',
        field: 'metadata.annotations[podlb.io/ports]',
        object: expect.objectContaining({ kind: 'Service', name: 'broken' }),
      }),
    ]);
    expect(plan.problems[0]!.message).toMatch(/no Service port named or numbered "grpc"/);
  });

  it('an unknown class is reported and registers nothing', () => {
    const plan = planMembers({
      nodeName: NODE,
      pods: [pod('p1')],
      services: [service({ 'podlb.io/load-balancer': 'nope' })],
      endpointSlices: [slice([{ pod: 'p1', ip: '10.244.1.10' }])],
      classes: [lbClass()],
    });
    expect(plan.members).toEqual([]);
    expect(plan.bindings[0]!.kind).toBe('classMissing');
    expect(plan.problems[0]).toMatchObject({ reason: 'UnknownLoadBalancerClass' });
  });
});

/** The same objects as the fixtures', moved to another namespace: the tenant's own. */
function inNamespace<T extends { metadata: { namespace?: string } }>(ns: string, o: T): T {
  const copy = structuredClone(o);
  copy.metadata.namespace = ns;
  for (const ep of (copy as { endpoints?: { targetRef?: { namespace?: string } }[] }).endpoints ?? []) if (ep.targetRef) ep.targetRef.namespace = ns;
  return copy;
}

describe('planMembers: a tenant names only backends its class grants it', () => {
  const adsClass = lbClass({ tenancy: { namespaces: [{ name: 'ads', backends: ['ads_bidder'] }, { name: 'team-*' }] } });
  const evilSnapshot = (svcAnn: Record<string, string>, cls = adsClass, ns = 'evil') => ({
    nodeName: NODE,
    pods: [pod('p1'), inNamespace(ns, pod('e1', { ip: '10.244.1.66' }))],
    services: [service({ 'podlb.io/backend': 'ads_bidder' }), inNamespace(ns, service(svcAnn))],
    endpointSlices: [slice([{ pod: 'p1', ip: '10.244.1.10' }]), inNamespace(ns, slice([{ pod: 'e1', ip: '10.244.1.66' }]))],
    classes: [cls],
  });

  it("a Service in namespace evil naming the ads team's backend registers nothing, with a Warning on it; ads keeps its member", () => {
    const plan = planMembers(evilSnapshot({ 'podlb.io/backend': 'ads_bidder' }));
    expect(plan.members.map((m) => `${m.service.namespace} ${m.backend} ${m.address}`)).toEqual(['ads ads_bidder 10.244.1.10']);
    expect(plan.problems).toEqual([
      expect.objectContaining({
        reason: 'NamespaceNotAllowed',
        severity: 'Warning',
        object: expect.objectContaining({ kind: 'Service', namespace: 'evil', name: 'bidder' }),
      }),
    ]);
    expect(plan.bindings.map((b) => b.kind)).toEqual(['bound', 'invalid']);
  });

  it.each<{ name: string; cls: ReturnType<typeof lbClass>; ns: string; backend?: string; want: 'bound' | 'NamespaceNotAllowed' | 'BackendNotAllowed' }>([
    { name: 'no tenancy: own default backend', cls: lbClass(), ns: 'evil', want: 'bound' },
    { name: 'no tenancy: own prefix', cls: lbClass(), ns: 'evil', backend: 'evil.shop', want: 'bound' },
    { name: "no tenancy: another namespace's default name", cls: lbClass(), ns: 'evil', backend: 'ads.bidder.http', want: 'BackendNotAllowed' },
    { name: 'no tenancy: a name outside every prefix', cls: lbClass(), ns: 'evil', backend: 'ads_bidder', want: 'BackendNotAllowed' },
    { name: 'no tenancy: a prefix of the namespace name is not its prefix', cls: lbClass(), ns: 'evil', backend: 'evilcorp.x', want: 'BackendNotAllowed' },
    { name: 'listed by prefix, backends unset: own names', cls: adsClass, ns: 'team-red', want: 'bound' },
    { name: "listed by prefix, backends unset: another team's", cls: adsClass, ns: 'team-red', backend: 'team-blue.web.http', want: 'BackendNotAllowed' },
    { name: 'not listed', cls: adsClass, ns: 'evil', want: 'NamespaceNotAllowed' },
    { name: 'listed with backends: an ungranted own-prefix name', cls: adsClass, ns: 'ads', want: 'BackendNotAllowed' },
    { name: 'listed with backends: the granted name', cls: adsClass, ns: 'ads', backend: 'ads_bidder', want: 'bound' },
    {
      name: 'wildcard entries add up',
      cls: lbClass({ tenancy: { namespaces: [{ name: '*' }, { name: 'ads', backends: ['ads_*'] }] } }),
      ns: 'ads',
      backend: 'ads_bidder',
      want: 'bound',
    },
    {
      name: 'wildcard entries add up, own prefix too',
      cls: lbClass({ tenancy: { namespaces: [{ name: '*' }, { name: 'ads', backends: ['ads_*'] }] } }),
      ns: 'ads',
      want: 'bound',
    },
    {
      name: 'catch-all grants no other namespace its names',
      cls: lbClass({ tenancy: { namespaces: [{ name: '*' }, { name: 'ads', backends: ['ads_*'] }] } }),
      ns: 'evil',
      backend: 'ads_bidder',
      want: 'BackendNotAllowed',
    },
    { name: 'empty list: nobody', cls: lbClass({ tenancy: { namespaces: [] } }), ns: 'ads', want: 'NamespaceNotAllowed' },
  ])('$name → $want', ({ cls, ns, backend, want }) => {
    const classes = new Map([['l7lb', parseLbClass(cls).model!]]);
    const r = parseServiceBinding(inNamespace(ns, service(backend ? { 'podlb.io/backend': backend } : {})), classes);
    expect(r.result.kind).toBe(want === 'bound' ? 'bound' : 'invalid');
    expect(r.problems.map((p) => p.reason)).toEqual(want === 'bound' ? [] : [want]);
  });

  it('one refused port refuses the Service: a multi-port Service cannot smuggle one backend in', () => {
    const classes = new Map([['l7lb', parseLbClass(lbClass()).model!]]);
    const r = parseServiceBinding(
      inNamespace(
        'evil',
        service(
          { 'podlb.io/backend': 'http=evil.web,metrics=ads_bidder' },
          {
            ports: [
              { name: 'http', port: 80 },
              { name: 'metrics', port: 9090 },
            ],
          },
        ),
      ),
      classes,
    );
    expect(r.result.kind).toBe('invalid');
    expect(r.problems[0]!.message).toMatch(/"ads_bidder"/);
  });
});
