// Authentication and authorization of the in-process API server, through podlb's own KubeClient
// and client-node's Watch, as every binary talks to it. A 1.32 API server answers each case the
// same way: 401 for a credential nobody accepts, 403 (with the authorizer's message) for what
// RBAC does not grant, anonymous only for the public-info paths.
import { readFileSync } from 'node:fs';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiError, KubeClient } from '../kube/client.js';
import { type ApiServer, startApiServer } from './index.js';

let api: ApiServer;
let admin: KubeClient;

const clientFor = (yaml: string): KubeClient => {
  const kc = new KubeConfig();
  kc.loadFromString(yaml);
  return new KubeClient(kc);
};

async function status(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
    return { code: 200, message: '' };
  } catch (err) {
    if (!(err instanceof KubeApiError)) throw err;
    return { code: err.status, message: err.message };
  }
}

async function raw(path: string, headers: Record<string, string> = {}): Promise<{ code: number; body: any }> {
  const res = await fetch(`${api.url}${path}`, { dispatcher: new Agent({ connect: { ca: api.caPem } }), headers });
  return { code: res.status, body: await res.json().catch(() => undefined) };
}

const readerRole = {
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRole',
  metadata: { name: 'cm-reader' },
  rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }],
};

beforeAll(async () => {
  api = await startApiServer();
  admin = clientFor(api.kubeconfigYaml());
  await admin.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', readerRole);
  await admin.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    metadata: { name: 'alice-cm-reader' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cm-reader' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' }],
  });
  await admin.create('/api/v1/namespaces/default/configmaps', { metadata: { name: 'one' } });
});
afterAll(async () => {
  await api.close();
});

describe('bearer tokens reach the server', () => {
  it('a token kubeconfig lists and watches as its user, not as anonymous', async () => {
    const yaml = api.kubeconfigForToken(api.addToken({ username: 'alice' }), 'alice');
    const alice = clientFor(yaml);
    const list = await alice.list<{ metadata: { name: string } }>('/api/v1/namespaces/default/configmaps');
    expect(list.items.map((c) => c.metadata.name)).toContain('one');
    // Nothing else is granted: the server knows who asks.
    expect(await status(alice.list('/api/v1/secrets'))).toMatchObject({
      code: 403,
      message: expect.stringContaining('User "alice" cannot list resource "secrets" in API group "" at the cluster scope'),
    });

    const kc = new KubeConfig();
    kc.loadFromString(yaml);
    const seen: string[] = [];
    const done = new Promise<unknown>((resolve) => {
      void new Watch(kc).watch(
        '/api/v1/namespaces/default/configmaps',
        { resourceVersion: list.metadata.resourceVersion },
        (type, obj: { metadata: { name: string } }) => {
          seen.push(`${type} ${obj.metadata.name}`);
          resolve(undefined);
        },
        resolve,
      );
    });
    await admin.create('/api/v1/namespaces/default/configmaps', { metadata: { name: 'two' } });
    expect(await done).toBeUndefined();
    expect(seen).toEqual(['ADDED two']);
  });

  it('a client certificate authenticates CN as the user and O as groups', async () => {
    const c = clientFor(await api.kubeconfigForClientCert({ username: 'bob', groups: ['net-team'] }));
    const r = await c.create<{ status: { userInfo: { username: string; groups: string[] } } }>('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'SelfSubjectReview',
    });
    expect(r.status.userInfo).toEqual({ username: 'bob', groups: ['net-team', 'system:authenticated'] });
  });
});

describe('anonymous and bad credentials', () => {
  it('anonymous may read health and version only', async () => {
    expect((await raw('/healthz')).code).toBe(200);
    expect((await raw('/version')).code).toBe(200);
    const api_ = await raw('/api');
    expect(api_).toMatchObject({ code: 403, body: { reason: 'Forbidden', message: 'forbidden: User "system:anonymous" cannot get path "/api"' } });
    expect(await raw('/api/v1/namespaces/default/pods/x')).toMatchObject({
      code: 403,
      body: { message: 'pods "x" is forbidden: User "system:anonymous" cannot get resource "pods" in API group "" in the namespace "default"' },
    });
  });

  it.each([
    ['unknown', 'not-a-token'],
    ['malformed header', ''],
  ])('%s token → 401 Unauthorized', async (_, token) => {
    const r = await raw('/healthz', { Authorization: `Bearer ${token}` });
    expect(r).toMatchObject({ code: 401, body: { kind: 'Status', reason: 'Unauthorized', message: 'Unauthorized' } });
  });

  it('another scheme (Basic) is not a bearer token: the request stays anonymous', async () => {
    expect((await raw('/healthz', { Authorization: 'Basic YWRtaW46YWRtaW4=' })).code).toBe(200);
    expect((await raw('/api/v1/pods', { Authorization: 'Basic YWRtaW46YWRtaW4=' })).body.message).toContain('User "system:anonymous"');
  });
});

describe('ServiceAccount tokens (TokenRequest)', () => {
  beforeAll(async () => {
    await admin.create('/api/v1/namespaces', { metadata: { name: 'sa-test' } });
    await admin.create('/api/v1/namespaces/sa-test/serviceaccounts', { metadata: { name: 'runner' } });
    await admin.create('/api/v1/nodes', { metadata: { name: 'n1' } });
    await admin.create('/api/v1/namespaces/sa-test/pods', {
      metadata: { name: 'p1' },
      spec: { nodeName: 'n1', serviceAccountName: 'runner', containers: [{ name: 'c', image: 'x' }] },
    });
  });

  const tokenFor = async (spec: Record<string, unknown>): Promise<string> =>
    (
      await admin.create<{ status: { token: string } }>('/api/v1/namespaces/sa-test/serviceaccounts/runner/token', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec,
      })
    ).status.token;
  const whoami = (token: string) =>
    clientFor(api.kubeconfigForToken(token)).create<{ status: { userInfo: Record<string, unknown> } }>('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      kind: 'SelfSubjectReview',
    });

  it('a Pod-bound token is the ServiceAccount with the Pod and node in extra', async () => {
    const pod = await admin.get<{ metadata: { uid: string } }>('/api/v1/namespaces/sa-test/pods/p1');
    const node = await admin.get<{ metadata: { uid: string } }>('/api/v1/nodes/n1');
    const sa = await admin.get<{ metadata: { uid: string } }>('/api/v1/namespaces/sa-test/serviceaccounts/runner');
    const token = await tokenFor({ expirationSeconds: 600, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p1', uid: pod.metadata.uid } });
    const r = await whoami(token);
    expect(r.status.userInfo).toEqual({
      username: 'system:serviceaccount:sa-test:runner',
      uid: sa.metadata.uid,
      groups: ['system:serviceaccounts', 'system:serviceaccounts:sa-test', 'system:authenticated'],
      extra: {
        'authentication.kubernetes.io/credential-id': [expect.stringMatching(/^JTI=[0-9a-f-]{36}$/)],
        'authentication.kubernetes.io/pod-name': ['p1'],
        'authentication.kubernetes.io/pod-uid': [pod.metadata.uid],
        'authentication.kubernetes.io/node-name': ['n1'],
        'authentication.kubernetes.io/node-uid': [node.metadata.uid],
      },
    });
  });

  it('refuses a token shorter than 10 minutes, and a Pod of another ServiceAccount', async () => {
    expect(await status(tokenFor({ expirationSeconds: 60 }))).toMatchObject({
      code: 422,
      message: expect.stringContaining('may not specify a duration less than 10 minutes'),
    });
    await admin.create('/api/v1/namespaces/sa-test/pods', { metadata: { name: 'other' }, spec: { containers: [{ name: 'c', image: 'x' }] } });
    expect(await status(tokenFor({ boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'other' } }))).toMatchObject({ code: 400 });
  });

  it('tampered, foreign-audience, revoked-Pod and deleted-ServiceAccount tokens → 401', async () => {
    await admin.create('/api/v1/namespaces/sa-test/pods', {
      metadata: { name: 'p2' },
      spec: { serviceAccountName: 'runner', containers: [{ name: 'c', image: 'x' }] },
    });
    const bound = await tokenFor({ boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p2' } });
    expect(await status(whoami(bound))).toMatchObject({ code: 200 });
    const [h, p, s] = bound.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
    claims.sub = 'system:serviceaccount:kube-system:admin';
    const tampered = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
    expect(await status(whoami(tampered))).toMatchObject({ code: 401 });
    expect(await status(whoami(await tokenFor({ audiences: ['vault'] })))).toMatchObject({ code: 401 });
    await admin.request('DELETE', '/api/v1/namespaces/sa-test/pods/p2');
    expect(await status(whoami(bound))).toMatchObject({ code: 401 });
    const unbound = await tokenFor({});
    expect(await status(whoami(unbound))).toMatchObject({ code: 200 });
    await admin.request('DELETE', '/api/v1/namespaces/sa-test/serviceaccounts/runner');
    expect(await status(whoami(unbound))).toMatchObject({ code: 401 });
    await admin.create('/api/v1/namespaces/sa-test/serviceaccounts', { metadata: { name: 'runner' } });
    // Same name, new uid: the old token stays dead.
    expect(await status(whoami(unbound))).toMatchObject({ code: 401 });
  });

  it('TokenReview and SubjectAccessReview answer for another credential', async () => {
    const token = api.addToken({ username: 'alice' });
    const tr = await admin.create<{ status: { authenticated?: boolean; user: { username?: string } } }>('/apis/authentication.k8s.io/v1/tokenreviews', {
      kind: 'TokenReview',
      spec: { token },
    });
    expect(tr.status).toMatchObject({ authenticated: true, user: { username: 'alice' } });
    const bad = await admin.create<{ status: { authenticated?: boolean } }>('/apis/authentication.k8s.io/v1/tokenreviews', {
      kind: 'TokenReview',
      spec: { token: 'nope' },
    });
    expect(bad.status.authenticated).toBeUndefined();
    const sar = (verb: string) =>
      admin.create<{ status: { allowed: boolean } }>('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        kind: 'SubjectAccessReview',
        spec: { user: 'alice', resourceAttributes: { verb, resource: 'configmaps', namespace: 'default' } },
      });
    expect((await sar('watch')).status.allowed).toBe(true);
    expect((await sar('delete')).status.allowed).toBe(false);
    // Alice may not review others' access (system:basic-user grants only the self reviews).
    expect(
      await status(
        clientFor(api.kubeconfigForToken(token)).create('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
          kind: 'SubjectAccessReview',
          spec: { user: 'x', nonResourceAttributes: { path: '/', verb: 'get' } },
        }),
      ),
    ).toMatchObject({ code: 403 });
  });
});

describe('in-cluster identity', () => {
  it('loadFromCluster reads the projected token and CA; a rotated token is picked up without restart', async () => {
    const installed = api.installManifests();
    expect(installed.applied).toEqual(
      expect.arrayContaining([
        'Namespace podlb-system',
        'ServiceAccount podlb-system/podlb-agent',
        'ClusterRole podlb-agent',
        'RoleBinding podlb-system/podlb-agent-secrets',
        'ConfigMap podlb-system/podlb-network-team',
      ]),
    );
    // Kinds this server does not serve are listed, not fatal.
    expect(installed.skipped).toEqual(expect.arrayContaining(['DaemonSet podlb-system/podlb-agent', 'CustomResourceDefinition podaddresspools.podlb.io']));
    const id = api.podIdentity({ serviceAccount: 'podlb-system/podlb-agent', nodeName: 'n1', hostNetwork: true });
    expect(readFileSync(`${id.pathPrefix}/var/run/secrets/kubernetes.io/serviceaccount/token`, 'utf8')).toBe(id.token());
    const kc = id.kubeConfig();
    expect(kc.getCurrentCluster()?.server).toBe(api.url);
    const client = new KubeClient(kc);
    await client.list('/api/v1/nodes');
    // The agent's ClusterRole does not grant Secrets cluster-wide.
    expect(await status(client.list('/api/v1/secrets'))).toMatchObject({
      code: 403,
      message: expect.stringContaining('User "system:serviceaccount:podlb-system:podlb-agent" cannot list resource "secrets"'),
    });
    const old = id.token();
    id.replacePod();
    expect(await status(clientFor(api.kubeconfigForToken(old)).list('/api/v1/nodes'))).toMatchObject({ code: 401 });
    // Same KubeConfig, same client: the revoked token is dropped and the file read again.
    await client.list('/api/v1/nodes');
    const watched = await new Promise<number>((resolve) => {
      void new Watch(kc).watch(
        '/api/v1/nodes',
        { resourceVersion: '0' },
        () => resolve(200),
        (err: { statusCode?: number } | null) => resolve(err?.statusCode ?? 0),
      );
    });
    expect(watched).toBe(200);
  });
});
