// PodAddressPool status written by the controller against the in-process API server: the
// status subresource (merge patch), leader only, no-op writes skipped, transitions with Events.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalFor, contentDigests } from '../src/bgp/approval.js';
import { pino } from 'pino';
import { startApiServer, type ApiServer } from '../src/apiserver/index.js';
import { waitFor } from '../src/lab/netns.js';
import type { Controller } from '../src/controller/controller.js';
import { CONTROLLER_SERVICE_ACCOUNT, controllerResources } from '../testkit/controller-resources.js';
import type { Condition, PodAddressPool } from '../src/api/types.js';
import { LAB_NETWORK_TEAM } from '../src/lab/objects.js';

const log = pino({ level: process.env.PODLB_TEST_LOG ? 'debug' : 'silent' });
import type { Obj } from '../src/apiserver/resource-type.js';
import { testController } from '../testkit/controller-replica.js';

let api: ApiServer;
const ctls: Controller[] = [];

const getPool = (name: string) => api.store.get('podaddresspools', name) as PodAddressPool & Obj;
const cond = (name: string, type: string): Condition | undefined => getPool(name).status?.conditions?.find((c) => c.type === type);
const brief = (name: string) => {
  const a = cond(name, 'Approved');
  const b = cond(name, 'Advertised');
  return a && b ? `${a.status}/${a.reason} ${b.status}/${b.reason} ${getPool(name).status?.advertisedNodes}` : undefined;
};
const poolEvents = (name: string) =>
  (api.store.list('events', { namespace: 'default' }).items as Obj[])
    .filter((e) => e.involvedObject.kind === 'PodAddressPool' && e.involvedObject.name === name)
    .map((e) => e.reason as string);
// An approval records the digests of the pool as stored, as `kubectl podlb approve` does.
const approve = (name: string, state: 'Approved' | 'Rejected' | 'Pending') => {
  const decision = { by: 'network-team:alice', reason: 'NETREQ-1', time: '2026-11-22T10:00:00Z' };
  const approval = state === 'Approved' ? approvalFor(getPool(name).spec, decision) : { state, ...decision };
  return api.store.patch('podaddresspools', name, undefined, 'merge', { spec: { approval } }, { user: LAB_NETWORK_TEAM });
};
const advertise = (node: string, prefixes: string[]) =>
  api.store.patch('podlbnodes', node, undefined, 'merge', { status: { bgp: { advertisedPrefixes: prefixes } } }, { subresource: 'status' });

beforeAll(async () => {
  api = await startApiServer({ resources: controllerResources() });
  api.installManifests();
  for (const [n, rack] of [
    ['node1', 'r1'],
    ['node2', 'r2'],
  ] as const) {
    api.store.create('nodes', { metadata: { name: n, labels: { rack } }, spec: { podCIDRs: [`10.244.${n.slice(-1)}.0/24`] } });
    api.store.create('podlbnodes', { apiVersion: 'podlb.io/v1alpha1', kind: 'PodLBNode', metadata: { name: n }, spec: {} });
  }
  for (const id of ['ctl-a', 'ctl-b']) {
    // Each replica as its Deployment's Pod: the podlb-controller ServiceAccount's own token.
    const kc = api.podIdentity({ serviceAccount: CONTROLLER_SERVICE_ACCOUNT, nodeName: 'node1' }).kubeConfig();
    const c = testController({ kubeConfig: kc, log, identity: id });
    ctls.push(c);
    await c.start();
  }
  await waitFor('a leader', () => ctls.some((c) => c.isLeader) || undefined);
});

afterAll(async () => {
  await Promise.all(ctls.map((c) => c.stop()));
  const denied = api?.deniedRequests() ?? [];
  await api?.close();
  expect(denied, 'calls the shipped RBAC does not grant').toEqual([]);
});

describe('PodAddressPool status from the controller', () => {
  it('Pending -> Approved -> advertised by nodes -> Rejected, through the status subresource; Events on transitions', async () => {
    api.store.create('podaddresspools', {
      apiVersion: 'podlb.io/v1alpha1',
      kind: 'PodAddressPool',
      metadata: { name: 'tokyo' },
      spec: { cidrs: ['10.244.0.0/16'], approval: { state: 'Pending' } },
    });
    await waitFor('Pending status', () => brief('tokyo') === 'False/Pending False/NotApproved 0' || undefined, 5_000);

    approve('tokyo', 'Approved');
    await waitFor('Approved, not yet advertised', () => brief('tokyo') === 'True/Approved False/NotAdvertised 0' || undefined, 5_000);
    expect(cond('tokyo', 'Approved')).toMatchObject({
      message: 'Approved by network-team:alice: NETREQ-1',
      observedGeneration: getPool('tokyo').metadata.generation,
    });

    advertise('node1', ['10.244.1.0/24']);
    await waitFor('1 node', () => brief('tokyo') === 'True/Approved True/Advertised 1' || undefined, 5_000);
    advertise('node2', ['10.244.2.0/24']);
    await waitFor('2 nodes', () => brief('tokyo') === 'True/Approved True/Advertised 2' || undefined, 5_000);
    expect(cond('tokyo', 'Advertised')!.message).toBe('2 nodes advertise it (of 2 selected nodes)');

    // Level-triggered and idempotent: more passes write nothing.
    const rv = getPool('tokyo').metadata.resourceVersion;
    const leader = ctls.find((c) => c.isLeader)!;
    await leader.nextLeaderRun();
    await leader.nextLeaderRun();
    expect(getPool('tokyo').metadata.resourceVersion).toBe(rv);
    expect(leader.lastLeaderRun?.pools).toMatchObject({ written: [], unchanged: 1 });

    const advertisedSince = cond('tokyo', 'Advertised')!.lastTransitionTime;
    approve('tokyo', 'Rejected');
    await waitFor('Rejected', () => brief('tokyo') === 'False/Rejected False/NotApproved 0' || undefined, 5_000);
    expect(cond('tokyo', 'Approved')!.message).toBe('Rejected by network-team:alice: NETREQ-1');
    expect(cond('tokyo', 'Advertised')!.lastTransitionTime! >= advertisedSince!).toBe(true);

    await waitFor('Events', () => (poolEvents('tokyo').includes('PoolRejected') ? true : undefined), 5_000);
    expect(poolEvents('tokyo').sort()).toEqual(['PoolAdvertised', 'PoolApproved', 'PoolNotAdvertised', 'PoolPending', 'PoolRejected']);
    // Only the leader writes Events.
    const hosts = new Set(
      (api.store.list('events', { namespace: 'default' }).items as Obj[]).filter((e) => e.involvedObject.kind === 'PodAddressPool').map((e) => e.source.host),
    );
    expect([...hosts]).toEqual([leader.elector.identity]);
  });

  it('NoNodeSelected, Overlapping and Invalid, and a Node label change is picked up', async () => {
    const mk = (name: string, cidrs: string[], extra: Obj = {}) =>
      api.store.create(
        'podaddresspools',
        {
          apiVersion: 'podlb.io/v1alpha1',
          kind: 'PodAddressPool',
          metadata: { name },
          spec: { cidrs, ...extra, approval: { state: 'Approved', ...contentDigests({ cidrs, ...extra }) } },
        },
        { user: LAB_NETWORK_TEAM },
      );
    mk('rack9', ['10.250.0.0/16'], { nodeSelector: { matchLabels: { rack: 'r9' } } });
    mk('a-dup', ['10.251.0.0/16']);
    mk('b-dup', ['10.251.0.0/16']);
    mk('hostbits', ['10.252.1.0/16']);
    await waitFor('statuses', () => ['rack9', 'a-dup', 'b-dup', 'hostbits'].every((n) => brief(n)) || undefined, 5_000);
    expect(brief('rack9')).toBe('True/Approved False/NoNodeSelected 0');
    expect(brief('a-dup')).toBe('True/Approved False/NotAdvertised 0');
    expect(brief('b-dup')).toBe('True/Approved False/Overlapping 0');
    expect(cond('b-dup', 'Advertised')!.message).toContain('inside approved PodAddressPool a-dup');
    expect(brief('hostbits')).toBe('False/Invalid False/Invalid 0');
    expect(cond('hostbits', 'Approved')!.message).toContain('spec.cidrs[0]: "10.252.1.0/16" has host bits set');

    api.store.patch('nodes', 'node2', undefined, 'merge', { metadata: { labels: { rack: 'r9' } } });
    await waitFor('rack9 selects node2', () => brief('rack9') === 'True/Approved False/NotAdvertised 0' || undefined, 5_000);
  });
});
