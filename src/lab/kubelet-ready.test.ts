// The lab kubelet's Ready writes against a slow API server: one per Pod at a time, however
// many Pod events arrive while it is under way (a real kubelet's status manager syncs a Pod's
// status from one worker). The Pod's container is a stand-in here: only its status matters.
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

/** The real client; it counts the Ready writes it sends. */
class CountingClient extends KubeClient {
  readyWrites = 0;
  override patch<T>(path: string, body: unknown, type: Parameters<KubeClient['patch']>[2]): Promise<T> {
    const conditions = (body as { status?: { conditions?: { type: string }[] } }).status?.conditions ?? [];
    if (conditions.length === 1 && conditions[0]!.type === 'Ready') this.readyWrites += 1;
    return super.patch<T>(path, body, type);
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
