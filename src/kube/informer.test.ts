import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KubernetesObject } from '@kubernetes/client-node';
import { pino } from 'pino';
import { startApiServer, type ApiServer } from '../apiserver/index.js';
import { waitFor } from '../lab/netns.js';
import type { KubeClient } from './client.js';
import { ResilientInformer } from './informer.js';
import { adminClient } from '../../testkit/api-client.js';

let api: ApiServer;
let client: KubeClient;
const log = pino({ level: process.env.DBGLOG ?? 'silent' });

function cm(name: string): { apiVersion: string; kind: string; metadata: { name: string; namespace: string }; data: Record<string, string> } {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { v: name } };
}

function informer(extra: Partial<ConstructorParameters<typeof ResilientInformer>[1]> = {}): {
  inf: ResilientInformer<KubernetesObject>;
  signals: () => number;
} {
  let n = 0;
  const inf = new ResilientInformer<KubernetesObject>(client, {
    path: '/api/v1/namespaces/default/configmaps',
    onChange: () => (n += 1),
    log,
    backoff: { baseMs: 20, maxMs: 200 },
    random: () => 0.5,
    ...extra,
  });
  return { inf, signals: () => n };
}

const names = (inf: ResilientInformer<KubernetesObject>): string[] =>
  inf
    .list()
    .map((o) => o.metadata?.name ?? '')
    .sort();

beforeEach(async () => {
  api = await startApiServer({ bookmarkIntervalMs: 60_000 });
  client = adminClient(api);
});

afterEach(async () => {
  await api.close();
});

describe('ResilientInformer', () => {
  it('lists, watches and signals on every change', async () => {
    await client.create('/api/v1/namespaces/default/configmaps', cm('a'));
    const { inf, signals } = informer();
    await inf.start();
    expect(inf.synced).toBe(true);
    expect(names(inf)).toEqual(['a']);
    const before = signals();
    await client.create('/api/v1/namespaces/default/configmaps', cm('b'));
    await waitFor('b seen', () => (names(inf).includes('b') ? true : undefined), 5000, 10);
    expect(signals()).toBeGreaterThan(before);
    await inf.stop();
  });

  it('restarts after the watch is cut, and sees what changed meanwhile', async () => {
    const { inf } = informer();
    await inf.start();
    api.faults.closeAllWatches();
    await client.create('/api/v1/namespaces/default/configmaps', cm('during'));
    await waitFor('restart and catch-up', () => (inf.restarts.error > 0 && names(inf).includes('during') ? true : undefined), 5000, 10);
    await client.create('/api/v1/namespaces/default/configmaps', cm('after'));
    await waitFor('after seen', () => (names(inf).includes('after') ? true : undefined), 5000, 10);
    await inf.stop();
  });

  it('relists after 410 Gone (expired resourceVersion) and keeps serving its cache while the list fails', async () => {
    await client.create('/api/v1/namespaces/default/configmaps', cm('old'));
    const { inf } = informer();
    await inf.start();
    // The next lists fail: the informer must back off and keep the last good cache meanwhile.
    api.faults.failNext({ count: 3, status: 503, match: (method, path) => method === 'GET' && !path.includes('watch') });
    // In one tick, before the informer sees its watch end: 'new' is written while no watch is
    // open and the history is expired, so resuming from the last resourceVersion is a 410.
    api.faults.closeAllWatches();
    api.store.create('configmaps', cm('new'));
    api.faults.compact();
    await new Promise((r) => setTimeout(r, 30));
    expect(names(inf)).toContain('old'); // never an empty cache in between
    await waitFor('relisted after failures', () => (names(inf).includes('new') ? true : undefined), 10_000, 10);
    expect(inf.restarts.relist).toBe(1);
    expect(inf.restarts.error).toBeGreaterThanOrEqual(2);
    await inf.stop();
  });

  it('the watchdog restarts a watch that stayed silent too long', async () => {
    const { inf } = informer({ watchdogMs: 1000 });
    await inf.start();
    await waitFor('watchdog restart', () => (inf.restarts.watchdog > 0 ? true : undefined), 5000, 50);
    await client.create('/api/v1/namespaces/default/configmaps', cm('x'));
    await waitFor('x seen after a watchdog restart', () => (names(inf).includes('x') ? true : undefined), 5000, 10);
    await inf.stop();
  });
});
