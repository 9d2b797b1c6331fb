// An agent with nothing to do does nothing: no run on a timer, and an EndpointSlice or Service
// change no planner on this node can see costs no run. A change that concerns this node still
// runs the loop at once.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointSlice } from '../api/types.js';
import { startApiServer, type ApiServer } from '../apiserver/index.js';
import { waitFor } from '../lab/netns.js';
import { adminClient, adminKubeConfig } from '../../testkit/api-client.js';
import type { KubeClient } from '../kube/client.js';
import { Agent } from './agent.js';

let api: ApiServer;
let client: KubeClient;
const SLICES = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';

function slice(name: string, node: string, ip: string): EndpointSlice & { apiVersion: string; kind: 'EndpointSlice' } {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: [{ addresses: [ip], nodeName: node, conditions: { ready: true } }],
  };
}

beforeAll(async () => {
  api = await startApiServer();
  client = adminClient(api);
  api.store.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: { podCIDRs: ['10.244.1.0/24'] } });
  for (let i = 0; i < 20; i++) api.store.create('endpointslices', slice(`far${i}`, 'n2', `10.244.2.${i + 1}`));
  api.store.create('endpointslices', slice('near', 'n1', '10.244.1.5'));
  api.store.create('services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'plain', namespace: 'default' }, spec: { ports: [{ port: 80 }] } });
});
afterAll(async () => {
  await client?.close();
  await api?.close();
});

describe('an idle agent', () => {
  it('runs for nothing on a timer, nor for changes that cannot concern this node', async () => {
    const agent = await Agent.create({ nodeName: 'n1', kubeConfig: adminKubeConfig(api), log: pino({ level: 'silent' }), kernel: false, resyncMs: 100 });
    await agent.start();
    try {
      // Settled: no run for a while (the first runs write status, then nothing asks).
      let seen = -1;
      await waitFor(
        'the agent to settle',
        () => {
          const now = agent.runs;
          const settled = now > 0 && now === seen;
          seen = now;
          return settled ? true : undefined;
        },
        10_000,
        500,
      );
      const before = agent.runs;
      const far = await client.get<EndpointSlice>(`${SLICES}/far3`);
      await client.request('PUT', `${SLICES}/far3`, {
        body: { ...far, endpoints: [{ addresses: ['10.244.2.99'], nodeName: 'n2', conditions: { ready: false } }] },
      });
      await client.patch('/api/v1/namespaces/default/services/plain', { metadata: { labels: { touched: 'yes' } } }, 'merge');
      await new Promise((r) => setTimeout(r, 1000));
      expect(agent.runs).toBe(before);

      // The same kind of change on this node's endpoint runs the loop: the watch was alive.
      const near = await client.get<EndpointSlice>(`${SLICES}/near`);
      await client.request('PUT', `${SLICES}/near`, {
        body: { ...near, endpoints: [{ addresses: ['10.244.1.5'], nodeName: 'n1', conditions: { ready: false } }] },
      });
      await waitFor('a run for this node', () => (agent.runs > before ? true : undefined), 5000, 10);
    } finally {
      await agent.stop();
    }
  });
});
