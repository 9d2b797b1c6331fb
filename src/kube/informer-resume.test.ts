// The informer's requests as the API server sees them: a dropped watch is resumed from the last
// resourceVersion (no list), bookmarks keep that resourceVersion recent, a 410 relists and
// reports exactly what changed, a restarted API server is recovered from, and a list longer
// than a page is complete.
import type { KubernetesObject } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { adminClient } from '../../testkit/api-client.js';
import { startApiServer, type ApiServer } from '../apiserver/index.js';
import { waitFor } from '../lab/netns.js';
import type { KubeClient } from './client.js';
import { ResilientInformer, type InformerOptions } from './informer.js';

let api: ApiServer | undefined;
let client: KubeClient;
const log = pino({ level: 'silent' });
const PATH = '/api/v1/namespaces/default/configmaps';
const informers: ResilientInformer<KubernetesObject>[] = [];

afterEach(async () => {
  for (const i of informers.splice(0)) await i.stop();
  await client?.close();
  await api?.close();
  api = undefined;
});

async function setup(o: { bookmarkIntervalMs?: number } = {}): Promise<ApiServer> {
  api = await startApiServer({ bookmarkIntervalMs: o.bookmarkIntervalMs ?? 60_000 });
  client = adminClient(api);
  return api;
}

function cm(name: string, v = name): { apiVersion: string; kind: string; metadata: { name: string; namespace: string }; data: Record<string, string> } {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { v } };
}

function informer(extra: Partial<InformerOptions> = {}): ResilientInformer<KubernetesObject> {
  const inf = new ResilientInformer<KubernetesObject>(client, {
    path: PATH,
    onChange: () => undefined,
    log,
    backoff: { baseMs: 20, maxMs: 200 },
    random: () => 0.5,
    ...extra,
  });
  informers.push(inf);
  return inf;
}

const names = (inf: ResilientInformer<KubernetesObject>): string[] =>
  inf
    .list()
    .map((o) => o.metadata?.name ?? '')
    .sort();

describe('informer watch resume', () => {
  it('resumes from the last resourceVersion after a dropped connection or a server timeout, without a list', async () => {
    const server = await setup();
    const inf = informer();
    await inf.start();
    await client.create(PATH, cm('a'));
    await waitFor('a seen', () => (names(inf).includes('a') ? true : undefined), 5000, 10);
    server.faults.closeAllWatches();
    await client.create(PATH, cm('b'));
    await waitFor('b seen after a reset', () => (names(inf).includes('b') ? true : undefined), 5000, 10);
    server.faults.closeAllWatches({ graceful: true });
    await client.create(PATH, cm('c'));
    await waitFor('c seen after a clean end', () => (names(inf).includes('c') ? true : undefined), 5000, 10);
    expect(inf.requests.lists).toBe(1);
    expect(inf.requests.watches).toBeGreaterThanOrEqual(3);
    expect(inf.restarts.relist).toBe(0);
  });

  it('bookmarks advance the resourceVersion, so a resume after compaction needs no relist', async () => {
    const server = await setup({ bookmarkIntervalMs: 100 });
    await client.create(PATH, cm('a'));
    const inf = informer();
    await inf.start();
    const listedAt = Number(inf.resourceVersion);
    // Writes elsewhere move the global resourceVersion; only bookmarks tell this watch about it.
    for (let i = 0; i < 3; i++) await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns${i}` } });
    const now = Number((await client.get<{ metadata: { resourceVersion: string } }>(`${PATH}`)).metadata.resourceVersion);
    expect(now).toBeGreaterThan(listedAt);
    await waitFor('a bookmark', () => (Number(inf.resourceVersion) >= now ? true : undefined), 5000, 10);
    server.faults.compact();
    server.faults.closeAllWatches();
    await client.create(PATH, cm('b'));
    await waitFor('b seen', () => (names(inf).includes('b') ? true : undefined), 5000, 10);
    // Resumed from the bookmark's resourceVersion, which the compaction did not expire.
    expect(inf.restarts.relist).toBe(0);
    expect(inf.requests.lists).toBe(1);
  });

  it('410 Gone relists, and only what changed meanwhile is reported, as added, updated or deleted', async () => {
    const server = await setup();
    for (const n of ['a', 'b', 'c']) await client.create(PATH, cm(n));
    const changes: string[] = [];
    let signals = 0;
    const inf = informer({
      onChange: () => (signals += 1),
      relevant: (before, after) => {
        changes.push(`${before?.metadata?.name ?? '-'}>${after?.metadata?.name ?? '-'}`);
        // Not relevant: every change of the diff is judged, and none signals.
        return false;
      },
    });
    await inf.start();
    expect(names(inf)).toEqual(['a', 'b', 'c']);
    expect(signals).toBe(1); // the first list always signals
    changes.length = 0;
    // In one tick, before the informer notices its watch is gone, so only a relist can show it.
    server.faults.closeAllWatches();
    server.store.delete('configmaps', 'a', 'default');
    server.store.update('configmaps', { ...cm('b', 'changed'), metadata: { ...cm('b').metadata } });
    server.store.create('configmaps', cm('d'));
    server.faults.compact();
    await waitFor('relisted', () => (inf.restarts.relist > 0 && names(inf).includes('d') ? true : undefined), 5000, 10);
    expect(names(inf)).toEqual(['b', 'c', 'd']);
    expect(changes.sort()).toEqual(['->d', 'a>-', 'b>b']);
    expect((inf.get('b', 'default') as { data?: { v?: string } }).data?.v).toBe('changed');
    expect(inf.requests.lists).toBe(2);
    expect(signals).toBe(1);
  });

  it('recovers from an API server restart and sees what changed while it was down', async () => {
    const server = await setup();
    await client.create(PATH, cm('a'));
    const inf = informer();
    await inf.start();
    const restarted = server.restart({ downMs: 300 });
    await new Promise((r) => setTimeout(r, 50));
    server.store.create('configmaps', cm('while-down'));
    await restarted;
    await waitFor('caught up after the restart', () => (names(inf).includes('while-down') ? true : undefined), 10_000, 10);
    await client.create(PATH, cm('after'));
    await waitFor('watching again', () => (names(inf).includes('after') ? true : undefined), 5000, 10);
    expect(inf.restarts.error).toBeGreaterThan(0);
    expect(names(inf)).toEqual(['a', 'after', 'while-down']);
  });

  it('a list longer than a page is complete', async () => {
    const server = await setup();
    for (let i = 0; i < 23; i++) server.store.create('configmaps', cm(`cm${String(i).padStart(2, '0')}`));
    const inf = informer({ limit: 5 });
    await inf.start();
    expect(inf.requests.pages).toBe(5);
    expect(names(inf)).toEqual(Array.from({ length: 23 }, (_, i) => `cm${String(i).padStart(2, '0')}`));
  });

  it('a continue token that expired mid-list restarts the list', async () => {
    const server = await setup();
    for (let i = 0; i < 12; i++) server.store.create('configmaps', cm(`cm${String(i).padStart(2, '0')}`));
    let pages = 0;
    const inf = informer({ limit: 5 });
    const orig = client.getBytes.bind(client);
    client.getBytes = async (...args) => {
      const res = await orig(...args);
      pages += 1;
      // Compaction after the first page: its continue token names an expired resourceVersion.
      if (pages === 1) {
        server.store.create('configmaps', cm('late'));
        server.faults.compact();
      }
      return res;
    };
    await inf.start();
    expect(names(inf)).toContain('late');
    expect(names(inf)).toHaveLength(13);
    expect(inf.requests.lists).toBe(1);
  });
});
