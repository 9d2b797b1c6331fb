// The agent's informers list EndpointSlices, the largest collection every node reads, in small
// pages: a page is held whole (twice) while it arrives, so its size is the agent's peak memory.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../apiserver/index.js';
import { KubeClient } from '../kube/client.js';
import { adminKubeConfig } from '../../testkit/api-client.js';
import { AgentInformers, SLICE_PAGE } from './snapshot.js';

/** A client that records the pages it was asked for: path and limit of every list request. */
class RecordingClient extends KubeClient {
  readonly lists: { path: string; limit: string | undefined }[] = [];
  override getBytes(path: string, query: Record<string, string | undefined>, accept: string, signal?: AbortSignal) {
    this.lists.push({ path, limit: query.limit });
    return super.getBytes(path, query, accept, signal);
  }
}

const SLICES = '/apis/discovery.k8s.io/v1/endpointslices';
let api: ApiServer;

beforeAll(async () => {
  api = await startApiServer();
  api.store.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: { podCIDRs: ['10.244.1.0/24'] } });
  for (let i = 0; i < 2 * SLICE_PAGE + 1; i++)
    api.store.create('endpointslices', {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `s${i}`, namespace: 'default', labels: { 'kubernetes.io/service-name': `s${i}` } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [`10.244.2.${(i % 250) + 1}`], nodeName: i === 7 ? 'n1' : 'n2' }],
    });
});
afterAll(async () => {
  await api?.close();
});

describe('AgentInformers', () => {
  it.each(['protobuf', 'json'] as const)('lists EndpointSlices in pages of at most 100 (%s)', async (apiEncoding) => {
    expect(SLICE_PAGE).toBeLessThanOrEqual(100);
    const client = new RecordingClient(adminKubeConfig(api));
    const informers = new AgentInformers(client, {
      nodeName: 'n1',
      secretsNamespace: 'podlb-system',
      log: pino({ level: 'silent' }),
      onChange: () => undefined,
      apiEncoding,
    });
    try {
      await informers.start();
      expect(informers.synced).toBe(true);
      const pages = client.lists.filter((l) => l.path === SLICES);
      expect(pages).toEqual(Array.from({ length: 3 }, () => ({ path: SLICES, limit: String(SLICE_PAGE) })));
      const snap = informers.snapshot(undefined)!;
      expect(snap.slices).toHaveLength(2 * SLICE_PAGE + 1);
      expect(snap.slices.flatMap((s) => s.endpoints.map((e) => e.addresses[0]))).toEqual(['10.244.2.8']);
    } finally {
      await informers.stop();
      await client.close();
    }
  });
});
