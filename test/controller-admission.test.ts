// A stolen controller token against podlb's own MutatingWebhookConfiguration, on the in-process
// API server with the shipped RBAC and admission policies (daemonset/controller-admission-policy.yaml)
// and the controller's Pod-bound token: RBAC lets it patch only the object named podlb; the
// policy lets that patch set only the CA bundle, which is all the TLS manager writes. Its other
// write, PodAddressPool status, cannot make a pool advertised: agents decide from the approved
// spec and its digest, never from status.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { type ApiServer, startApiServer } from '../src/apiserver/index.js';
import type { Obj } from '../src/apiserver/resources.js';
import { CONTROLLER_SERVICE_ACCOUNT, controllerResources } from '../testkit/controller-resources.js';
import { KubeApiError, KubeClient } from '../src/kube/client.js';
import { type ValidatingAdmissionPolicy, checkExpression, policyExpressions } from '../src/policy/vap-eval.js';
import { loadYamlDocs, repoRoot } from '../testkit/install-schema.js';
import { API_VERSION, type PodAddressPool } from '../src/api/types.js';
import { approvePool } from '../src/bgp/approval.js';
import { buildBgpPlan } from '../src/bgp/model.js';
import { renderBirdConf } from '../src/bgp/render.js';
import { LAB_NETWORK_TEAM } from '../src/lab/objects.js';
import { nodeFixture, peerFixture } from '../testkit/bgp-fixtures.js';

const POLICY = 'podlb-controller-webhook-scope';
const MWC = 'mutatingwebhookconfigurations.admissionregistration.k8s.io';
const PATH = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/podlb';
const shipped = loadYamlDocs(join(repoRoot(), 'daemonset/webhook.yaml'))[0] as Obj;
const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64');

let api: ApiServer;
let ctl: KubeClient;

async function refusal(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
    return { code: 200, message: '' };
  } catch (err) {
    if (!(err instanceof KubeApiError)) throw err;
    return { code: err.status, message: err.message };
  }
}

beforeAll(async () => {
  api = await startApiServer({ resources: controllerResources() });
  api.installManifests();
  ctl = new KubeClient(api.podIdentity({ serviceAccount: CONTROLLER_SERVICE_ACCOUNT, nodeName: 'control-plane' }).kubeConfig());
});
afterAll(() => api.close());
beforeEach(() => {
  for (const o of api.store.list(MWC).items) api.store.delete(MWC, o.metadata.name);
  api.store.create(MWC, structuredClone(shipped));
});

describe('the manifest', () => {
  const policy = (loadYamlDocs(join(repoRoot(), 'daemonset/controller-admission-policy.yaml')) as { kind: string }[]).find(
    (d) => d.kind === 'ValidatingAdmissionPolicy',
  ) as unknown as ValidatingAdmissionPolicy;
  it.each(policyExpressions(policy).map((e) => [e.where, e.expression]))('%s parses, type-checks and uses no optional types', (_w, expression) => {
    expect(() => checkExpression(expression)).not.toThrow();
    expect(expression).not.toMatch(/\.\?|\[\?/);
  });
});

describe('a stolen controller token', () => {
  it('sets the CA bundle as the TLS manager does (JSON patch with a test of the name)', async () => {
    await ctl.request('PATCH', PATH, {
      body: [
        { op: 'test', path: '/webhooks/0/name', value: 'readiness-gates.podlb.io' },
        { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: CA },
      ],
      contentType: 'application/json-patch+json',
    });
    expect(api.store.get(MWC, 'podlb').webhooks[0].clientConfig.caBundle).toBe(CA);
  });

  it.each<[string, object[]]>([
    ['points the webhook at another server', [{ op: 'replace', path: '/webhooks/0/clientConfig/service/name', value: 'evil' }]],
    [
      'replaces the service by a URL',
      [
        { op: 'remove', path: '/webhooks/0/clientConfig/service' },
        { op: 'add', path: '/webhooks/0/clientConfig/url', value: 'https://evil.example/mutate' },
      ],
    ],
    ['makes it fail closed', [{ op: 'replace', path: '/webhooks/0/failurePolicy', value: 'Fail' }]],
    ['widens its rules to every resource', [{ op: 'replace', path: '/webhooks/0/rules/0/resources', value: ['*'] }]],
    ['drops the namespaceSelector', [{ op: 'remove', path: '/webhooks/0/namespaceSelector' }]],
    ['adds a second webhook', [{ op: 'add', path: '/webhooks/-', value: { ...shipped.webhooks[0], name: 'more.podlb.io' } }]],
    ['relabels the object', [{ op: 'add', path: '/metadata/labels/extra', value: 'x' }]],
  ])('cannot patch anything but the CA bundle: %s', async (_n, ops) => {
    const before = api.store.get(MWC, 'podlb');
    const r = await refusal(ctl.request('PATCH', PATH, { body: ops, contentType: 'application/json-patch+json' }));
    expect(r.code).toBe(403);
    expect(r.message).toContain(
      `ValidatingAdmissionPolicy '${POLICY}' with binding '${POLICY}' denied request: podlb-controller may only set webhooks[].clientConfig.caBundle of MutatingWebhookConfiguration podlb`,
    );
    expect(api.store.get(MWC, 'podlb').webhooks).toEqual(before.webhooks);
  });

  it('cannot patch another MutatingWebhookConfiguration (RBAC resourceNames)', async () => {
    api.store.create(MWC, { ...structuredClone(shipped), metadata: { name: 'someone-elses' } });
    const r = await refusal(
      ctl.request('PATCH', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/someone-elses', {
        body: [{ op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: CA }],
        contentType: 'application/json-patch+json',
      }),
    );
    expect(r.code).toBe(403);
    expect(r.message).toContain('cannot patch resource "mutatingwebhookconfigurations"');
  });

  it('without the policy, RBAC alone lets it point the webhook at another server (what the policy is there for)', async () => {
    const binding = api.store.get('validatingadmissionpolicybindings', POLICY);
    api.store.delete('validatingadmissionpolicybindings', POLICY);
    try {
      await ctl.request('PATCH', PATH, {
        body: [{ op: 'replace', path: '/webhooks/0/clientConfig/service/name', value: 'evil' }],
        contentType: 'application/json-patch+json',
      });
      expect(api.store.get(MWC, 'podlb').webhooks[0].clientConfig.service.name).toBe('evil');
    } finally {
      const { resourceVersion: _rv, uid: _uid, creationTimestamp: _ct, generation: _g, managedFields: _mf, ...metadata } = binding.metadata;
      api.store.create('validatingadmissionpolicybindings', { ...binding, metadata });
    }
  });

  it('an administrator is not matched by the policy', () => {
    api.store.patch(MWC, 'podlb', undefined, 'json', [{ op: 'replace', path: '/webhooks/0/timeoutSeconds', value: 5 }]);
    expect(api.store.get(MWC, 'podlb').webhooks[0].timeoutSeconds).toBe(5);
  });
});

describe('a stolen controller token and the address pools', () => {
  const POOLS = `/apis/${API_VERSION}/podaddresspools`;
  const stored = (name: string) => api.store.get('podaddresspools', name) as unknown as PodAddressPool;
  const NODE = nodeFixture({ name: 'node-a', podCIDRs: ['10.244.1.0/24', '10.250.1.0/24'] });
  const planFromStore = () =>
    buildBgpPlan({ node: NODE, pools: [stored('tokyo'), stored('osaka')], peers: [peerFixture('tor', { nodeSelector: {} })], secrets: [] });

  beforeEach(() => {
    for (const p of api.store.list('podaddresspools').items) api.store.delete('podaddresspools', p.metadata.name);
    const pending = { apiVersion: API_VERSION, kind: 'PodAddressPool', metadata: { name: 'tokyo' }, spec: { cidrs: ['10.244.0.0/16'] } };
    const approved = approvePool(
      { apiVersion: API_VERSION, kind: 'PodAddressPool', metadata: { name: 'osaka' }, spec: { cidrs: ['10.250.0.0/16'] } },
      { by: LAB_NETWORK_TEAM.username, reason: 'NETREQ-2', time: '2026-11-22T10:00:00Z' },
    );
    for (const p of [pending, approved]) api.store.create('podaddresspools', p as unknown as Obj, { user: LAB_NETWORK_TEAM });
  });

  it('cannot approve a pool: the spec is not its to write (RBAC grants pool status only)', async () => {
    const r = await refusal(
      ctl.patch(
        `${POOLS}/tokyo`,
        { spec: { approval: { state: 'Approved', by: 'network-team:alice', reason: 'forged', time: '2026-11-22T10:00:00Z' } } },
        'merge',
      ),
    );
    expect(r.code).toBe(403);
    expect(r.message).toContain('cannot patch resource "podaddresspools" in API group "podlb.io"');
    expect(stored('tokyo').spec.approval).toBeUndefined();
  });

  it('forges Approved=True in status and slips an approval into the status patch: status changes, spec does not, and no agent advertises the pool', async () => {
    const forged = { type: 'Approved', status: 'True', reason: 'Approved', message: 'forged', lastTransitionTime: '2026-11-22T10:00:00Z' };
    await ctl.patch(`${POOLS}/tokyo/status`, { spec: { approval: { state: 'Approved' } }, status: { conditions: [forged], advertisedNodes: 1 } }, 'merge');
    expect(stored('tokyo').status?.conditions).toEqual([forged]);
    expect(stored('tokyo').spec).toEqual({ cidrs: ['10.244.0.0/16'] });
    const plan = planFromStore();
    expect(plan.advertised.map((a) => `${a.prefix} ${a.pool}`)).toEqual(['10.250.1.0/24 osaka']);
    expect(renderBirdConf(plan.model)).not.toContain('10.244.');
  });

  it('cannot read the BGP passwords or Octavia credentials in podlb-system', async () => {
    api.store.create(
      'secrets',
      { metadata: { name: 'bgp-md5', namespace: 'podlb-system' }, data: { password: Buffer.from('s3cret').toString('base64') } },
      { namespace: 'podlb-system' },
    );
    try {
      for (const path of ['/api/v1/namespaces/podlb-system/secrets/bgp-md5', '/api/v1/namespaces/podlb-system/secrets']) {
        const r = await refusal(ctl.request('GET', path));
        expect(r.code, path).toBe(403);
      }
    } finally {
      api.store.delete('secrets', 'bgp-md5', 'podlb-system');
    }
  });
});
