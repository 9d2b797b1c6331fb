// The lab kubelet's status writes against a slow API server: Ready one per Pod at a time, however
// many Pod events arrive while it is under way, and a released burst one Pod after the other (a
// real kubelet's status manager syncs statuses from one worker). The Pod's container is a stand-in here: only its status matters.
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { READINESS_GATE, type Pod } from '../api/types.js';
import { startApiServer, type ApiServer } from '../apiserver/index.js';
import { KubeClient } from '../kube/client.js';
import { LabKubelet } from './kubelet.js';
import { waitFor } from './netns.js';
import type { LabPod } from './pod-server.js';
import type { Topology } from './topology.js';
import { adminKubeConfig } from '../../testkit/api-client.js';

/** The real client; it counts the Ready writes it sends, and the most container-start writes in flight at once. */
class CountingClient extends KubeClient {
  readyWrites = 0;
  startsInFlight = 0;
  maxStartsInFlight = 0;
  override async patch<T>(path: string, body: unknown, type: Parameters<KubeClient['patch']>[2]): Promise<T> {
    const status = (body as { status?: { phase?: string; conditions?: { type: string }[] } }).status;
    const conditions = status?.conditions ?? [];
    if (conditions.length === 1 && conditions[0]!.type === 'Ready') this.readyWrites += 1;
    if (status?.phase !== 'Running') return super.patch<T>(path, body, type);
    this.startsInFlight += 1;
    this.maxStartsInFlight = Math.max(this.maxStartsInFlight, this.startsInFlight);
    try {
      return await super.patch<T>(path, body, type);
    } finally {
      this.startsInFlight -= 1;
    }
  }
}

function topology(): Topology {
  const pod = (node: string, name: string, port: number): LabPod => ({
    name,
    ns: `pod-${name}`,
    ip: '10.244.1.2',
    port,
    node,
    pid: -1,
    setHealthy: async () => undefined,
    stop: async () => undefined,
    exited: new Promise(() => undefined),
  });
  return {
    nodes: [{ name: 'n1', ns: 'node-n1', address: '172.31.1.2' }],
    addPod: async (node: string, name: string, port: number, opts?: { onNetworkReady?: (ip: string) => void }) => {
      opts?.onNetworkReady?.('10.244.1.2');
      return pod(node, name, port);
    },
    removePod: async () => undefined,
  } as unknown as Topology;
}

let api: ApiServer;
let client: CountingClient;
let kubelet: LabKubelet;

beforeAll(async () => {
  api = await startApiServer();
  client = new CountingClient(adminKubeConfig(api));
  kubelet = new LabKubelet(client, topology(), pino({ level: 'silent' }), { readyLagMs: { min: 0, max: 0 } });
  await kubelet.start();
}, 60_000);
afterAll(async () => {
  await kubelet?.stop();
  await client?.close();
  await api?.close();
});

it('sends one Ready write per Pod at a time, however many Pod events arrive while the server is slow', async () => {
  api.store.create('pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'default' },
    spec: { nodeName: 'n1', readinessGates: [{ conditionType: READINESS_GATE }], containers: [{ name: 'web', image: 'web' }] },
  });
  const pod = (): Pod => api.store.get('pods', 'web-1', 'default') as Pod;
  const cond = (t: string): string | undefined => pod().status?.conditions?.find((c) => c.type === t)?.status;
  await waitFor('ContainersReady', () => (cond('ContainersReady') === 'True' ? true : undefined), 10_000, 10);
  const before = client.readyWrites;
  api.faults.setLatencyMs(600);
  try {
    api.store.patch('pods', 'web-1', 'default', 'strategic', { status: { conditions: [{ type: READINESS_GATE, status: 'True' }] } }, { subresource: 'status' });
    // Pod events while the Ready write waits for its answer (labels: no change to readiness).
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 50));
      api.store.patch('pods', 'web-1', 'default', 'merge', { metadata: { labels: { tick: String(i) } } });
    }
    await waitFor('Ready', () => (cond('Ready') === 'True' ? true : undefined), 10_000, 10);
  } finally {
    api.faults.setLatencyMs(0);
  }
  await new Promise((r) => setTimeout(r, 700));
  // The write itself, and at most one re-check after it was answered.
  expect(client.readyWrites - before).toBeGreaterThanOrEqual(1);
  expect(client.readyWrites - before).toBeLessThanOrEqual(2);
}, 60_000);

it('writes a released burst of held Pods one status after the other, as a status manager does, not all at once', async () => {
  const names = Array.from({ length: 6 }, (_, i) => `burst-${i}`);
  kubelet.hold();
  for (const name of names)
    api.store.create('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default' },
      spec: { nodeName: 'n1', readinessGates: [{ conditionType: READINESS_GATE }], containers: [{ name: 'web', image: 'web' }] },
    });
  await waitFor('every Pod held', () => (kubelet.held === names.length ? true : undefined), 10_000, 10);
  client.maxStartsInFlight = 0;
  api.faults.setLatencyMs(50);
  try {
    await kubelet.release();
  } finally {
    api.faults.setLatencyMs(0);
  }
  const ready = (name: string): boolean =>
    (api.store.get('pods', name, 'default') as Pod).status?.conditions?.some((c) => c.type === 'ContainersReady' && c.status === 'True') === true;
  expect(names.filter(ready)).toEqual(names);
  expect(client.maxStartsInFlight).toBe(1);
}, 60_000);
