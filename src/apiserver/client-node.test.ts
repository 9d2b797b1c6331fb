// The API server through the real @kubernetes/client-node 2.x, configured by kubeconfig text.
import * as k8s from '@kubernetes/client-node';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, startApiServer } from './index.js';
import { eventually } from '../../testkit/eventually.js';

let server: ApiServer;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let custom: k8s.CustomObjectsApi;
const smp = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

const until = <T>(fn: () => T | undefined | false, ms = 3000): Promise<T> => eventually('the condition', fn, ms, 10);

function pod(name: string, extra: { nodeName?: string; labels?: Record<string, string>; ns?: string } = {}): k8s.V1Pod {
  return {
    metadata: { name, namespace: extra.ns ?? 'default', ...(extra.labels ? { labels: extra.labels } : {}) },
    spec: {
      ...(extra.nodeName ? { nodeName: extra.nodeName } : {}),
      readinessGates: [{ conditionType: 'podlb.io/load-balancer-ready' }],
      containers: [{ name: 'app', image: 'nginx:1.27', ports: [{ name: 'http', containerPort: 8080 }] }],
    },
  };
}

/** A raw HTTPS GET as the cluster admin, trusting the server's CA. */
async function rawGet(path: string): Promise<{ json(): Promise<any>; text(): Promise<string> }> {
  const token = kc.getCurrentUser()!.token!;
  return fetch(`${server.url}${path}`, { dispatcher: new Agent({ connect: { ca: server.caPem } }), headers: { Authorization: `Bearer ${token}` } });
}

async function apiError(p: Promise<unknown>): Promise<{ code: number; body: any }> {
  try {
    await p;
  } catch (e) {
    const err = e as { code: number; body: string };
    return { code: err.code, body: JSON.parse(err.body) };
  }
  throw new Error('expected an error');
}

beforeAll(async () => {
  server = await startApiServer({ bookmarkIntervalMs: 100 });
  kc = new k8s.KubeConfig();
  kc.loadFromString(server.kubeconfigYaml());
  core = kc.makeApiClient(k8s.CoreV1Api);
  custom = kc.makeApiClient(k8s.CustomObjectsApi);
});
afterAll(async () => {
  await server.close();
});

describe('discovery', () => {
  it('serves /version, /api, /apis and resource lists', async () => {
    const v = await kc.makeApiClient(k8s.VersionApi).getCode();
    expect(v.major).toBe('1');
    const groups = await kc.makeApiClient(k8s.ApisApi).getAPIVersions();
    expect(groups.groups.map((g) => g.name)).toEqual(expect.arrayContaining(['discovery.k8s.io', 'coordination.k8s.io', 'podlb.io']));
    const res = await core.getAPIResources();
    const pods = res.resources.find((r) => r.name === 'pods');
    expect(pods).toMatchObject({ namespaced: true, kind: 'Pod', shortNames: ['po'] });
    expect(res.resources.find((r) => r.name === 'pods/status')?.verbs).toEqual(['get', 'patch', 'update']);
    const podlb = await rawGet('/apis/podlb.io/v1alpha1').then((r) => r.json() as Promise<any>);
    expect(podlb.resources.find((r: { name: string }) => r.name === 'podaddresspools')).toMatchObject({ namespaced: false, kind: 'PodAddressPool' });
    expect(await rawGet('/healthz').then((r) => r.text())).toBe('ok');
  });
});

describe('create, read, errors', () => {
  it('lists with a list kind and resourceVersion; built-in items carry no TypeMeta, like the real API', async () => {
    const raw = await rawGet('/api/v1/namespaces').then((r) => r.json() as Promise<any>);
    expect(raw.kind).toBe('NamespaceList');
    expect(Number(raw.metadata.resourceVersion)).toBeGreaterThan(0);
    expect(raw.items[0].kind).toBeUndefined();
    expect(raw.items.map((n: any) => n.metadata.name)).toContain('kube-system');
  });

  it('creates a Pod with system fields and defaults, status reset to Pending', async () => {
    const p = await core.createNamespacedPod({ namespace: 'default', body: { ...pod('create-1', { nodeName: 'n1' }), status: { podIP: '10.0.0.1' } } });
    expect(p.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(p.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(p.metadata?.generation).toBe(1);
    expect(p.spec?.terminationGracePeriodSeconds).toBe(30);
    expect(p.spec?.containers[0]?.ports?.[0]?.protocol).toBe('TCP');
    expect(p.status?.phase).toBe('Pending');
    expect(p.status?.podIP).toBeUndefined();
  });

  it.each([
    [
      'missing namespace',
      () => core.createNamespacedPod({ namespace: 'nope', body: pod('x', { ns: 'nope' }) }),
      404,
      'NotFound',
      'namespaces "nope" not found',
    ],
    ['duplicate', () => core.createNamespacedPod({ namespace: 'default', body: pod('create-1') }), 409, 'AlreadyExists', 'pods "create-1" already exists'],
    ['missing object', () => core.readNamespacedPod({ namespace: 'default', name: 'ghost' }), 404, 'NotFound', 'pods "ghost" not found'],
  ])('%s → %i %s', async (_n, call, code, reason, message) => {
    const e = await apiError(call());
    expect(e.code).toBe(code);
    expect(e.body).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, code, message });
  });

  it('rejects invalid names and fields with 422 and details.causes', async () => {
    const bad = pod('Bad_Name');
    bad.spec!.containers[0]!.image = '';
    const e = await apiError(core.createNamespacedPod({ namespace: 'default', body: bad }));
    expect(e.code).toBe(422);
    expect(e.body.reason).toBe('Invalid');
    expect(e.body.details.kind).toBe('Pod');
    expect(e.body.details.causes.map((c: any) => [c.reason, c.field])).toEqual([
      ['FieldValueInvalid', 'metadata.name'],
      ['FieldValueRequired', 'spec.containers[0].image'],
    ]);
    const svc = await apiError(core.createNamespacedService({ namespace: 'default', body: { metadata: { name: '1svc' }, spec: { ports: [{ port: 80 }] } } }));
    expect(svc.body.details.causes[0]).toMatchObject({ field: 'metadata.name', reason: 'FieldValueInvalid' });
  });

  it('generates names from generateName', async () => {
    const p = await core.createNamespacedPod({ namespace: 'default', body: { ...pod(''), metadata: { generateName: 'gen-' } } });
    expect(p.metadata?.name).toMatch(/^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  });
});

describe('updates and patches', () => {
  it('merges Pod status conditions by type with a strategic merge patch on pods/status', async () => {
    await core.createNamespacedPod({ namespace: 'default', body: pod('smp-1', { nodeName: 'n1' }) });
    await core.patchNamespacedPodStatus(
      {
        name: 'smp-1',
        namespace: 'default',
        body: {
          status: {
            podIP: '10.244.1.5',
            conditions: [
              { type: 'Ready', status: 'False' },
              { type: 'ContainersReady', status: 'True' },
            ],
          },
        },
      },
      smp,
    );
    const p = await core.patchNamespacedPodStatus(
      {
        name: 'smp-1',
        namespace: 'default',
        body: { status: { conditions: [{ type: 'podlb.io/load-balancer-ready', status: 'True', reason: 'LoadBalancerHealthy' }] } },
      },
      smp,
    );
    expect(p.status?.conditions?.map((c) => `${c.type}=${c.status}`)).toEqual(['Ready=False', 'ContainersReady=True', 'podlb.io/load-balancer-ready=True']);
    expect(p.status?.podIPs).toEqual([{ ip: '10.244.1.5' }]);
  });

  it('a merge patch replaces the whole conditions list (no merge keys)', async () => {
    const p = await core.patchNamespacedPodStatus(
      { name: 'smp-1', namespace: 'default', body: { status: { conditions: [{ type: 'Ready', status: 'True' }] } } },
      mergePatch,
    );
    expect(p.status?.conditions?.map((c) => c.type)).toEqual(['Ready']);
  });

  it('client-node 2.x sends application/json-patch+json when no Content-Type is given', async () => {
    const p = await core.patchNamespacedPod({ name: 'smp-1', namespace: 'default', body: [{ op: 'add', path: '/metadata/labels', value: { a: 'b' } }] });
    expect(p.metadata?.labels).toEqual({ a: 'b' });
  });

  it('the status subresource never changes spec; the main resource ignores status', async () => {
    const before = await core.readNamespacedPod({ name: 'smp-1', namespace: 'default' });
    const viaStatus = await core.patchNamespacedPodStatus(
      { name: 'smp-1', namespace: 'default', body: { spec: { activeDeadlineSeconds: 5 }, status: { phase: 'Running' } } },
      mergePatch,
    );
    expect(viaStatus.spec?.activeDeadlineSeconds).toBeUndefined();
    expect(viaStatus.status?.phase).toBe('Running');
    expect(viaStatus.metadata?.generation).toBe(before.metadata?.generation);
    const viaMain = await core.patchNamespacedPod(
      { name: 'smp-1', namespace: 'default', body: { status: { phase: 'Failed' }, metadata: { annotations: { x: 'y' } } } },
      mergePatch,
    );
    expect(viaMain.status?.phase).toBe('Running');
    expect(viaMain.metadata?.annotations).toEqual({ x: 'y' });
    expect(viaMain.metadata?.generation).toBe(before.metadata?.generation);
  });

  it('bumps generation on a spec change only', async () => {
    const p = await core.patchNamespacedPod({ name: 'smp-1', namespace: 'default', body: { spec: { activeDeadlineSeconds: 100 } } }, mergePatch);
    expect(p.metadata?.generation).toBe(2);
  });

  it.each([
    ['change containers', { spec: { containers: [{ name: 'app', image: 'nginx:1.27', ports: [{ containerPort: 9090 }] }] } }],
    ['set readinessGates', { spec: { readinessGates: [] } }],
    ['change nodeName', { spec: { nodeName: 'n2' } }],
  ])('Pod spec is immutable: %s → 422', async (_n, body) => {
    const e = await apiError(core.patchNamespacedPod({ name: 'smp-1', namespace: 'default', body }, mergePatch));
    expect(e.code).toBe(422);
    expect(e.body.details.causes[0]).toMatchObject({ reason: 'FieldValueForbidden', field: 'spec' });
  });

  it('a PUT with a stale resourceVersion is a 409 Conflict', async () => {
    const p = await core.readNamespacedPod({ name: 'smp-1', namespace: 'default' });
    await core.patchNamespacedPod({ name: 'smp-1', namespace: 'default', body: { metadata: { labels: { v: '2' } } } }, mergePatch);
    const e = await apiError(core.replaceNamespacedPod({ name: 'smp-1', namespace: 'default', body: p }));
    expect(e.code).toBe(409);
    expect(e.body.reason).toBe('Conflict');
    expect(e.body.message).toContain('the object has been modified');
  });

  it('merges Service ports by port, and keeps the allocated clusterIP', async () => {
    const svc = await core.createNamespacedService({
      namespace: 'default',
      body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } },
    });
    expect(svc.spec?.clusterIP).toMatch(/^10\.96\./);
    const p = await core.patchNamespacedService({ name: 'web', namespace: 'default', body: { spec: { ports: [{ name: 'https', port: 443 }] } } }, smp);
    expect(p.spec?.ports?.map((x) => [x.name, x.port, x.targetPort])).toEqual([
      ['http', 80, 'http'],
      ['https', 443, 443],
    ]);
    expect(p.spec?.clusterIP).toBe(svc.spec?.clusterIP);
  });

  it('custom resources: no strategic merge patch (415), merge patch works, status only via /status', async () => {
    const pool = {
      apiVersion: 'podlb.io/v1alpha1',
      kind: 'PodAddressPool',
      metadata: { name: 'tokyo-pods' },
      spec: { cidrs: ['10.244.0.0/16'], advertise: 'NodeCIDR' },
      status: { advertisedNodes: 9 },
    };
    const created = (await custom.createClusterCustomObject({ group: 'podlb.io', version: 'v1alpha1', plural: 'podaddresspools', body: pool })) as any;
    expect(created.status).toBeUndefined();
    const e = await apiError(
      custom.patchClusterCustomObject(
        { group: 'podlb.io', version: 'v1alpha1', plural: 'podaddresspools', name: 'tokyo-pods', body: { spec: { advertise: 'PodIPs' } } },
        smp,
      ),
    );
    expect(e.code).toBe(415);
    expect(e.body.reason).toBe('UnsupportedMediaType');
    const st = (await custom.patchClusterCustomObjectStatus(
      { group: 'podlb.io', version: 'v1alpha1', plural: 'podaddresspools', name: 'tokyo-pods', body: { status: { advertisedNodes: 3 }, spec: { cidrs: [] } } },
      mergePatch,
    )) as any;
    expect(st.status).toEqual({ advertisedNodes: 3 });
    expect(st.spec.cidrs).toEqual(['10.244.0.0/16']);
    const apply = await apiError(
      custom.patchClusterCustomObject(
        { group: 'podlb.io', version: 'v1alpha1', plural: 'podaddresspools', name: 'tokyo-pods', body: {} },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply),
      ),
    );
    expect(apply.code).toBe(415);
  });

  it('accepts core/v1 Events', async () => {
    const ev = await core.createNamespacedEvent({
      namespace: 'default',
      body: {
        metadata: { generateName: 'smp-1.' },
        involvedObject: { kind: 'Pod', namespace: 'default', name: 'smp-1' },
        reason: 'Registered',
        message: 'm',
        type: 'Normal',
      },
    });
    const list = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.name=smp-1,involvedObject.kind=Pod' });
    expect(list.items.map((e) => e.metadata.name)).toEqual([ev.metadata.name]);
  });
});

describe('deletion', () => {
  it('deletes a scheduled Pod gracefully, then for good with gracePeriodSeconds=0', async () => {
    await core.createNamespacedPod({
      namespace: 'default',
      body: { ...pod('del-1', { nodeName: 'n1' }), spec: { ...pod('x').spec!, nodeName: 'n1', terminationGracePeriodSeconds: 20 } },
    });
    const events: string[] = [];
    const stop = server.store.watch(
      'pods',
      { namespace: 'default', fieldSelector: 'metadata.name=del-1', resourceVersion: server.store.resourceVersion },
      (ev) => events.push(ev.type),
    );
    const t0 = Date.now();
    const d = await core.deleteNamespacedPod({ name: 'del-1', namespace: 'default' });
    expect(d.metadata?.deletionGracePeriodSeconds).toBe(20);
    const due = d.metadata!.deletionTimestamp!.getTime();
    expect(Math.abs(due - (t0 + 20_000))).toBeLessThan(2000);
    expect((await core.readNamespacedPod({ name: 'del-1', namespace: 'default' })).metadata?.deletionTimestamp).toBeDefined();
    await core.deleteNamespacedPod({ name: 'del-1', namespace: 'default', gracePeriodSeconds: 0 });
    await apiError(core.readNamespacedPod({ name: 'del-1', namespace: 'default' }));
    await until(() => events.length === 2);
    expect(events).toEqual(['MODIFIED', 'DELETED']);
    stop();
  });

  it('deletes an unscheduled Pod at once', async () => {
    await core.createNamespacedPod({ namespace: 'default', body: pod('del-2') });
    await core.deleteNamespacedPod({ name: 'del-2', namespace: 'default' });
    expect((await apiError(core.readNamespacedPod({ name: 'del-2', namespace: 'default' }))).code).toBe(404);
  });

  it('keeps an object with finalizers until they are removed', async () => {
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'fin', finalizers: ['podlb.io/cleanup'] } } });
    const del = await core.deleteNamespacedConfigMap({ name: 'fin', namespace: 'default' });
    expect(del).toBeDefined();
    const cm = await core.readNamespacedConfigMap({ name: 'fin', namespace: 'default' });
    expect(cm.metadata?.deletionTimestamp).toBeDefined();
    const e = await apiError(
      core.patchNamespacedConfigMap({ name: 'fin', namespace: 'default', body: { metadata: { finalizers: ['podlb.io/cleanup', 'x.io/new'] } } }, mergePatch),
    );
    expect(e.code).toBe(422);
    await core.patchNamespacedConfigMap({ name: 'fin', namespace: 'default', body: { metadata: { finalizers: null } } }, mergePatch);
    expect((await apiError(core.readNamespacedConfigMap({ name: 'fin', namespace: 'default' }))).code).toBe(404);
  });
});

describe('list', () => {
  it('paginates with limit/continue at a consistent resourceVersion', async () => {
    for (const n of ['pg-a', 'pg-b', 'pg-c'])
      await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: n, labels: { page: 't' } } } });
    const first = await core.listNamespacedConfigMap({ namespace: 'default', labelSelector: 'page=t', limit: 2 });
    expect(first.items.map((i) => i.metadata?.name)).toEqual(['pg-a', 'pg-b']);
    await core.deleteNamespacedConfigMap({ name: 'pg-c', namespace: 'default' });
    const second = await core.listNamespacedConfigMap({ namespace: 'default', labelSelector: 'page=t', limit: 2, _continue: first.metadata!._continue! });
    expect(second.items.map((i) => i.metadata?.name)).toEqual(['pg-c']); // the snapshot of the first page
    expect(second.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
    expect(second.metadata?._continue).toBeUndefined();
  });

  it.each([
    ['page=t,x!=y', ['pg-a', 'pg-b']],
    ['page in (t,u),!missing', ['pg-a', 'pg-b']],
    ['page notin (t)', []],
  ])('label selector %s', async (sel, names) => {
    const l = await core.listNamespacedConfigMap({ namespace: 'default', labelSelector: sel });
    expect(l.items.map((i) => i.metadata?.name).filter((n) => n?.startsWith('pg-'))).toEqual(names);
  });

  it('rejects unknown field selectors with 400', async () => {
    const e = await apiError(core.listNamespacedPod({ namespace: 'default', fieldSelector: 'spec.unknown=x' }));
    expect(e.code).toBe(400);
  });
});
