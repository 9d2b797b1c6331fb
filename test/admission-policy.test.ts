// The pool-approval ValidatingAdmissionPolicy (daemonset/admission-policy.yaml), evaluated: every
// CEL expression of the shipped YAML runs in a real CEL implementation (@marcbachmann/cel-js)
// against a table of admission requests, with the API server's variable, message and
// failurePolicy semantics (src/policy/vap-eval.ts). Every pool in the table is also one the CRD
// schema accepts, since schema validation runs before validating admission. The table runs
// twice: through evaluatePolicy, and through the in-process API server with the shipped
// policy objects in its store.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { PodAddressPool } from '../src/api/types.js';
import { type AdmissionInput, type ValidatingAdmissionPolicy, checkExpression, evaluatePolicy, policyExpressions } from '../src/policy/vap-eval.js';
import { loadYamlDocs, repoRoot, validateAgainstCrds } from '../testkit/install-schema.js';
import { ApiError, ObjectStore, type Obj, type UserInfo } from '../src/apiserver/index.js';

type Doc = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec?: Record<string, unknown>; data?: Record<string, string> };
const docs = loadYamlDocs(join(repoRoot(), 'daemonset/admission-policy.yaml')) as Doc[];
const policy = docs.find((d) => d.kind === 'ValidatingAdmissionPolicy') as unknown as ValidatingAdmissionPolicy;
const binding = docs.find((d) => d.kind === 'ValidatingAdmissionPolicyBinding')!;
const configMap = docs.find((d) => d.kind === 'ConfigMap')!;

const TEAM = ['system:authenticated', 'netops'];
const PLATFORM = ['system:authenticated', 'platform'];
const params = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'podlb-network-team', namespace: 'podlb-system' },
  data: { groups: 'netops, oidc:network-admins' },
};

type Approval = NonNullable<PodAddressPool['spec']['approval']>;
function pool(cidrs: string[], approval?: Approval, extra: Partial<PodAddressPool['spec']> = {}): PodAddressPool {
  return {
    apiVersion: 'podlb.io/v1alpha1',
    kind: 'PodAddressPool',
    metadata: { name: 'tokyo-pods' },
    spec: { cidrs, advertise: 'NodeCIDR', ...extra, ...(approval ? { approval } : {}) },
  };
}
const CIDRS = ['10.244.0.0/16', 'fd00:244::/56'];
// The policy never computes digests (CEL cannot hash); any value of the schema's format does here.
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const APPROVED: Approval = {
  state: 'Approved',
  by: 'netops:alice',
  reason: 'NETREQ-1234',
  time: '2026-11-22T10:00:00Z',
  digest: DIGEST,
  fieldDigests: { cidrs: DIGEST, advertise: DIGEST },
};
const REJECTED: Approval = { state: 'Rejected', by: 'netops:alice', reason: 'overlaps DC range', time: '2026-11-22T10:00:00Z' };

function req(groups: string[] | undefined, object: PodAddressPool, oldObject?: PodAddressPool, p: unknown = params): AdmissionInput {
  return {
    operation: oldObject ? 'UPDATE' : 'CREATE',
    resource: { group: 'podlb.io', version: 'v1alpha1', resource: 'podaddresspools' },
    object,
    ...(oldObject ? { oldObject } : {}),
    userInfo: { username: groups?.includes('netops') ? 'alice' : 'bob', ...(groups ? { groups } : {}) },
    params: p,
  };
}

describe('the manifest', () => {
  it('is a v1 policy with failurePolicy Fail, a Deny binding and the ConfigMap parameter', () => {
    expect(policy.apiVersion).toBe('admissionregistration.k8s.io/v1');
    expect(policy.spec.failurePolicy).toBe('Fail');
    expect(policy.spec.paramKind).toEqual({ apiVersion: 'v1', kind: 'ConfigMap' });
    expect(policy.spec.matchConstraints?.resourceRules).toEqual([
      { apiGroups: ['podlb.io'], apiVersions: ['v1alpha1'], operations: ['CREATE', 'UPDATE'], resources: ['podaddresspools'] },
    ]);
    expect(binding.apiVersion).toBe('admissionregistration.k8s.io/v1');
    expect(binding.spec).toEqual({
      policyName: policy.metadata.name,
      validationActions: ['Deny'],
      paramRef: { name: configMap.metadata.name, namespace: configMap.metadata.namespace, parameterNotFoundAction: 'Deny' },
    });
    expect(configMap.metadata).toMatchObject({ name: 'podlb-network-team', namespace: 'podlb-system' });
    expect(configMap.data?.groups).toBeTruthy();
  });

  it('every validation has reason Forbidden and a messageExpression', () => {
    for (const v of policy.spec.validations ?? []) {
      expect(v.reason).toBe('Forbidden');
      expect(v.messageExpression).toBeTruthy();
    }
  });

  it.each(policyExpressions(policy).map((e) => [e.where, e.expression]))('%s parses and type-checks', (_where, expression) => {
    expect(() => checkExpression(expression)).not.toThrow();
  });

  it('compares every spec field of the CRD but approval (the content an approval covers)', () => {
    const crd = loadYamlDocs(join(repoRoot(), 'daemonset/crds/podlb.io_podaddresspools.yaml'))[0] as {
      spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, unknown> } } } } }[] };
    };
    const fields = Object.keys(crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec.properties).filter((f) => f !== 'approval');
    expect(fields.length).toBeGreaterThanOrEqual(4);
    const changed = policy.spec.variables!.find((v) => v.name === 'changedFields')!.expression;
    for (const f of fields) expect(changed, `spec.${f}`).toContain(`['spec.${f}']`);
  });

  it('uses no optional types (.?field), which older API servers reject', () => {
    for (const e of policyExpressions(policy)) expect(e.expression, e.where).not.toMatch(/\.\?|\[\?/);
  });
});

// [name, request, allowed, text every message must contain (when denied)]
const cases: [string, AdmissionInput, boolean, string?][] = [
  // CREATE
  ['non-member creates a pool without approval', req(PLATFORM, pool(CIDRS)), true],
  ['non-member creates a pool with state Pending', req(PLATFORM, pool(CIDRS, { state: 'Pending' })), true],
  [
    'non-member creates an Approved pool',
    req(PLATFORM, pool(CIDRS, APPROVED)),
    false,
    'spec.approval.state: only members of the network team (groups: netops, oidc:network-admins) may change it from Pending to Approved',
  ],
  [
    'non-member creates a Pending pool with a reason',
    req(PLATFORM, pool(CIDRS, { state: 'Pending', reason: 'pre-approved, trust me' })),
    false,
    'spec.approval.reason: only members',
  ],
  ['member creates an Approved pool', req(TEAM, pool(CIDRS, APPROVED)), true],
  ['member via the second configured group', req(['system:authenticated', 'oidc:network-admins'], pool(CIDRS, APPROVED)), true],
  ['user without groups creates an Approved pool', req(undefined, pool(CIDRS, APPROVED)), false, 'spec.approval.state'],
  // approve / reject
  ['member approves a Pending pool', req(TEAM, pool(CIDRS, APPROVED), pool(CIDRS, { state: 'Pending' })), true],
  ['member approves a pool without approval', req(TEAM, pool(CIDRS, APPROVED), pool(CIDRS)), true],
  ['member rejects an Approved pool', req(TEAM, pool(CIDRS, REJECTED), pool(CIDRS, APPROVED)), true],
  ['non-member approves', req(PLATFORM, pool(CIDRS, APPROVED), pool(CIDRS, { state: 'Pending' })), false, 'kubectl podlb approve tokyo-pods --reason TEXT'],
  ['non-member rejects', req(PLATFORM, pool(CIDRS, REJECTED), pool(CIDRS)), false, 'kubectl podlb reject tokyo-pods'],
  [
    'non-member approves a Rejected pool',
    req(PLATFORM, pool(CIDRS, { ...REJECTED, state: 'Approved' }), pool(CIDRS, REJECTED)),
    false,
    'from Rejected to Approved',
  ],
  [
    'non-member withdraws an approval without a CIDR change',
    req(PLATFORM, pool(CIDRS, { ...APPROVED, state: 'Pending' }), pool(CIDRS, APPROVED)),
    false,
    'from Approved to Pending',
  ],
  ['non-member removes an approval without a CIDR change', req(PLATFORM, pool(CIDRS), pool(CIDRS, APPROVED)), false, 'from Approved to Pending'],
  [
    'non-member rewrites the reason of an Approved pool',
    req(PLATFORM, pool(CIDRS, { ...APPROVED, reason: 'NETREQ-9999' }), pool(CIDRS, APPROVED)),
    false,
    'spec.approval.reason: only members',
  ],
  [
    'non-member rewrites by and time',
    req(PLATFORM, pool(CIDRS, { ...APPROVED, by: 'netops:mallory', time: '2026-12-01T00:00:00Z' }), pool(CIDRS, APPROVED)),
    false,
    'spec.approval.by, spec.approval.time: only members',
  ],
  [
    'non-member adds by to an approval that had none',
    req(PLATFORM, pool(CIDRS, { state: 'Approved', by: 'x' }), pool(CIDRS, { state: 'Approved' })),
    false,
    'spec.approval.by',
  ],
  ['member changes by/reason/time only', req(TEAM, pool(CIDRS, { ...APPROVED, reason: 'NETREQ-1235' }), pool(CIDRS, APPROVED)), true],
  // other fields
  // every content field is covered by the approval, not only cidrs
  [
    'non-member adds a community to an Approved pool',
    req(PLATFORM, pool(CIDRS, APPROVED, { communities: ['65000:100'] }), pool(CIDRS, APPROVED)),
    false,
    'spec.communities changed while spec.approval.state is Approved',
  ],
  [
    'non-member adds BLACKHOLE to the communities of an Approved pool',
    req(PLATFORM, pool(CIDRS, APPROVED, { communities: ['65000:100', '65535:666'] }), pool(CIDRS, APPROVED, { communities: ['65000:100'] })),
    false,
    'spec.communities changed',
  ],
  [
    'non-member adds an empty communities list to an Approved pool',
    req(PLATFORM, pool(CIDRS, APPROVED, { communities: [] }), pool(CIDRS, APPROVED)),
    false,
    'spec.communities changed',
  ],
  [
    'non-member reorders the communities of an Approved pool (a set: no change)',
    req(PLATFORM, pool(CIDRS, APPROVED, { communities: ['2:2', '1:1'] }), pool(CIDRS, APPROVED, { communities: ['1:1', '2:2'] })),
    true,
  ],
  [
    'non-member removes the nodeSelector of an Approved pool',
    req(PLATFORM, pool(CIDRS, APPROVED), pool(CIDRS, APPROVED, { nodeSelector: { matchLabels: { rack: 'r12' } } })),
    false,
    'spec.nodeSelector changed while spec.approval.state is Approved',
  ],
  [
    'non-member widens the nodeSelector to an Exists match',
    req(
      PLATFORM,
      pool(CIDRS, APPROVED, { nodeSelector: { matchExpressions: [{ key: 'rack', operator: 'Exists' }] } }),
      pool(CIDRS, APPROVED, { nodeSelector: { matchLabels: { rack: 'r12' } } }),
    ),
    false,
    'spec.nodeSelector changed',
  ],
  [
    'non-member switches advertise NodeCIDR to PodIPs',
    req(PLATFORM, pool(CIDRS, APPROVED, { advertise: 'PodIPs' }), pool(CIDRS, APPROVED)),
    false,
    'spec.advertise changed',
  ],
  [
    'non-member removes advertise (NodeCIDR by default: still a change)',
    req(PLATFORM, { ...pool(CIDRS, APPROVED), spec: { cidrs: CIDRS, approval: APPROVED } }, pool(CIDRS, APPROVED)),
    false,
    'spec.advertise changed',
  ],
  [
    'non-member changes cidrs and communities together: both named',
    req(PLATFORM, pool(['10.244.0.0/15'], APPROVED, { communities: ['1:1'] }), pool(CIDRS, APPROVED)),
    false,
    'spec.cidrs, spec.communities changed',
  ],
  [
    'member changes advertise of an Approved pool and keeps it Approved',
    req(TEAM, pool(CIDRS, APPROVED, { advertise: 'PodIPs' }), pool(CIDRS, APPROVED)),
    false,
    'spec.advertise changed',
  ],
  [
    'non-member changes nodeSelector and resets to {state: Pending}',
    req(PLATFORM, pool(CIDRS, { state: 'Pending' }), pool(CIDRS, APPROVED, { nodeSelector: { matchLabels: { rack: 'r12' } } })),
    true,
  ],
  [
    'non-member changes communities, resets to Pending and keeps the record (a merge patch)',
    req(PLATFORM, pool(CIDRS, { ...APPROVED, state: 'Pending' }, { communities: ['1:1'] }), pool(CIDRS, APPROVED)),
    true,
  ],
  // the approval record of an Approved pool
  [
    'non-member strips the approval to a bare {state: Approved}',
    req(PLATFORM, pool(CIDRS, { state: 'Approved' }), pool(CIDRS, APPROVED)),
    false,
    'spec.approval: while the pool is Approved only members of the network team',
  ],
  [
    'non-member removes only the digest',
    req(PLATFORM, pool(CIDRS, (({ digest: _d, ...a }) => a)(APPROVED)), pool(CIDRS, APPROVED)),
    false,
    'spec.approval: while the pool is Approved',
  ],
  [
    'non-member writes a digest',
    req(PLATFORM, pool(CIDRS, { ...APPROVED, digest: `sha256:${'cd'.repeat(32)}` }), pool(CIDRS, APPROVED)),
    false,
    'spec.approval.digest: only members',
  ],
  [
    'non-member writes fieldDigests',
    req(PLATFORM, pool(CIDRS, { ...APPROVED, fieldDigests: { cidrs: DIGEST } }), pool(CIDRS, APPROVED)),
    false,
    'spec.approval.fieldDigests: only members',
  ],
  [
    'member re-approves the same content with a new digest',
    req(TEAM, pool(CIDRS, { ...APPROVED, digest: `sha256:${'cd'.repeat(32)}`, time: '2026-12-01T00:00:00Z' }), pool(CIDRS, APPROVED)),
    true,
  ],
  [
    'non-member edits nodeSelector and advertise of a Pending pool',
    req(
      PLATFORM,
      pool(CIDRS, { state: 'Pending' }, { advertise: 'PodIPs', nodeSelector: { matchLabels: { rack: 'r12' } } }),
      pool(CIDRS, { state: 'Pending' }),
    ),
    true,
  ],
  ['non-member reorders the CIDRs of an Approved pool (a set: no change)', req(PLATFORM, pool([...CIDRS].reverse(), APPROVED), pool(CIDRS, APPROVED)), true],
  // CIDR changes
  [
    'member changes CIDRs of an Approved pool and keeps it Approved',
    req(TEAM, pool(['10.244.0.0/15'], APPROVED), pool(CIDRS, APPROVED)),
    false,
    'spec.cidrs changed while spec.approval.state is Approved',
  ],
  [
    'non-member adds a CIDR to an Approved pool and keeps it Approved',
    req(PLATFORM, pool([...CIDRS, '10.250.0.0/16'], APPROVED), pool(CIDRS, APPROVED)),
    false,
    'set spec.approval.state to Pending in the same update',
  ],
  [
    'non-member removes a CIDR of an Approved pool and keeps it Approved',
    req(PLATFORM, pool(['10.244.0.0/16'], APPROVED), pool(CIDRS, APPROVED)),
    false,
    'spec.cidrs changed',
  ],
  [
    'member changes CIDRs of a Pending pool and approves in the same update',
    req(TEAM, pool(['10.244.0.0/15'], APPROVED), pool(CIDRS, { state: 'Pending' })),
    false,
    'spec.cidrs changed',
  ],
  [
    'non-member changes CIDRs and resets to Pending (keeping by/reason/time: a merge patch)',
    req(PLATFORM, pool(['10.244.0.0/15'], { ...APPROVED, state: 'Pending' }), pool(CIDRS, APPROVED)),
    true,
  ],
  ['non-member changes CIDRs and resets to {state: Pending}', req(PLATFORM, pool(['10.244.0.0/15'], { state: 'Pending' }), pool(CIDRS, APPROVED)), true],
  ['non-member changes CIDRs and removes the approval', req(PLATFORM, pool(['10.244.0.0/15']), pool(CIDRS, APPROVED)), true],
  [
    'non-member changes CIDRs, resets to Pending and writes a new reason',
    req(PLATFORM, pool(['10.244.0.0/15'], { ...APPROVED, state: 'Pending', reason: 'bigger' }), pool(CIDRS, APPROVED)),
    false,
    'spec.approval.reason',
  ],
  ['member changes CIDRs and resets to Pending', req(TEAM, pool(['10.244.0.0/15'], { state: 'Pending' }), pool(CIDRS, APPROVED)), true],
  [
    'non-member changes CIDRs of a Rejected pool, resubmitting it as Pending',
    req(PLATFORM, pool(['10.245.0.0/16'], { ...REJECTED, state: 'Pending' }), pool(CIDRS, REJECTED)),
    true,
  ],
  ['non-member changes CIDRs of a Rejected pool, leaving it Rejected', req(PLATFORM, pool(['10.245.0.0/16'], REJECTED), pool(CIDRS, REJECTED)), true],
  ['non-member changes CIDRs of a Pending pool', req(PLATFORM, pool(['10.244.0.0/15']), pool(CIDRS)), true],
  // the parameter
  [
    'ConfigMap without groups: nobody may approve',
    req(TEAM, pool(CIDRS, APPROVED), pool(CIDRS), { ...params, data: {} }),
    false,
    'no group is configured: ConfigMap podlb-system/podlb-network-team',
  ],
  [
    'ConfigMap without data: nobody may approve',
    req(TEAM, pool(CIDRS, APPROVED), pool(CIDRS), { apiVersion: 'v1', kind: 'ConfigMap', metadata: params.metadata }),
    false,
    'no group is configured',
  ],
  [
    'ConfigMap without data: Pending pools still work',
    req(PLATFORM, pool(CIDRS), undefined, { apiVersion: 'v1', kind: 'ConfigMap', metadata: params.metadata }),
    true,
  ],
  ['the shipped default group approves', req(['system:authenticated', 'podlb:network-team'], pool(CIDRS, APPROVED), pool(CIDRS), configMap), true],
];

describe('admission decisions', () => {
  it.each(cases)('%s', (_name, input, allowed, text) => {
    for (const o of [input.object, input.oldObject]) if (o) expect(validateAgainstCrds(o), 'the CRD schema accepts the object').toEqual([]);
    const v = evaluatePolicy(policy, input);
    expect(v.matched).toBe(true);
    if (!v.allowed) expect(v.errors, 'no CEL evaluation errors').toEqual([]);
    expect(v.allowed, v.allowed ? 'allowed' : v.messages.join('\n')).toBe(allowed);
    if (!v.allowed && text) {
      expect(v.reason).toBe('Forbidden');
      expect(v.messages.join('\n')).toContain(text);
    }
  });

  it('a denial that breaks several rules reports each one', () => {
    const v = evaluatePolicy(policy, req(PLATFORM, pool(['10.244.0.0/15'], { ...APPROVED, reason: 'mine' }), pool(CIDRS, { state: 'Pending' })));
    expect(v.allowed).toBe(false);
    if (v.allowed) return;
    expect(v.messages).toHaveLength(3);
  });

  it('does not match the status subresource, DELETE, or other resources', () => {
    const base = req(PLATFORM, pool(CIDRS, APPROVED), pool(CIDRS));
    expect(evaluatePolicy(policy, { ...base, subResource: 'status' })).toEqual({ allowed: true, matched: false });
    expect(evaluatePolicy(policy, { ...base, operation: 'DELETE' })).toEqual({ allowed: true, matched: false });
    expect(evaluatePolicy(policy, { ...base, resource: { group: 'podlb.io', version: 'v1alpha1', resource: 'bgppeers' } })).toEqual({
      allowed: true,
      matched: false,
    });
  });

  it('an evaluation error denies (failurePolicy Fail)', () => {
    // A pool without spec.cidrs cannot pass the CRD schema; if it ever reached the policy, the
    // cidrs comparison would fail to evaluate, and Fail turns that into a denial. (CEL's && and
    // || absorb errors when the other side decides, so the pool is Approved here.)
    const broken = {
      apiVersion: 'podlb.io/v1alpha1',
      kind: 'PodAddressPool',
      metadata: { name: 'x' },
      spec: { approval: APPROVED },
    } as unknown as PodAddressPool;
    const v = evaluatePolicy(policy, req(TEAM, broken, pool(CIDRS, APPROVED)));
    expect(v.allowed).toBe(false);
    if (!v.allowed) expect(v.errors.length).toBeGreaterThan(0);
  });
});

// The same table through the in-process API server, with the shipped policy, binding and a
// parameter ConfigMap created in its store: what a real cluster does with these requests.
describe('admission decisions, enforced by the API server', () => {
  it.each(cases)('%s', (_name, input, allowed, text) => {
    const s = new ObjectStore();
    s.create('namespaces', { metadata: { name: 'podlb-system' } });
    s.create('validatingadmissionpolicies', policy as unknown as Obj);
    if (input.params) s.create('configmaps', { ...(input.params as Obj), metadata: { name: 'podlb-network-team', namespace: 'podlb-system' } });
    // The stored object predates the binding, whoever wrote it.
    if (input.oldObject) s.create('podaddresspools', input.oldObject as unknown as Obj);
    s.create('validatingadmissionpolicybindings', binding as unknown as Obj);
    const user: UserInfo = { username: input.userInfo.username, groups: input.userInfo.groups ?? [] };
    const write = (): Obj => {
      if (!input.oldObject) return s.create('podaddresspools', input.object as Obj, { user });
      const cur = s.get('podaddresspools', (input.object as PodAddressPool).metadata.name ?? '');
      return s.update('podaddresspools', { ...(input.object as Obj), metadata: cur.metadata }, { user });
    };
    if (allowed) {
      expect(() => write()).not.toThrow();
      return;
    }
    let err: unknown;
    try {
      write();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    const st = (err as ApiError).status;
    expect(st.code).toBe(403);
    expect(st.reason).toBe('Forbidden');
    expect(st.message).toMatch(
      /^podaddresspools\.podlb\.io "tokyo-pods" is forbidden: ValidatingAdmissionPolicy 'podlb-pool-approval' with binding 'podlb-pool-approval' denied request: /,
    );
    if (text) expect(st.message).toContain(text);
  });
});
