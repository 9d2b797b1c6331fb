// The in-process API server's protobuf against its own JSON: for each kind the agents list and
// watch, the same objects arrive deep-equal whichever encoding was negotiated (pages with
// limit/continue, a watch with a BOOKMARK and a 410 ERROR), custom resources stay JSON, and
// errors come as protobuf Status when protobuf was asked for, as kube-apiserver 1.32 does.
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, startApiServer } from '../../apiserver/index.js';
import { adminKubeConfig } from '../../../testkit/api-client.js';
import { jsonCodec, type WireCodec, type WireList, type WireWatchEvent } from '../wire.js';
import { decodeProtobufList, protobufCodec, protobufWatchDecoder } from './codec.js';
import { decodeObject } from './envelope.js';
import { clientSchema, serverSchema } from './schema.js';

const PROTOBUF = 'application/vnd.kubernetes.protobuf';
const BOTH = protobufCodec.accept;

let server: ApiServer;
let token: string;
let agent: Agent;

interface Raw {
  status: number;
  contentType: string;
  body: Uint8Array;
}

async function get(path: string, accept: string): Promise<Raw> {
  const r = await fetch(`${server.url}${path}`, { dispatcher: agent, headers: { Authorization: `Bearer ${token}`, Accept: accept } });
  return { status: r.status, contentType: r.headers.get('content-type') ?? '', body: new Uint8Array(await r.arrayBuffer()) };
}

/** The server's full schema: what it stores, so a protobuf object equals its JSON twin. */
const serverCodec: WireCodec = {
  ...protobufCodec,
  decodeList: (b) => decodeProtobufList(serverSchema, b),
  watchDecoder: () => protobufWatchDecoder(serverSchema),
};

async function pages(path: string, accept: string, codec: WireCodec): Promise<WireList[]> {
  const out: WireList[] = [];
  let cont: string | undefined;
  do {
    const r = await get(`${path}?limit=2${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`, accept);
    expect(r.status).toBe(200);
    expect(codec.handles(r.contentType)).toBe(true);
    const page = codec.decodeList(r.body);
    out.push(page);
    cont = page.continue;
  } while (cont);
  return out;
}

/** Reads a watch until `done` says the events so far are enough. */
async function watch(
  path: string,
  accept: string,
  codec: WireCodec,
  done: (evs: WireWatchEvent[]) => boolean,
): Promise<{ contentType: string; events: WireWatchEvent[] }> {
  const ac = new AbortController();
  const r = await fetch(`${server.url}${path}`, { dispatcher: agent, signal: ac.signal, headers: { Authorization: `Bearer ${token}`, Accept: accept } });
  const contentType = r.headers.get('content-type') ?? '';
  const dec = codec.watchDecoder();
  const events: WireWatchEvent[] = [];
  const reader = r.body!.getReader();
  const deadline = setTimeout(() => ac.abort(), 5000);
  try {
    while (!done(events)) {
      const { value, done: ended } = await reader.read();
      if (ended) {
        dec.end();
        break;
      }
      events.push(...dec.push(value));
    }
  } finally {
    clearTimeout(deadline);
    ac.abort();
  }
  return { contentType, events };
}

function seed(): void {
  const s = server.store;
  s.create('namespaces', { metadata: { name: 'shop' } });
  for (const n of ['node-1', 'node-2', 'node-3'])
    s.create('nodes', {
      metadata: { name: n, labels: { 'kubernetes.io/hostname': n } },
      spec: { podCIDR: `10.1.${n.slice(-1)}.0/24`, podCIDRs: [`10.1.${n.slice(-1)}.0/24`], ...(n === 'node-3' ? { unschedulable: true } : {}) },
    });
  s.updateStatus('nodes', {
    ...s.get('nodes', 'node-1'),
    status: {
      capacity: { cpu: '4', memory: '16Gi', pods: '110' },
      allocatable: { cpu: '3800m', memory: '15Gi', pods: '110' },
      addresses: [{ type: 'InternalIP', address: '192.0.2.1' }],
      conditions: [
        { type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: '2026-12-06T10:00:00Z', lastTransitionTime: '2026-12-06T09:00:00Z' },
      ],
    },
  });
  for (let i = 1; i <= 5; i++) {
    const p = s.create('pods', {
      metadata: { name: `web-${i}`, namespace: 'shop', labels: { app: 'web' }, annotations: { 'podlb.io/load-balancer': 'lab' } },
      spec: {
        nodeName: `node-${1 + (i % 3)}`,
        readinessGates: [{ conditionType: 'podlb.io/load-balancer-ready' }],
        containers: [{ name: 'app', image: 'nginx:1.27', ports: [{ name: 'http', containerPort: 8080 }] }],
      },
    });
    s.updateStatus('pods', {
      ...p,
      status: {
        phase: 'Running',
        podIP: `10.1.0.${i}`,
        hostIP: '192.0.2.1',
        conditions: [
          { type: 'Ready', status: 'False', lastTransitionTime: '2026-12-06T10:00:00Z' },
          { type: 'podlb.io/load-balancer-ready', status: 'True', reason: 'LoadBalancerHealthy', lastTransitionTime: '2026-12-06T10:00:01Z' },
        ],
      },
    });
  }
  s.create('services', {
    metadata: { name: 'web', namespace: 'shop' },
    spec: {
      selector: { app: 'web' },
      ports: [
        { name: 'http', port: 80, targetPort: 'http' },
        { name: 'metrics', port: 9100, targetPort: 9100, protocol: 'TCP' },
      ],
    },
  });
  s.create('services', { metadata: { name: 'np', namespace: 'shop' }, spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80 }] } });
  s.create('services', { metadata: { name: 'headless', namespace: 'shop' }, spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ port: 80 }] } });
  for (let k = 0; k < 3; k++)
    s.create('endpointslices', {
      metadata: { name: `web-${k}`, namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: [1, 2].map((i) => ({
        addresses: [`10.1.${k}.${i}`],
        conditions: { ready: i === 1, serving: true, terminating: false },
        nodeName: `node-${i}`,
        targetRef: { kind: 'Pod', namespace: 'shop', name: `web-${i}`, uid: `uid-${i}` },
      })),
    });
}

beforeAll(async () => {
  server = await startApiServer({ bookmarkIntervalMs: 100 });
  token = adminKubeConfig(server).getCurrentUser()!.token!;
  agent = new Agent({ connect: { ca: server.caPem } });
  seed();
});
afterAll(async () => {
  await agent.close();
  await server.close();
});

const KINDS = [
  ['pods', '/api/v1/namespaces/shop/pods'],
  ['services', '/api/v1/namespaces/shop/services'],
  ['endpointslices', '/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices'],
  ['nodes', '/api/v1/nodes'],
] as const;

describe('protobuf lists from the in-process API server', () => {
  it.each(KINDS)('%s: every page equals its JSON twin', async (_, path) => {
    const viaJson = await pages(path, 'application/json', jsonCodec);
    const viaProto = await pages(path, BOTH, serverCodec);
    expect(viaJson.length).toBeGreaterThan(1);
    expect(viaJson[0]!.remainingItemCount).toBeGreaterThan(0);
    expect(viaProto).toEqual(viaJson);
    expect(server.store.list(path.split('/').pop()!, {}).items.length).toBe(viaJson.flatMap((p) => p.items).length);
    // what the server stores fits its schema: nothing was left out of a protobuf body
    expect(server.protobufDropped()).toEqual([]);
  });

  it.each(KINDS)('%s: the agent’s minimal schema keeps a subset of the JSON, with what podlb reads', async (_, path) => {
    const viaJson = (await pages(path, 'application/json', jsonCodec)).flatMap((p) => p.items);
    const viaClient = (await pages(path, BOTH, protobufCodec)).flatMap((p) => p.items);
    expect(viaJson).toMatchObject(viaClient);
    expect(viaClient.map((o) => o.metadata?.name)).toEqual(viaJson.map((o) => o.metadata?.name));
  });

  it('podlb’s fields survive the minimal schema', async () => {
    const [pods] = await pages('/api/v1/namespaces/shop/pods', BOTH, protobufCodec);
    const p = pods!.items[0] as { spec: Record<string, unknown>; status: Record<string, unknown> };
    expect(p.spec).toEqual({
      nodeName: 'node-2',
      readinessGates: [{ conditionType: 'podlb.io/load-balancer-ready' }],
      containers: [{ name: 'app', image: 'nginx:1.27', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
    });
    expect(p.status).toMatchObject({ phase: 'Running', podIP: '10.1.0.1', podIPs: [{ ip: '10.1.0.1' }], hostIP: '192.0.2.1' });
  });

  it('answers protobuf only with the protobuf Content-Type, and JSON to a JSON Accept', async () => {
    const p = await get('/api/v1/nodes', PROTOBUF);
    expect(p.contentType).toBe(PROTOBUF);
    expect(Buffer.from(p.body.subarray(0, 4)).toString('latin1')).toBe('k8s\0');
    const j = await get('/api/v1/nodes', 'application/json');
    expect(j.contentType).toBe('application/json');
    expect(p.body.length).toBeLessThan(j.body.length);
  });
});

describe('protobuf watches', () => {
  it('streams the same events as JSON, with a BOOKMARK, framed and typed as the real server does', async () => {
    const rv = (await pages('/api/v1/namespaces/shop/pods', 'application/json', jsonCodec))[0]!.resourceVersion;
    const path = `/api/v1/namespaces/shop/pods?watch=true&allowWatchBookmarks=true&resourceVersion=${rv}`;
    const untilBookmark = (evs: WireWatchEvent[]) => evs.some((e) => e.type === 'BOOKMARK') && evs.some((e) => e.type === 'DELETED');
    const jsonWatch = watch(path, 'application/json', jsonCodec, untilBookmark);
    const protoWatch = watch(path, BOTH, serverCodec, untilBookmark);
    await new Promise((r) => setTimeout(r, 50));
    const created = server.store.create('pods', {
      metadata: { name: 'web-9', namespace: 'shop', labels: { app: 'web' } },
      spec: { nodeName: 'node-1', containers: [{ name: 'app', image: 'nginx:1.27' }] },
    });
    server.store.patch('pods', 'web-9', 'shop', 'application/merge-patch+json', { metadata: { labels: { app: 'web', v: '2' } } }, {});
    server.store.delete('pods', String(created.metadata.name), 'shop', { gracePeriodSeconds: 0 });
    const [j, p] = await Promise.all([jsonWatch, protoWatch]);
    expect(p.contentType).toBe('application/vnd.kubernetes.protobuf;stream=watch');
    expect(j.contentType).toBe('application/json');
    const changes = (evs: WireWatchEvent[]) => evs.filter((e) => e.type !== 'BOOKMARK');
    expect(changes(p.events).map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
    expect(changes(p.events)).toEqual(changes(j.events));
    const bookmark = p.events.find((e) => e.type === 'BOOKMARK')!;
    expect(bookmark.object).toEqual({ apiVersion: 'v1', kind: 'Pod', metadata: { resourceVersion: expect.stringMatching(/^\d+$/) } });
  });

  it('ends a watch from a compacted resourceVersion with a 410 ERROR Status, as JSON does', async () => {
    const rv = (await pages('/api/v1/nodes', 'application/json', jsonCodec))[0]!.resourceVersion;
    server.store.create('nodes', { metadata: { name: 'node-4' } });
    server.faults.compact();
    const path = `/api/v1/nodes?watch=true&resourceVersion=${rv}`;
    const untilError = (evs: WireWatchEvent[]) => evs.some((e) => e.type === 'ERROR');
    const j = await watch(path, 'application/json', jsonCodec, untilError);
    const p = await watch(path, BOTH, protobufCodec, untilError);
    expect(p.events).toEqual(j.events);
    expect(p.events[0]!.object).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 });
  });
});

describe('custom resources and errors', () => {
  const pools = '/apis/podlb.io/v1alpha1/podaddresspools';

  it('a custom resource stays JSON: JSON alone is served, protobuf first is 406 with a protobuf Status, even with the JSON fallback', async () => {
    server.store.create('podaddresspools', {
      apiVersion: 'podlb.io/v1alpha1',
      kind: 'PodAddressPool',
      metadata: { name: 'p1' },
      spec: { cidrs: ['10.1.0.0/16'] },
    });
    const j = await get(pools, 'application/json');
    expect(j.status).toBe(200);
    expect(jsonCodec.decodeList(j.body).items.map((o) => o.metadata?.name)).toEqual(['p1']);
    for (const accept of [PROTOBUF, BOTH]) {
      const r = await get(pools, accept);
      expect(r.status).toBe(406);
      expect(r.contentType).toBe(PROTOBUF);
      expect(decodeObject(clientSchema, r.body)).toEqual({
        apiVersion: 'v1',
        kind: 'Status',
        metadata: {},
        status: 'Failure',
        reason: 'NotAcceptable',
        message: 'object *unstructured.UnstructuredList does not implement the protobuf marshalling interface and cannot be encoded to a protobuf message',
        code: 406,
      });
    }
    // JSON named first wins
    expect((await get(pools, 'application/json, application/vnd.kubernetes.protobuf')).status).toBe(200);
  });

  it('a watch of a custom resource in protobuf starts and ends at its first event', async () => {
    const r = await watch(`${pools}?watch=true`, PROTOBUF, protobufCodec, () => false);
    expect(r.contentType).toBe('application/vnd.kubernetes.protobuf;stream=watch');
    expect(r.events).toEqual([]);
  });

  it('an error is a protobuf Status when protobuf was asked for, JSON otherwise', async () => {
    const p = await get('/api/v1/namespaces/shop/pods/nope', BOTH);
    expect(p.status).toBe(404);
    expect(p.contentType).toBe(PROTOBUF);
    const j = await get('/api/v1/namespaces/shop/pods/nope', 'application/json');
    expect(decodeObject(clientSchema, p.body)).toEqual(JSON.parse(Buffer.from(j.body).toString()));
  });

  it.each(['/api/v1/nodes', '/api/v1/nodes?watch=true'])('nothing acceptable is 406 in JSON, listing what is offered: %s', async (path) => {
    const r = await get(path, 'text/html');
    expect(r.status).toBe(406);
    expect(r.contentType).toBe('application/json');
    expect(JSON.parse(Buffer.from(r.body).toString())).toMatchObject({
      reason: 'NotAcceptable',
      message: 'only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf',
    });
  });
});
