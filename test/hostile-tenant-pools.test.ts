// A tenant who may edit PodAddressPools (a platform team with patch rights, not the network
// team) tries to widen an approved pool through the in-process API server, with the shipped
// RBAC and admission policies and bearer-token identities. Two layers, each tested alone:
//   - with the shipped policy, every widening is refused (403) and the pool is unchanged;
//   - with the policy's binding deleted (a cluster before 1.30, a bypass), the same writes
//     succeed, and the node's BGP plan, made from the stored objects as an agent makes it,
//     refuses the widened pool (ApprovalStale) while the untouched pool stays advertised.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { type ApiServer, startApiServer } from '../src/apiserver/index.js';
import type { Obj } from '../src/apiserver/resources.js';
import { API_VERSION, type PodAddressPool } from '../src/api/types.js';
import { approvePool } from '../src/bgp/approval.js';
import { nodeFixture, peerFixture } from '../testkit/bgp-fixtures.js';
import { buildBgpPlan } from '../src/bgp/model.js';
import { renderBirdConf } from '../src/bgp/render.js';
import { KubeApiError, KubeClient } from '../src/kube/client.js';
import { LAB_NETWORK_TEAM } from '../src/lab/objects.js';

let api: ApiServer;
let tenant: KubeClient;
const BINDING = 'podlb-pool-approval';
const path = (name: string) => `/apis/${API_VERSION}/podaddresspools/${name}`;
const stored = (name: string) => api.store.get('podaddresspools', name) as unknown as PodAddressPool;
const DECISION = { by: 'network-team:alice', reason: 'NETREQ-1', time: '2026-11-22T10:00:00Z' };

function pool(name: string, spec: Partial<PodAddressPool['spec']>): PodAddressPool {
  return approvePool({ apiVersion: API_VERSION, kind: 'PodAddressPool', metadata: { name }, spec: { cidrs: ['10.244.0.0/16'], ...spec } }, DECISION);
}

// rack r12 only: the network team excluded the other racks. And a second, untouched pool.
const WIDENED = pool('tokyo', {
  cidrs: ['10.244.0.0/16'],
  advertise: 'NodeCIDR',
  nodeSelector: { matchLabels: { 'topology.kubernetes.io/rack': 'r12' } },
  communities: ['65000:100'],
});
const UNTOUCHED = pool('osaka', { cidrs: ['10.250.0.0/16'], advertise: 'NodeCIDR' });
// A node in rack r13: excluded from tokyo, selected by osaka.
const NODE = nodeFixture({
  name: 'node-r13',
  labels: { 'topology.kubernetes.io/rack': 'r13', 'podlb.io/bgp': 'true' },
  podCIDRs: ['10.244.13.0/24', '10.250.13.0/24'],
});

// [what the tenant does, merge patch]
const WIDENINGS: [string, object][] = [
  ['removes the nodeSelector', { spec: { nodeSelector: null } }],
  [
    'changes the nodeSelector to an Exists match',
    { spec: { nodeSelector: { matchLabels: null, matchExpressions: [{ key: 'podlb.io/bgp', operator: 'Exists' }] } } },
  ],
  ['switches advertise to PodIPs', { spec: { advertise: 'PodIPs' } }],
  ['adds the BLACKHOLE community 65535:666', { spec: { communities: ['65000:100', '65535:666'] } }],
  ['strips the approval to a bare {state: Approved}', { spec: { approval: { by: null, reason: null, time: null, digest: null, fieldDigests: null } } }],
];

beforeAll(async () => {
  api = await startApiServer();
  api.installManifests();
  // The tenant may write pools (RBAC cannot limit which fields): the approval policy decides.
  api.store.create('clusterroles', {
    metadata: { name: 'pool-editor' },
    rules: [{ apiGroups: ['podlb.io'], resources: ['podaddresspools'], verbs: ['get', 'list', 'patch', 'update'] }],
  });
  api.store.create('clusterrolebindings', {
    metadata: { name: 'platform-pool-editor' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'pool-editor' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'platform' }],
  });
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfigForToken(api.addToken({ username: 'pat', groups: ['platform'] }), 'pat'));
  tenant = new KubeClient(kc);
});
afterAll(async () => {
  await api.close();
});

beforeEach(() => {
  for (const p of api.store.list('podaddresspools').items) api.store.delete('podaddresspools', p.metadata.name);
  for (const p of [WIDENED, UNTOUCHED]) api.store.create('podaddresspools', structuredClone(p) as unknown as Obj, { user: LAB_NETWORK_TEAM });
});

const planFromStore = () =>
  buildBgpPlan({ node: NODE, pools: [stored('tokyo'), stored('osaka')], peers: [peerFixture('tor', { nodeSelector: {} })], secrets: [] });

describe('a tenant widening an approved pool', () => {
  it('before anything: the excluded node advertises only the other pool', () => {
    expect(planFromStore().advertised.map((a) => `${a.prefix} ${a.pool}`)).toEqual(['10.250.13.0/24 osaka']);
  });

  it.each(WIDENINGS)('%s: refused by the shipped policy, pool unchanged', async (_n, patch) => {
    const before = stored('tokyo');
    let err: unknown;
    await tenant.patch(path('tokyo'), patch, 'merge').catch((e: unknown) => (err = e));
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).status).toBe(403);
    expect((err as KubeApiError).message).toContain(`ValidatingAdmissionPolicy 'podlb-pool-approval' with binding '${BINDING}' denied request`);
    expect(stored('tokyo').spec).toEqual(before.spec);
  });

  it.each(WIDENINGS)('%s: without the policy the write succeeds, and the plan refuses the pool (ApprovalStale)', async (_n, patch) => {
    const binding = api.store.get('validatingadmissionpolicybindings', BINDING);
    api.store.delete('validatingadmissionpolicybindings', BINDING);
    try {
      await tenant.patch(path('tokyo'), patch, 'merge');
    } finally {
      const { resourceVersion: _rv, uid: _uid, creationTimestamp: _ct, generation: _g, managedFields: _mf, ...metadata } = binding.metadata;
      api.store.create('validatingadmissionpolicybindings', { ...binding, metadata });
    }
    expect(stored('tokyo').spec.approval?.state).toBe('Approved');
    const r = planFromStore();
    expect(r.advertised.map((a) => `${a.prefix} ${a.pool}`)).toEqual(['10.250.13.0/24 osaka']);
    expect(r.problems.find((p) => p.object.name === 'tokyo')).toMatchObject({
      reason: 'ApprovalStale',
      severity: 'Warning',
      message: expect.stringContaining('kubectl podlb approve tokyo'),
    });
    const conf = renderBirdConf(r.model);
    expect(conf).not.toContain('10.244.');
    expect(conf).not.toContain('65535');
  });
});
