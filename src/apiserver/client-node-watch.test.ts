// Watches, informers and fault injection of the API server through the real
// @kubernetes/client-node 2.x (the same set-up as client-node.test.ts).
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, startApiServer } from './index.js';
import { eventually } from '../../testkit/eventually.js';

let server: ApiServer;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
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
});
afterAll(async () => {
  await server.close();
});

describe('watch and informers', () => {
  it('an informer with a spec.nodeName field selector gets add, update and delete', async () => {
    const path = '/api/v1/pods';
    const field = 'spec.nodeName=node-a';
    const inf = new k8s.ListWatch<k8s.V1Pod>(path, new k8s.Watch(kc), () => core.listPodForAllNamespaces({ fieldSelector: field }), false, undefined, field);
    const seen: string[] = [];
    inf.on('add', (p) => seen.push(`add ${p.metadata?.name}`));
    inf.on('update', (p) => seen.push(`update ${p.metadata?.name}`));
    inf.on('delete', (p) => seen.push(`delete ${p.metadata?.name}`));
    await core.createNamespacedPod({ namespace: 'default', body: pod('inf-1', { nodeName: 'node-a' }) });
    await inf.start();
    await until(() => seen.length === 1);
    await core.createNamespacedPod({ namespace: 'default', body: pod('inf-other', { nodeName: 'node-b' }) });
    await core.createNamespacedPod({ namespace: 'default', body: pod('inf-2', { nodeName: 'node-a' }) });
    await core.patchNamespacedPodStatus({ name: 'inf-1', namespace: 'default', body: { status: { phase: 'Running' } } }, mergePatch);
    await core.deleteNamespacedPod({ name: 'inf-2', namespace: 'default', gracePeriodSeconds: 0 });
    await until(() => seen.length === 4);
    expect(seen).toEqual(['add inf-1', 'add inf-2', 'update inf-1', 'delete inf-2']);
    await inf.stop();
  });

  it('label-selector watches see an object that stops matching as DELETED and one that starts matching as ADDED', async () => {
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'tr-1', labels: { sel: 'yes' } } } });
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'tr-2', labels: { sel: 'no' } } } });
    const rv = server.store.resourceVersion;
    const events: string[] = [];
    const req = await new k8s.Watch(kc).watch(
      '/api/v1/namespaces/default/configmaps',
      { labelSelector: 'sel=yes', resourceVersion: rv },
      (type, obj) => events.push(`${type} ${obj.metadata.name} ${obj.metadata.labels?.sel}`),
      () => undefined,
    );
    await core.patchNamespacedConfigMap({ name: 'tr-1', namespace: 'default', body: { metadata: { labels: { sel: 'no' } } } }, mergePatch);
    await core.patchNamespacedConfigMap({ name: 'tr-2', namespace: 'default', body: { metadata: { labels: { sel: 'yes' } } } }, mergePatch);
    await until(() => events.length === 2);
    // the DELETED event carries the last matching state, as the watch cache sends it
    expect(events).toEqual(['DELETED tr-1 yes', 'ADDED tr-2 yes']);
    req.abort();
  });

  it('a watch from a compacted resourceVersion gets an ERROR 410 Expired event; the informer relists', async () => {
    const rv = server.store.resourceVersion;
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'cmp-1' } } });
    server.faults.compact();
    const events: { type: string; obj: any }[] = [];
    let done = false;
    await new k8s.Watch(kc).watch(
      '/api/v1/namespaces/default/configmaps',
      { resourceVersion: rv },
      (type, obj) => events.push({ type, obj }),
      () => {
        done = true;
      },
    );
    await until(() => done);
    expect(events).toHaveLength(1);
    expect(events[0]!.type).toBe('ERROR');
    expect(events[0]!.obj).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });
    expect(events[0]!.obj.message).toMatch(/^too old resource version: \d+ \(\d+\)$/);
  });

  it('closeAllWatches makes a client-node informer report an error (graceful close only re-watches)', async () => {
    const inf = k8s.makeInformer(kc, '/api/v1/namespaces/default/configmaps', () => core.listNamespacedConfigMap({ namespace: 'default' }));
    let connects = 0;
    const errors: unknown[] = [];
    inf.on('connect', () => connects++);
    inf.on('error', (e) => errors.push(e));
    await inf.start();
    await until(() => server.openWatchCount() > 0);
    server.faults.closeAllWatches({ graceful: true });
    await until(() => connects === 2);
    expect(errors).toEqual([]);
    await until(() => server.openWatchCount() > 0);
    server.faults.closeAllWatches();
    await until(() => errors.length === 1);
    await inf.stop();
  });

  it('sends BOOKMARK events with only the resourceVersion when asked', async () => {
    const events: any[] = [];
    const req = await new k8s.Watch(kc).watch(
      '/api/v1/namespaces/default/pods',
      { allowWatchBookmarks: true, resourceVersion: server.store.resourceVersion },
      (type, obj) => events.push({ type, obj }),
      () => undefined,
    );
    await until(() => events.some((e) => e.type === 'BOOKMARK'));
    const b = events.find((e) => e.type === 'BOOKMARK');
    expect(b.obj).toEqual({ kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: server.store.resourceVersion } });
    req.abort();
  });

  it('timeoutSeconds ends the stream cleanly', async () => {
    let done: unknown = 'pending';
    await new k8s.Watch(kc).watch(
      '/api/v1/namespaces/default/pods',
      { timeoutSeconds: 1, resourceVersion: server.store.resourceVersion },
      () => undefined,
      (err) => {
        done = err;
      },
    );
    await until(() => done !== 'pending', 3000);
    expect(done).toBeNull();
  });
});

describe('faults', () => {
  it('failNext answers the matching requests with a Status and then recovers', async () => {
    server.faults.failNext({ count: 2, status: 503, match: (m, p) => m === 'GET' && p.startsWith('/api/v1/namespaces/default/configmaps') });
    const e1 = await apiError(core.listNamespacedConfigMap({ namespace: 'default' }));
    expect(e1.code).toBe(503);
    expect(e1.body).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable', code: 503 });
    await core.listNamespace(); // does not match, does not consume
    expect((await apiError(core.listNamespacedConfigMap({ namespace: 'default' }))).code).toBe(503);
    await expect(core.listNamespacedConfigMap({ namespace: 'default' })).resolves.toBeDefined();
  });

  it('setLatencyMs delays every request', async () => {
    server.faults.setLatencyMs(150);
    const t0 = Date.now();
    await core.listNamespace();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    server.faults.setLatencyMs(0);
  });
});
