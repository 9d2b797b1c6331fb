import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Node, PodAddressPool, PodLBNode } from '../api/types.js';
import { startApiServer, type ApiServer } from '../apiserver/index.js';
import { poolFixture } from '../../testkit/bgp-fixtures.js';
import type { KubeClient } from '../kube/client.js';
import { leaderRunReport, PoolStatusReconciler, type LeaderSnapshot } from './leader-reconcilers.js';
import { PoolStatusWriter } from './pool-status.js';
import { adminClient } from '../../testkit/api-client.js';

const log = pino({ level: 'silent' });
let api: ApiServer;
let client: KubeClient;

beforeAll(async () => {
  api = await startApiServer();
  client = adminClient(api);
});
afterAll(async () => {
  await api?.close();
});

function snapshot(): LeaderSnapshot {
  return {
    gc: { classes: [], services: [], nodes: new Set(), nodesSynced: true },
    pools: {
      pools: api.store.list('podaddresspools').items as PodAddressPool[],
      nodes: api.store.list('nodes').items as Node[],
      podlbNodes: api.store.list('podlbnodes').items as PodLBNode[],
      synced: true,
    },
    octavia: { classes: [], services: [], pods: [], endpointSlices: [], secret: () => undefined, synced: true },
    stillLeading: () => true,
  };
}

describe('PoolStatusReconciler', () => {
  it('failed writes wake the loop after backoff(), doubling, and stop once a write succeeds', async () => {
    api.store.create('podaddresspools', poolFixture('tokyo'));
    const r = new PoolStatusReconciler({ writer: new PoolStatusWriter({ client, log, record: () => undefined }), random: () => 0.5 });
    const now = Date.parse('2026-12-06T10:00:00Z');
    const failPatch = () => api.faults.failNext({ count: 1, status: 500, match: (m, p) => m === 'PATCH' && p.includes('/podaddresspools/tokyo/status') });

    failPatch();
    const first = await r.reconcile(snapshot(), now);
    expect(first.status?.pools?.errors.map((e) => e.pool)).toEqual(['tokyo']);
    expect(first.failed).toBeUndefined();
    expect(first.nextWakeAt).toBe(now + 5_000);

    failPatch();
    expect((await r.reconcile(snapshot(), now + 5_000)).nextWakeAt).toBe(now + 5_000 + 10_000);

    const ok = await r.reconcile(snapshot(), now + 15_000);
    expect(ok.status?.pools?.written).toEqual(['tokyo']);
    expect(ok.nextWakeAt).toBeUndefined();
  });
});

describe('leaderRunReport', () => {
  it("puts each reconciler's part in the report, and a failure under <name>Error", () => {
    const report = leaderRunReport(
      7,
      new Map([
        ['tls', { error: 'Secret write refused' }],
        ['gc', { result: { status: { gc: { scanned: 2, removed: [], waiting: [], errors: [] } } } }],
      ]),
    );
    expect(report).toEqual({ at: 7, tlsError: 'Secret write refused', gc: { scanned: 2, removed: [], waiting: [], errors: [] } });
  });
});
