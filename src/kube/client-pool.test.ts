// Connections the client opens to a real TLS API server: one pool per credential, shared by
// requests and watches, and a new one when the TLS material it was built from changes.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../apiserver/index.js';
import { KubeClient } from './client.js';
import { adminClient } from '../../testkit/api-client.js';

let api: ApiServer;
let connects = 0;
const onConnect = (): void => {
  connects += 1;
};

beforeEach(async () => {
  api = await startApiServer();
  connects = 0;
  subscribe('undici:client:connected', onConnect);
});

afterEach(async () => {
  unsubscribe('undici:client:connected', onConnect);
  await api.close();
});

const whoAmI = async (client: KubeClient): Promise<string | undefined> =>
  (
    await client.create<{ status?: { userInfo?: { username?: string } } }>('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'SelfSubjectReview',
    })
  ).status?.userInfo?.username;

describe('KubeClient connections', () => {
  it('100 sequential requests share one TLS connection', async () => {
    const client = adminClient(api);
    for (let i = 0; i < 100; i++) await client.get('/api/v1/namespaces');
    // client-node's own dispatcher per call opened 100 here. A request sent in the same tick
    // as the previous answer's end may find its connection not yet back in the pool: a second.
    expect(connects).toBeLessThanOrEqual(2);
    await client.close();
  });

  it('a changed client certificate gets a new pool, and requests authenticate with it', async () => {
    const kc = new KubeConfig();
    kc.loadFromString(await api.kubeconfigForClientCert({ username: 'alice' }));
    const client = new KubeClient(kc);
    expect(await whoAmI(client)).toBe('alice');
    expect(await whoAmI(client)).toBe('alice');
    const before = connects;
    expect(before).toBeLessThanOrEqual(2);
    const next = new KubeConfig();
    next.loadFromString(await api.kubeconfigForClientCert({ username: 'bob' }));
    const user = kc.getCurrentUser() as { certData?: string; keyData?: string };
    const rotated = next.getCurrentUser() as { certData?: string; keyData?: string };
    // What a rotated certificate file looks like to client-node: new material on the next read.
    user.certData = rotated.certData;
    user.keyData = rotated.keyData;
    expect(await whoAmI(client)).toBe('bob');
    // A connection of the old pool would still authenticate as alice.
    expect(connects).toBeGreaterThan(before);
    await client.close();
  });
});
