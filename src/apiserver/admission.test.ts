// ValidatingAdmissionPolicy in the in-process API server, with the shipped policy, binding and
// parameter (daemonset/admission-policy.yaml) created in the store like `kubectl apply` would.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadYamlDocs, repoRoot } from './crds.js';
import { refusal } from '../../testkit/api-errors.js';
import { ObjectStore, type Obj } from './store.js';
import type { UserInfo } from './user.js';

const docs = loadYamlDocs(join(repoRoot(), 'daemonset/admission-policy.yaml')) as Obj[];
const byKind = (k: string): Obj => docs.find((d) => d.kind === k)!;

const TEAM: UserInfo = { username: 'alice', groups: ['podlb:network-team', 'system:authenticated'] };
const PLATFORM: UserInfo = { username: 'bob', groups: ['platform', 'system:authenticated'] };
const CIDRS = ['10.244.0.0/16'];
const APPROVED = { state: 'Approved', by: 'netops:alice', reason: 'NETREQ-1', time: '2026-12-06T07:00:00Z' };
const pool = (approval?: Obj, cidrs = CIDRS): Obj => ({
  apiVersion: 'podlb.io/v1alpha1',
  kind: 'PodAddressPool',
  metadata: { name: 'tokyo' },
  spec: { cidrs, ...(approval ? { approval } : {}) },
});

function storeWithPolicy(opts: { configMap?: boolean; actions?: string[] } = {}): ObjectStore {
  const s = new ObjectStore();
  s.create('namespaces', { metadata: { name: 'podlb-system' } });
  s.create('validatingadmissionpolicies.admissionregistration.k8s.io', byKind('ValidatingAdmissionPolicy'));
  const binding = structuredClone(byKind('ValidatingAdmissionPolicyBinding'));
  if (opts.actions) binding.spec.validationActions = opts.actions;
  s.create('validatingadmissionpolicybindings.admissionregistration.k8s.io', binding);
  if (opts.configMap !== false) s.create('configmaps', byKind('ConfigMap'));
  return s;
}

describe('the shipped pool-approval policy, enforced by the server', () => {
  it('lets anyone create a Pending pool and only the network team approve it', () => {
    const s = storeWithPolicy();
    s.create('podaddresspools', pool({ state: 'Pending' }), { user: PLATFORM });
    const st = refusal(() => s.patch('podaddresspools', 'tokyo', undefined, 'merge', { spec: { approval: APPROVED } }, { user: PLATFORM }));
    expect(st.code).toBe(403);
    expect(st.reason).toBe('Forbidden');
    const message =
      "ValidatingAdmissionPolicy 'podlb-pool-approval' with binding 'podlb-pool-approval' denied request: spec.approval.state: only members of the network team (groups: podlb:network-team) may change it from Pending to Approved";
    expect(st.message).toMatch(new RegExp(`^podaddresspools\\.podlb\\.io "tokyo" is forbidden: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    expect(st.details).toMatchObject({ name: 'tokyo', group: 'podlb.io', kind: 'podaddresspools' });
    expect(st.details?.causes?.[0]?.message).toContain(message);

    const approved = s.patch('podaddresspools', 'tokyo', undefined, 'merge', { spec: { approval: APPROVED } }, { user: TEAM });
    expect(approved.spec.approval.state).toBe('Approved');
  });

  it('refuses a CIDR change that keeps the approval, whoever sends it, and allows it with a reset to Pending', () => {
    const s = storeWithPolicy();
    s.create('podaddresspools', pool(APPROVED), { user: TEAM });
    expect(refusal(() => s.patch('podaddresspools', 'tokyo', undefined, 'merge', { spec: { cidrs: ['10.244.0.0/15'] } }, { user: TEAM })).message).toContain(
      'spec.cidrs changed while spec.approval.state is Approved',
    );
    const reset = s.patch(
      'podaddresspools',
      'tokyo',
      undefined,
      'merge',
      { spec: { cidrs: ['10.244.0.0/15'], approval: { state: 'Pending' } } },
      { user: PLATFORM },
    );
    expect(reset.spec.approval.state).toBe('Pending');
  });

  it('does not match /status, and checks dry runs and PUTs like any write', () => {
    const s = storeWithPolicy();
    const p = s.create('podaddresspools', pool(), { user: PLATFORM });
    expect(s.updateStatus('podaddresspools', { ...p, status: { advertisedNodes: 1 } }, { user: PLATFORM }).status.advertisedNodes).toBe(1);
    const cur = s.get('podaddresspools', 'tokyo');
    expect(refusal(() => s.update('podaddresspools', { ...cur, spec: { ...cur.spec, approval: APPROVED } }, { user: PLATFORM, dryRun: true })).code).toBe(403);
    expect(refusal(() => s.create('podaddresspools', { ...pool(APPROVED), metadata: { name: 'other' } }, { user: PLATFORM })).code).toBe(403);
  });

  it('applies to in-process writes too (system:masters is not exempt from admission policies)', () => {
    const s = storeWithPolicy();
    expect(refusal(() => s.create('podaddresspools', pool(APPROVED))).code).toBe(403);
  });

  it('denies every pool write while the parameter ConfigMap is missing (parameterNotFoundAction: Deny)', () => {
    const s = storeWithPolicy({ configMap: false });
    const st = refusal(() => s.create('podaddresspools', pool(), { user: TEAM }));
    expect(st.code).toBe(422);
    expect(st.reason).toBe('Invalid');
    expect(st.message).toBe(
      "podaddresspools.podlb.io \"tokyo\" is forbidden: ValidatingAdmissionPolicy 'podlb-pool-approval' with binding 'podlb-pool-approval' denied request: failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction",
    );
  });

  it('a Warn or Audit binding never refuses', () => {
    const s = storeWithPolicy({ actions: ['Warn', 'Audit'] });
    expect(s.create('podaddresspools', pool(APPROVED), { user: PLATFORM }).spec.approval.state).toBe('Approved');
  });

  it('refuses a binding the real server refuses', () => {
    const s = storeWithPolicy();
    const b: Obj = structuredClone(byKind('ValidatingAdmissionPolicyBinding'));
    b.metadata = { name: 'both' };
    b.spec.validationActions = ['Deny', 'Warn'];
    expect(refusal(() => s.create('validatingadmissionpolicybindings', b)).code).toBe(422);
  });
});
