// A stolen agent token, played against the in-process API server with the shipped RBAC and
// admission policies (daemonset/agent-admission-policy.yaml) and real ServiceAccount tokens:
// node A's agent token is what the kubelet projects into the agent's Pod on node A (bound to
// that Pod, so it carries the node claim authentication.kubernetes.io/node-name). The agent's
// own writes must pass; anything outside its node and its readiness gate must be refused.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { type ApiServer, startApiServer } from '../src/apiserver/index.js';
import { EXTRA } from '../src/apiserver/authn.js';
import { API_VERSION, READINESS_GATE, type Pod } from '../src/api/types.js';
import { KubeApiError, KubeClient } from '../src/kube/client.js';
import { AGENT_SERVICE_ACCOUNT } from '../src/lab/lab.js';
import { labPod } from '../src/lab/objects.js';
import { type ValidatingAdmissionPolicy, checkExpression, policyExpressions } from '../src/policy/vap-eval.js';
import { join } from 'node:path';
import { loadYamlDocs, repoRoot } from '../testkit/install-schema.js';
import { adminKubeConfig } from '../testkit/api-client.js';

let api: ApiServer;
let agentA: KubeClient;

const POLICY = 'podlb-agent-node-scope';
const clientFor = (kc: KubeConfig): KubeClient => new KubeClient(kc);
const podPath = (name: string) => `/api/v1/namespaces/demo/pods/${name}/status`;
const getPod = (name: string) => api.store.get('pods', name, 'demo') as unknown as Pod;

async function refusal(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
    return { code: 200, message: '' };
  } catch (err) {
    if (!(err instanceof KubeApiError)) throw err;
    return { code: err.status, message: err.message };
  }
}

/** What the agent sends for a gate (src/agent/agent.ts #writeGate). */
const gatePatch = (status: 'True' | 'False') => ({
  status: {
    conditions: [
      { type: READINESS_GATE, status, reason: 'LoadBalancerHealthy', message: 'healthy on every instance', lastTransitionTime: new Date().toISOString() },
    ],
  },
});

beforeAll(async () => {
  api = await startApiServer();
  api.installManifests();
  for (const n of ['node-a', 'node-b']) api.store.create('nodes', { metadata: { name: n } });
  api.store.create('namespaces', { metadata: { name: 'demo' } });
  agentA = clientFor(api.podIdentity({ serviceAccount: AGENT_SERVICE_ACCOUNT, nodeName: 'node-a', hostNetwork: true }).kubeConfig());
});
afterAll(async () => {
  await api.close();
});

beforeEach(() => {
  for (const p of api.store.list('pods', { namespace: 'demo' }).items) api.store.delete('pods', p.metadata.name, 'demo', { gracePeriodSeconds: 0 });
  for (const n of api.store.list('podlbnodes').items) api.store.delete('podlbnodes', n.metadata.name);
  for (const [name, node, ip] of [
    ['web-a', 'node-a', '10.244.1.10'],
    ['web-b', 'node-b', '10.244.2.10'],
  ] as const) {
    api.store.create('pods', labPod(name, node), { namespace: 'demo' });
    api.store.patch(
      'pods',
      name,
      'demo',
      'merge',
      {
        status: {
          phase: 'Running',
          podIP: ip,
          podIPs: [{ ip }],
          conditions: [
            { type: 'ContainersReady', status: 'True' },
            { type: 'Ready', status: 'False' },
          ],
        },
      },
      { subresource: 'status' },
    );
  }
});

describe('the manifest', () => {
  const docs = loadYamlDocs(join(repoRoot(), 'daemonset/agent-admission-policy.yaml')) as { kind: string }[];
  const policy = docs.find((d) => d.kind === 'ValidatingAdmissionPolicy') as unknown as ValidatingAdmissionPolicy;
  it.each(policyExpressions(policy).map((e) => [e.where, e.expression]))('%s parses, type-checks and uses no optional types', (_w, expression) => {
    expect(() => checkExpression(expression)).not.toThrow();
    expect(expression).not.toMatch(/\.\?|\[\?/);
  });
  it('is installed with the others (kustomization) and matches only the agent', () => {
    expect(api.store.get('validatingadmissionpolicies', POLICY).spec.matchConditions).toEqual([
      { name: 'podlb-agent', expression: "request.userInfo.username == 'system:serviceaccount:podlb-system:podlb-agent'" },
    ]);
  });
});

describe('the node claim reaches the policy as a 1.32 API server passes it', () => {
  it("a Pod-bound token's user info carries the node name as a list of one string", async () => {
    const review = await agentA.create<{ status: { userInfo: { username: string; extra: Record<string, string[]> } } }>(
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    );
    expect(review.status.userInfo.username).toBe('system:serviceaccount:podlb-system:podlb-agent');
    expect(review.status.userInfo.extra[EXTRA.nodeName]).toEqual(['node-a']);
  });
});

describe('a stolen agent token of node A', () => {
  it("the agent's own gate patch on its node's Pod passes, and changes only the gate", async () => {
    await agentA.patch(podPath('web-a'), gatePatch('True'), 'strategic');
    const pod = getPod('web-a');
    expect(pod.status?.conditions?.map((c) => `${c.type}=${c.status}`)).toEqual(['ContainersReady=True', 'Ready=False', `${READINESS_GATE}=True`]);
    // A second write (the condition exists now) passes too.
    await agentA.patch(podPath('web-a'), gatePatch('False'), 'strategic');
  });

  it('cannot write the gate of a Pod on node B', async () => {
    const r = await refusal(agentA.patch(podPath('web-b'), gatePatch('True'), 'strategic'));
    expect(r.code).toBe(403);
    expect(r.message).toContain(
      `ValidatingAdmissionPolicy '${POLICY}' with binding '${POLICY}' denied request: podlb-agent of node node-a may write the status of Pods on node node-a only; this Pod is on node node-b`,
    );
    expect(getPod('web-b').status?.conditions?.some((c) => c.type === READINESS_GATE)).toBe(false);
  });

  it.each<[string, object, string]>([
    ['podIPs', { status: { podIPs: [{ ip: '10.96.0.1' }], podIP: '10.96.0.1' } }, 'status.podIP, status.podIPs'],
    ['the Ready condition', { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, 'other status.conditions'],
    ['phase', { status: { phase: 'Failed' } }, 'status.phase'],
    ['a new status field', { status: { message: 'hi' } }, 'status.message'],
  ])('cannot change %s of a Pod on its own node', async (_n, patch, named) => {
    const before = getPod('web-a').status;
    const r = await refusal(agentA.patch(podPath('web-a'), patch, 'merge'));
    expect(r.code).toBe(403);
    expect(r.message).toContain(`podlb-agent may change only the podlb.io/load-balancer-ready condition of a Pod's status; this write changes ${named}`);
    expect(getPod('web-a').status).toEqual(before);
  });

  it('cannot relabel a Pod through pods/status (which a status write can change)', async () => {
    const r = await refusal(agentA.patch(podPath('web-a'), { metadata: { labels: { app: 'other-service' } } }, 'merge'));
    expect(r.code).toBe(403);
    expect(r.message).toContain('this write changes metadata.labels');
    expect(getPod('web-a').metadata.labels).toEqual({ app: 'web' });
  });

  it("writes its own PodLBNode, not node B's", async () => {
    const mk = (name: string) => ({ apiVersion: API_VERSION, kind: 'PodLBNode', metadata: { name }, spec: {} });
    await agentA.create(`/apis/${API_VERSION}/podlbnodes`, mk('node-a'));
    await agentA.patch(
      `/apis/${API_VERSION}/podlbnodes/node-a/status`,
      { status: { conditions: [{ type: 'BGPReady', status: 'True', reason: 'Established' }] } },
      'merge',
    );
    const create = await refusal(agentA.create(`/apis/${API_VERSION}/podlbnodes`, mk('node-b')));
    expect(create.code).toBe(403);
    expect(create.message).toContain('podlb-agent of node node-a may write the PodLBNode node-a only, not node-b');
    api.store.create('podlbnodes', mk('node-b'));
    const status = await refusal(
      agentA.patch(
        `/apis/${API_VERSION}/podlbnodes/node-b/status`,
        { status: { conditions: [{ type: 'BGPReady', status: 'False', reason: 'Forged' }] } },
        'merge',
      ),
    );
    expect(status.code).toBe(403);
    expect(api.store.get('podlbnodes', 'node-b').status?.conditions).toBeUndefined();
  });

  it('a podlb-agent token without a node claim (not bound to the agent Pod) writes nothing', async () => {
    const admin = clientFor(adminKubeConfig(api));
    const tr = await admin.create<{ status: { token: string } }>('/api/v1/namespaces/podlb-system/serviceaccounts/podlb-agent/token', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 3600 },
    });
    const kc = new KubeConfig();
    kc.loadFromString(api.kubeconfigForToken(tr.status.token, 'unbound-agent'));
    const r = await refusal(clientFor(kc).patch(podPath('web-a'), gatePatch('True'), 'strategic'));
    expect(r.code).toBe(403);
    expect(r.message).toContain('the token carries 0 node claims');
  });

  it('without the policy, RBAC alone lets it rewrite any Pod (what the policy is there for)', async () => {
    const binding = api.store.get('validatingadmissionpolicybindings', POLICY);
    api.store.delete('validatingadmissionpolicybindings', POLICY);
    try {
      await agentA.patch(podPath('web-b'), { status: { podIPs: [{ ip: '10.96.0.1' }], podIP: '10.96.0.1' } }, 'merge');
      expect(getPod('web-b').status?.podIP).toBe('10.96.0.1');
    } finally {
      const { resourceVersion: _rv, uid: _uid, creationTimestamp: _ct, generation: _g, managedFields: _mf, ...metadata } = binding.metadata;
      api.store.create('validatingadmissionpolicybindings', { ...binding, metadata });
    }
  });

  it('other writers (the kubelet) are not matched', () => {
    api.store.patch(
      'pods',
      'web-b',
      'demo',
      'merge',
      {
        status: {
          conditions: [
            { type: 'ContainersReady', status: 'True' },
            { type: 'Ready', status: 'True' },
          ],
        },
      },
      { subresource: 'status' },
    );
    expect(getPod('web-b').status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  });
});
