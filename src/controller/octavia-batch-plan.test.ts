// The leader's plan for a podlb-owned pool: the agents' planner per node (tenancy, Pod-IP check,
// termination) and the agents' diff per node against the pool as Octavia lists it.
import { describe, expect, it } from 'vitest';
import { LABEL_SERVICE_NAME, READINESS_GATE, type EndpointSlice, type LoadBalancerClass, type Pod, type Service } from '../api/types.js';
import { memberName } from '../lb/naming.js';
import { batchBody, type PoolMemberRecord } from '../lb/octavia-batch.js';
import { planClusterMembers, planPool } from './octavia-batch-plan.js';

const LB = '6f1c8a52-3b0e-4c6e-9a59-0d0c6a5e8f11';
const POOL = { id: '0b7a4d1e-7c55-4a44-8d7a-2b9e3f6c1a20', name: 'cart' };

function pod(ns: string, name: string, node: string, ip: string, terminating = false): Pod {
  return {
    metadata: { name, namespace: ns, uid: `uid-${name}`, labels: { app: 'cart' }, ...(terminating ? { deletionTimestamp: '2026-12-06T10:00:00Z' } : {}) },
    spec: { nodeName: node, readinessGates: [{ conditionType: READINESS_GATE }], containers: [{ name: 'c' }] },
    status: { podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'ContainersReady', status: 'True' }] },
  };
}

function slice(ns: string, svc: string, eps: { pod: Pod; address?: string }[]): EndpointSlice {
  return {
    metadata: { name: `${svc}-x`, namespace: ns, labels: { [LABEL_SERVICE_NAME]: svc } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080 }],
    endpoints: eps.map(({ pod: p, address }) => ({
      addresses: [address ?? p.status!.podIP!],
      conditions: { ready: false, ...(p.metadata.deletionTimestamp ? { terminating: true } : {}) },
      nodeName: p.spec.nodeName,
      targetRef: { kind: 'Pod', namespace: ns, name: p.metadata.name!, uid: p.metadata.uid! },
    })),
  };
}

function service(ns: string, name: string, backend: string): Service {
  return {
    metadata: { name, namespace: ns, annotations: { 'podlb.io/load-balancer': 'osl', 'podlb.io/backend': backend } },
    spec: { selector: { app: 'cart' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  };
}

const cls: LoadBalancerClass = {
  metadata: { name: 'osl' },
  spec: {
    provider: 'octavia',
    octavia: { authURL: 'https://keystone.example/v3', loadBalancerID: LB, credentialsSecretRef: { name: 'os', key: 'clouds.yaml' } },
    tenancy: { namespaces: [{ name: 'shop', backends: ['cart'] }, { name: 'other' }] },
  },
};

function rec(node: string, ip: string, o: Partial<PoolMemberRecord> = {}): PoolMemberRecord {
  return {
    id: `id-${ip}`,
    name: memberName(node, ip, 8080),
    address: ip,
    protocol_port: 8080,
    weight: 1,
    admin_state_up: true,
    provisioning_status: 'ACTIVE',
    operating_status: 'ONLINE',
    tags: ['podlb', `podlb-node:${node}`],
    ...o,
  };
}

describe('the leader plans a pool as the agents would', () => {
  it("tenancy, the Pod-IP check and each node's own Pods decide the members; a terminating Pod drains and a gone one is removed", () => {
    const a1 = pod('shop', 'a1', 'node-a', '10.244.1.5');
    const b1 = pod('shop', 'b1', 'node-b', '10.244.2.5');
    const b2 = pod('shop', 'b2', 'node-b', '10.244.2.6', true);
    const spoof = pod('shop', 'a2', 'node-a', '10.244.1.6');
    const intruder = pod('other', 'x1', 'node-a', '10.244.1.7'); // namespace `other` may name only `other.` backends
    const desired = planClusterMembers({
      pods: [a1, b1, b2, spoof, intruder],
      services: [service('shop', 'cart', 'cart'), service('other', 'steal', 'cart')],
      endpointSlices: [
        slice('shop', 'cart', [{ pod: a1 }, { pod: b1 }, { pod: b2 }, { pod: spoof, address: '10.244.9.9' }]),
        slice('other', 'steal', [{ pod: intruder }]),
      ],
      classes: [cls],
    });
    const plan = planPool({
      pool: POOL,
      nameIsUnique: true,
      desired,
      current: new Map([
        ['node-b', [rec('node-b', '10.244.2.6'), rec('node-b', '10.244.2.99')]], // b2 terminating; .99's Pod is gone
      ]),
      drainingSince: new Map(),
      lastDesired: new Map(),
      now: Date.now(),
    });
    expect(plan.changes.add.map((x) => x.name).sort()).toEqual([memberName('node-a', '10.244.1.5', 8080), memberName('node-b', '10.244.2.5', 8080)]);
    expect([...plan.changes.weight]).toEqual([[memberName('node-b', '10.244.2.6', 8080), 0]]);
    expect([...plan.changes.remove]).toEqual([memberName('node-b', '10.244.2.99', 8080)]);
    expect(plan.changes.add.find((x) => x.node === 'node-b')?.address).toBe('10.244.2.5');
  });

  it('a drained member is removed when its window ends, not before; a pool named by another pool’s name is not this one', () => {
    const b2 = pod('shop', 'b2', 'node-b', '10.244.2.6', true);
    const snap = { pods: [b2], services: [service('shop', 'cart', 'cart')], endpointSlices: [slice('shop', 'cart', [{ pod: b2 }])], classes: [cls] };
    const desired = planClusterMembers(snap);
    const name = memberName('node-b', '10.244.2.6', 8080);
    const key = `${POOL.id}/${name}`;
    const current = new Map([['node-b', [rec('node-b', '10.244.2.6', { weight: 0, operating_status: 'DRAINING' })]]]);
    const at = (now: number, drainingSince: Map<string, number>) =>
      planPool({ pool: POOL, nameIsUnique: true, desired, current, drainingSince, lastDesired: new Map(), now });
    const early = at(10_000, new Map([[key, 0]]));
    expect(early.changes.remove.size).toBe(0);
    expect(early.waits).toEqual([{ key, since: 0, until: 30_000 }]);
    expect([...at(30_000, new Map([[key, 0]])).changes.remove]).toEqual([name]);
    // Two pools called `cart` on the load balancer: a Service naming `cart` names neither.
    const ambiguous = planPool({ pool: POOL, nameIsUnique: false, desired, current: new Map(), drainingSince: new Map(), lastDesired: new Map(), now: 0 });
    expect(ambiguous.desired).toEqual([]);
  });

  it('a wanted member in provisioning ERROR is a repair (kept, at weight 1), held back until its repair time; an unwanted one is removed', () => {
    const a1 = pod('shop', 'a1', 'node-a', '10.244.1.5');
    a1.status!.conditions!.push({ type: READINESS_GATE, status: 'True' });
    const desired = planClusterMembers({
      pods: [a1],
      services: [service('shop', 'cart', 'cart')],
      endpointSlices: [slice('shop', 'cart', [{ pod: a1 }])],
      classes: [cls],
    });
    const name = memberName('node-a', '10.244.1.5', 8080);
    const key = `${POOL.id}/${name}`;
    const current = new Map([
      ['node-a', [rec('node-a', '10.244.1.5', { provisioning_status: 'ERROR', weight: 0 }), rec('node-a', '10.244.1.99', { provisioning_status: 'ERROR' })]],
    ]);
    const at = (now: number, repairNotBefore?: Map<string, number>) =>
      planPool({
        pool: POOL,
        nameIsUnique: true,
        desired,
        current,
        drainingSince: new Map(),
        lastDesired: new Map(),
        ...(repairNotBefore ? { repairNotBefore } : {}),
        now,
      });
    const first = at(1_000);
    expect(first.repairs.map((a) => a.key)).toEqual([key]);
    expect([...first.changes.weight]).toEqual([[name, 1]]);
    expect(first.changes.add).toEqual([]);
    expect([...first.changes.remove]).toEqual([memberName('node-a', '10.244.1.99', 8080)]);
    const held = at(1_000, new Map([[key, 6_000]]));
    expect(held.repairs).toEqual([]);
    expect(held.repairWaits).toEqual([{ key, at: 6_000 }]);
    expect(held.changes.weight.size).toBe(0);
    expect(at(6_000, new Map([[key, 6_000]])).repairs.map((a) => a.key)).toEqual([key]);
  });

  it('pre-registration: a Pod not ready yet joins at weight 0, gets weight 1 only once its gate is True, and back to 0 when its containers restart', () => {
    const a1 = pod('shop', 'a1', 'node-a', '10.244.1.5');
    const name = memberName('node-a', '10.244.1.5', 8080);
    const plan = (p: Pod, current: PoolMemberRecord[], klass = cls) =>
      planPool({
        pool: POOL,
        nameIsUnique: true,
        desired: planClusterMembers({
          pods: [p],
          services: [service('shop', 'cart', 'cart')],
          endpointSlices: [slice('shop', 'cart', [{ pod: p }])],
          classes: [klass],
        }),
        current: new Map([['node-a', current]]),
        drainingSince: new Map(),
        lastDesired: new Map(),
        now: 0,
      });
    const added = plan(a1, []);
    expect(added.changes.add).toEqual([{ node: 'node-a', name, address: '10.244.1.5', port: 8080, weight: 0 }]);
    expect(batchBody(new Map(), added.changes)).toMatchObject([{ name, weight: 0, admin_state_up: true }]);
    const warm = rec('node-a', '10.244.1.5', { weight: 0, operating_status: 'DRAINING' });
    expect(plan(a1, [warm]).actions).toEqual([]);
    // Octavia failed to program it: repaired warm, still at weight 0.
    const failedWarm = plan(a1, [rec('node-a', '10.244.1.5', { weight: 0, provisioning_status: 'ERROR' })]);
    expect(failedWarm.repairs).toHaveLength(1);
    expect([...failedWarm.changes.weight]).toEqual([[name, 0]]);

    const gateTrue = structuredClone(a1);
    gateTrue.status!.conditions!.push({ type: READINESS_GATE, status: 'True' });
    expect([...plan(gateTrue, [warm]).changes.weight]).toEqual([[name, 1]]);

    const restarted = structuredClone(gateTrue);
    restarted.status!.conditions![0]!.status = 'False';
    expect([...plan(restarted, [rec('node-a', '10.244.1.5')]).changes.weight]).toEqual([[name, 0]]);

    // Off for the class: today's rules, a member at weight 1 once the containers are ready.
    const off = structuredClone(cls);
    off.spec.readiness = { preRegister: false };
    const today = plan(a1, [], off);
    expect(today.changes.add).toEqual([{ node: 'node-a', name, address: '10.244.1.5', port: 8080, weight: 1 }]);
  });
});
