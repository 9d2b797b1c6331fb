import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../apiserver/index.js';
import { KubeClient } from './client.js';
import { EventRecorder } from './events.js';

let api: ApiServer;
let client: KubeClient;

beforeAll(async () => {
  api = await startApiServer();
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfigYaml());
  client = new KubeClient(kc);
});
afterAll(async () => {
  await client?.close();
  await api?.close();
});

describe('EventRecorder.recordLater', () => {
  it('returns before the write and keeps at most inFlight writes at the server at once', async () => {
    const LATENCY_MS = 150;
    const recorder = new EventRecorder(client, pino({ level: 'silent' }), { component: 'podlb-agent', host: 'n1', inFlight: 2 });
    const events = () => api.store.list('events', { namespace: 'default' }).items.length;
    const before = events();
    api.faults.setLatencyMs(LATENCY_MS);
    try {
      const t0 = performance.now();
      for (let i = 0; i < 6; i++)
        recorder.recordLater({
          object: { apiVersion: 'v1', kind: 'Pod', namespace: 'default', name: `burst-${i}`, uid: `u${i}` },
          type: 'Normal',
          reason: 'MemberRegistered',
          message: `member ${i}`,
        });
      expect(events()).toBe(before);
      await recorder.settled();
      // Six writes two at a time are three server round trips; all six at once would be one.
      expect(performance.now() - t0).toBeGreaterThanOrEqual(3 * LATENCY_MS);
      expect(events()).toBe(before + 6);
    } finally {
      api.faults.setLatencyMs(0);
    }
  });
});
