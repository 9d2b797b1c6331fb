// The controller's two cluster-wide caches (every Pod, every EndpointSlice) are what grows with
// the cluster; they are listed and watched as protobuf, which the codec's own tests cannot show:
// here the API server reports what each of the controller's list and watch requests asked for
// and what it was answered in, so a cache that asked for JSON, or was answered in it (a kind the
// protobuf schema lacks), fails.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer, type ServedResponse } from '../apiserver/index.js';
import { CONTROLLER_SERVICE_ACCOUNT, controllerResources } from '../../testkit/controller-resources.js';
import { testController } from '../../testkit/controller-replica.js';

const log = pino({ level: 'silent' });
const PROTOBUF = 'application/vnd.kubernetes.protobuf';
const CLUSTER_WIDE = ['/api/v1/pods', '/apis/discovery.k8s.io/v1/endpointslices'];

let api: ApiServer;

beforeAll(async () => {
  api = await startApiServer({ resources: controllerResources() });
  api.installManifests();
});

afterAll(async () => {
  const denied = api?.deniedRequests() ?? [];
  await api?.close();
  expect(denied, 'calls the shipped RBAC does not grant').toEqual([]);
});

type Request = 'list' | 'watch';
const requestOf = (r: ServedResponse): { path: string; request: Request } => {
  const u = new URL(r.path, 'http://api');
  return { path: u.pathname, request: ['true', '1'].includes(u.searchParams.get('watch') ?? '') ? 'watch' : 'list' };
};

/** A controller replica with this API encoding, until its caches have listed and watched; the first response to each. */
async function negotiated(apiEncoding: 'protobuf' | 'json' | undefined): Promise<Map<string, ServedResponse>> {
  const first = new Map<string, ServedResponse>();
  const stop = api.observeResponses((r) => {
    const { path, request } = requestOf(r);
    if (r.method === 'GET' && CLUSTER_WIDE.includes(path) && !first.has(`${request} ${path}`)) first.set(`${request} ${path}`, r);
  });
  const kubeConfig = api.podIdentity({ serviceAccount: CONTROLLER_SERVICE_ACCOUNT, nodeName: 'node1' }).kubeConfig();
  const c = testController({ kubeConfig, log, identity: `ctl-${apiEncoding ?? 'default'}`, ...(apiEncoding ? { apiEncoding } : {}) });
  try {
    await c.start();
    await expect.poll(() => first.size, { timeout: 10_000, interval: 50 }).toBe(2 * CLUSTER_WIDE.length);
    return first;
  } finally {
    stop();
    await c.stop();
  }
}

describe('the controller’s cluster-wide caches on the wire', () => {
  it('by default list and watch every Pod and EndpointSlice as protobuf, and are answered in it', async () => {
    const seen = await negotiated(undefined);
    for (const path of CLUSTER_WIDE) {
      const list = seen.get(`list ${path}`);
      const watch = seen.get(`watch ${path}`);
      expect(list?.accept.split(',')[0]?.trim(), path).toBe(PROTOBUF);
      expect(watch?.accept.split(',')[0]?.trim(), path).toBe(PROTOBUF);
      expect({ path, list: [list?.code, list?.contentType], watch: [watch?.code, watch?.contentType] }).toEqual({
        path,
        list: [200, PROTOBUF],
        watch: [200, `${PROTOBUF};stream=watch`],
      });
    }
  });

  it('--api-encoding=json (a proxy that cannot carry protobuf): the same requests ask for and get JSON', async () => {
    const seen = await negotiated('json');
    for (const path of CLUSTER_WIDE)
      expect([seen.get(`list ${path}`)?.contentType, seen.get(`watch ${path}`)?.contentType, seen.get(`list ${path}`)?.accept], path).toEqual([
        'application/json',
        'application/json',
        'application/json',
      ]);
  });
});
