import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { API_VERSION, type Node, type PodAddressPool, type PodLBNode } from '../api/types.js';
import { startApiServer } from '../apiserver/index.js';
import { contentDigests } from '../bgp/approval.js';
import type { KubeClient } from '../kube/client.js';
import { adminClient } from '../../testkit/api-client.js';
import { planPoolStatuses, PoolStatusWriter, poolValidationProblems, type PoolStatusPlan } from './pool-status.js';

const NOW = Date.parse('2026-11-23T10:00:00Z');
const LATER = NOW + 60_000;

/** Approved pools carry the digest of their content, as `kubectl podlb approve` writes it. */
function pool(
  name: string,
  cidrs: string[],
  o: {
    state?: 'Approved' | 'Pending' | 'Rejected';
    by?: string;
    reason?: string;
    advertise?: 'NodeCIDR' | 'PodIPs';
    sel?: Record<string, string>;
    gen?: number;
  } = {},
): PodAddressPool {
  const spec: PodAddressPool['spec'] = {
    cidrs,
    ...(o.advertise ? { advertise: o.advertise } : {}),
    ...(o.sel ? { nodeSelector: { matchLabels: o.sel } } : {}),
  };
  const digests = o.state === 'Approved' ? contentDigests(spec) : {};
  return {
    metadata: { name, generation: o.gen ?? 1, resourceVersion: '7' },
    spec: {
      ...spec,
      ...(o.state ? { approval: { state: o.state, ...(o.by ? { by: o.by } : {}), ...(o.reason ? { reason: o.reason } : {}), ...digests } } : {}),
    },
  };
}
const node = (name: string, labels: Record<string, string> = {}): Node => ({ metadata: { name, labels } });
const lbn = (name: string, prefixes: string[]): PodLBNode => ({ metadata: { name }, status: { bgp: { advertisedPrefixes: prefixes } } });
const NODES = [node('node1', { rack: 'r1' }), node('node2', { rack: 'r2' })];

const cond = (p: PoolStatusPlan, type: string) => p.status.conditions.find((c) => c.type === type)!;
const brief = (p: PoolStatusPlan) =>
  `${cond(p, 'Approved').status}/${cond(p, 'Approved').reason} ${cond(p, 'Advertised').status}/${cond(p, 'Advertised').reason} ${p.status.advertisedNodes}`;
const plan1 = (pools: PodAddressPool[], lbns: PodLBNode[] = [], nodes = NODES) => planPoolStatuses({ pools, nodes, podlbNodes: lbns, now: NOW });

describe('planPoolStatuses: conditions (table)', () => {
  it.each([
    ['no approval: Pending', [pool('p', ['10.244.0.0/16'])], [], 'False/Pending False/NotApproved 0'],
    ['Rejected', [pool('p', ['10.244.0.0/16'], { state: 'Rejected', by: 'network-team:bob', reason: 'NETREQ-9' })], [], 'False/Rejected False/NotApproved 0'],
    [
      'Pending even when a node (wrongly) advertises it',
      [pool('p', ['10.244.0.0/16'], { state: 'Pending' })],
      [lbn('node1', ['10.244.1.0/24'])],
      'False/Pending False/NotApproved 0',
    ],
    ['host bits set: Invalid', [pool('p', ['10.244.1.5/16'], { state: 'Approved' })], [lbn('node1', ['10.244.1.0/24'])], 'False/Invalid False/Invalid 0'],
    [
      'Approved, two nodes advertise',
      [pool('p', ['10.244.0.0/16'], { state: 'Approved' })],
      [lbn('node1', ['10.244.1.0/24']), lbn('node2', ['10.244.2.0/24'])],
      'True/Approved True/Advertised 2',
    ],
    [
      'Approved, prefixes outside the pool do not count',
      [pool('p', ['10.244.0.0/16'], { state: 'Approved' })],
      [lbn('node1', ['10.245.1.0/24'])],
      'True/Approved False/NotAdvertised 0',
    ],
    [
      'Approved, selector matches no Node',
      [pool('p', ['10.244.0.0/16'], { state: 'Approved', sel: { rack: 'r9' } })],
      [],
      'True/Approved False/NoNodeSelected 0',
    ],
    [
      'selector: only selected nodes count',
      [pool('p', ['10.244.0.0/16'], { state: 'Approved', sel: { rack: 'r1' } })],
      [lbn('node1', ['10.244.1.0/24']), lbn('node2', ['10.244.2.0/24'])],
      'True/Approved True/Advertised 1',
    ],
    [
      'PodIPs: host routes count',
      [pool('p', ['10.244.0.0/16'], { state: 'Approved', advertise: 'PodIPs' })],
      [lbn('node1', ['10.244.1.7/32', '10.244.1.8/32'])],
      'True/Approved True/Advertised 1',
    ],
  ] as const)('%s', (_n, pools, lbns, want) => {
    const [p] = plan1([...pools], [...lbns]);
    expect(brief(p!)).toBe(want);
    expect(p!.changed).toBe(true);
  });

  it('messages say who decided and why, and name the bad CIDR', () => {
    const [rej] = plan1([pool('p', ['10.244.0.0/16'], { state: 'Rejected', by: 'network-team:bob', reason: 'NETREQ-9' })]);
    expect(cond(rej!, 'Approved').message).toBe('Rejected by network-team:bob: NETREQ-9');
    const [ok] = plan1([pool('p', ['10.244.0.0/16'], { state: 'Approved', by: 'network-team:alice', reason: 'NETREQ-1' })], [lbn('node1', ['10.244.1.0/24'])]);
    expect(cond(ok!, 'Approved').message).toBe('Approved by network-team:alice: NETREQ-1');
    expect(cond(ok!, 'Advertised').message).toBe('1 node advertises it (of 2 selected nodes)');
    const [bad] = plan1([pool('p', ['10.244.0.0/16', '10.244.1.5/16'], { state: 'Approved' })]);
    expect(cond(bad!, 'Approved').message).toContain('spec.cidrs[1]: "10.244.1.5/16" has host bits set (did you mean 10.244.0.0/16?)');
  });

  it('a pool edited after approval is ApprovalStale, not advertised, with a Warning naming the field', () => {
    const p = pool('p', ['10.244.0.0/16'], { state: 'Approved', by: 'network-team:alice', reason: 'NETREQ-1', sel: { rack: 'r1' } });
    delete p.spec.nodeSelector;
    // node2 (rack r2, not selected when approved) already advertises a prefix of it: it does not count.
    const [st] = plan1([p], [lbn('node1', ['10.244.1.0/24']), lbn('node2', ['10.244.2.0/24'])]);
    expect(brief(st!)).toBe('False/ApprovalStale False/NotApproved 0');
    expect(cond(st!, 'Approved').message).toMatch(
      /^PodAddressPool p changed after it was approved \(spec\.nodeSelector no longer matches what spec\.approval\.digest records\).*kubectl podlb approve p --reason TEXT/,
    );
    expect(st!.events).toContainEqual(expect.objectContaining({ type: 'Warning', reason: 'ApprovalStale' }));
  });

  it('an Approved pool without a digest (approved before digests) is ApprovalStale with the fix', () => {
    const p = pool('p', ['10.244.0.0/16'], { state: 'Approved', by: 'network-team:alice' });
    delete p.spec.approval!.digest;
    const [st] = plan1([p], [lbn('node1', ['10.244.1.0/24'])]);
    expect(brief(st!)).toBe('False/ApprovalStale False/NotApproved 0');
    expect(cond(st!, 'Approved').message).toContain('records no content digest');
    expect(cond(st!, 'Approved').message).toContain('kubectl podlb approve p --reason TEXT');
  });

  it("validation is the BGP model's: advertise, communities and the selector too", () => {
    expect(poolValidationProblems(pool('p', ['10.244.0.0/16']))).toEqual([]);
    const p = pool('p', ['10.244.0.0/16']);
    p.spec.communities = ['70000:1'];
    expect(poolValidationProblems(p)).toEqual([expect.stringContaining('spec.communities[0]')]);
    const q = pool('p', ['10.244.0.0/16']);
    q.spec.nodeSelector = { matchExpressions: [{ key: 'a', operator: 'In' }] };
    expect(poolValidationProblems(q)).toEqual([expect.stringContaining('spec.nodeSelector')]);
  });
});

describe('planPoolStatuses: overlapping approved pools (compareClaims: most specific CIDR, then name)', () => {
  it('identical CIDRs: the earlier name owns them; the other is Overlapping', () => {
    const plans = plan1(
      [pool('b-pool', ['10.244.0.0/16'], { state: 'Approved' }), pool('a-pool', ['10.244.0.0/16'], { state: 'Approved' })],
      [lbn('node1', ['10.244.1.0/24'])],
    );
    expect(plans.map((p) => `${p.name} ${brief(p)}`)).toEqual(['a-pool True/Approved True/Advertised 1', 'b-pool True/Approved False/Overlapping 0']);
    expect(cond(plans[1]!, 'Advertised').message).toContain('inside approved PodAddressPool a-pool');
  });

  it('nested: the more specific pool owns its range whatever the names; the outer pool keeps the rest', () => {
    const plans = plan1(
      [pool('a-outer', ['10.244.0.0/16'], { state: 'Approved' }), pool('z-inner', ['10.244.1.0/24'], { state: 'Approved' })],
      [lbn('node1', ['10.244.1.0/24']), lbn('node2', ['10.244.2.0/24'])],
    );
    expect(plans.map((p) => `${p.name} ${brief(p)}`)).toEqual(['a-outer True/Approved True/Advertised 1', 'z-inner True/Approved True/Advertised 1']);
    expect(cond(plans[0]!, 'Advertised').message).toContain('overlaps PodAddressPool z-inner');
  });

  it('an outer pool wholly covered by more specific pools is Overlapping; a Pending overlapping pool does not count', () => {
    const plans = plan1(
      [
        pool('outer', ['10.244.0.0/23'], { state: 'Approved' }),
        pool('lo', ['10.244.0.0/24'], { state: 'Approved' }),
        pool('hi', ['10.244.1.0/24'], { state: 'Approved' }),
        pool('pending', ['10.244.0.0/16']),
      ],
      [lbn('node1', ['10.244.1.0/24'])],
    );
    expect(Object.fromEntries(plans.map((p) => [p.name, brief(p)]))).toEqual({
      hi: 'True/Approved True/Advertised 1',
      lo: 'True/Approved False/NotAdvertised 0',
      outer: 'True/Approved False/Overlapping 0',
      pending: 'False/Pending False/NotApproved 0',
    });
  });

  it('a pool that does not select the node cannot claim its prefix', () => {
    const plans = plan1(
      [pool('a', ['10.244.1.0/24'], { state: 'Approved', sel: { rack: 'r2' } }), pool('b', ['10.244.0.0/16'], { state: 'Approved' })],
      [lbn('node1', ['10.244.1.0/24'])],
    );
    expect(plans.map(brief)).toEqual(['True/Approved False/NotAdvertised 0', 'True/Approved True/Advertised 1']);
  });
});

describe('planPoolStatuses: writes, transitions, Events', () => {
  const withStatus = (p: PodAddressPool, plan: PoolStatusPlan): PodAddressPool => ({ ...p, status: structuredClone(plan.status) });

  it('skips no-op writes; lastTransitionTime moves only when a status changes; observedGeneration follows', () => {
    const p0 = pool('p', ['10.244.0.0/16'], { state: 'Approved' });
    const [a] = plan1([p0], [lbn('node1', ['10.244.1.0/24'])]);
    expect(a!.status.conditions.map((c) => c.lastTransitionTime)).toEqual(['2026-11-23T10:00:00Z', '2026-11-23T10:00:00Z']);
    expect(a!.events.map((e) => e.reason)).toEqual(['PoolApproved', 'PoolAdvertised']);
    const p1 = withStatus(p0, a!);

    const [same] = planPoolStatuses({ pools: [p1], nodes: NODES, podlbNodes: [lbn('node1', ['10.244.1.0/24'])], now: LATER });
    expect(same!.changed).toBe(false);
    expect(same!.events).toEqual([]);

    // A second node: the message and the count change, the status does not: same transition time, no Event.
    const [more] = planPoolStatuses({ pools: [p1], nodes: NODES, podlbNodes: [lbn('node1', ['10.244.1.0/24']), lbn('node2', ['10.244.2.0/24'])], now: LATER });
    expect(more!.changed).toBe(true);
    expect(more!.status.advertisedNodes).toBe(2);
    expect(cond(more!, 'Advertised').lastTransitionTime).toBe('2026-11-23T10:00:00Z');
    expect(more!.events).toEqual([]);

    // Rejected (a new generation): both conditions flip, with the new time and generation.
    const p2 = { ...p1, metadata: { ...p1.metadata, generation: 2 }, spec: { ...p1.spec, approval: { state: 'Rejected' as const, by: 'network-team:bob' } } };
    const [rej] = planPoolStatuses({ pools: [p2], nodes: NODES, podlbNodes: [lbn('node1', ['10.244.1.0/24'])], now: LATER });
    expect(rej!.status.conditions.map((c) => [c.type, c.status, c.lastTransitionTime, c.observedGeneration])).toEqual([
      ['Approved', 'False', '2026-11-23T10:01:00Z', 2],
      ['Advertised', 'False', '2026-11-23T10:01:00Z', 2],
    ]);
    expect(rej!.events.map((e) => [e.reason, e.object.name])).toEqual([['PoolRejected', 'p']]);
  });

  it('a reason change with the same status keeps lastTransitionTime but records an Event; foreign conditions are kept', () => {
    const p0 = pool('p', ['10.244.0.0/16']);
    const [a] = plan1([p0]);
    const p1 = withStatus(p0, a!);
    p1.status!.conditions!.push({ type: 'Example', status: 'True', reason: 'Other' });
    p1.spec.approval = { state: 'Rejected' };
    const [b] = planPoolStatuses({ pools: [p1], nodes: NODES, podlbNodes: [], now: LATER });
    expect(cond(b!, 'Approved')).toMatchObject({ status: 'False', reason: 'Rejected', lastTransitionTime: '2026-11-23T10:00:00Z' });
    expect(b!.events.map((e) => e.reason)).toEqual(['PoolRejected']);
    expect(b!.status.conditions.map((c) => c.type)).toEqual(['Approved', 'Advertised', 'Example']);
  });
});

describe('PoolStatusWriter over idle passes', () => {
  it('writes each pool once, then nothing while nothing changes, however the clock moves', async () => {
    const api = await startApiServer();
    try {
      const admin = adminClient(api);
      const writes: string[] = [];
      const client: Pick<KubeClient, 'patch'> = {
        patch: <T>(path: string, body: unknown, type: Parameters<KubeClient['patch']>[2]): Promise<T> => {
          writes.push(path);
          return admin.patch<T>(path, body, type);
        },
      };
      for (const [name, cidr] of [
        ['pending', '10.244.0.0/16'],
        ['rejected', '10.245.0.0/16'],
      ] as const) {
        await admin.create(`/apis/${API_VERSION}/podaddresspools`, {
          apiVersion: API_VERSION,
          kind: 'PodAddressPool',
          metadata: { name },
          spec: { cidrs: [cidr], ...(name === 'rejected' ? { approval: { state: 'Rejected', by: 'network-team:bob' } } : {}) },
        });
      }
      const w = new PoolStatusWriter({ client, log: pino({ level: 'silent' }), record: () => undefined });
      // What the leader's informers would hold: the objects as stored, read again before every pass.
      const pass = async (now: number) =>
        w.run({ pools: (await admin.list<PodAddressPool>(`/apis/${API_VERSION}/podaddresspools`)).items, nodes: NODES, podlbNodes: [], synced: true }, now);
      const first = await pass(NOW);
      expect(first.written.sort()).toEqual(['pending', 'rejected']);
      for (let i = 1; i <= 20; i++) expect((await pass(NOW + i * 30_000)).unchanged).toBe(2);
      expect(writes).toHaveLength(2);
    } finally {
      await api.close();
    }
  });
});
