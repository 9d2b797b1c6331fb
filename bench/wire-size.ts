// JSON vs protobuf for the list every agent starts with: 1,000 EndpointSlices of 100 endpoints
// each (100,000 endpoints, 1,000 nodes), served by the in-process API server over HTTPS and
// decoded by the two WireCodecs. Prints bytes on the wire, the time until the whole body
// arrived, and the decoding time. `npm run build && node dist/bench/wire-size.js`
import { pathToFileURL } from 'node:url';
import { Agent, fetch } from 'undici';
import { startApiServer } from '../src/apiserver/index.js';
import { protobufCodec } from '../src/kube/proto/codec.js';
import { jsonCodec, type WireCodec } from '../src/kube/wire.js';
import { adminKubeConfig } from '../testkit/api-client.js';

const SLICES = 1000;
const ENDPOINTS = 100;
const NODES = 1000;

function slice(k: number) {
  const svc = `svc-${k}`;
  return {
    metadata: {
      name: `${svc}-abcde`,
      generateName: `${svc}-`,
      namespace: 'shop',
      labels: { 'kubernetes.io/service-name': svc, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
      annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': '2026-12-06T10:00:00Z' },
      ownerReferences: [
        {
          apiVersion: 'v1',
          kind: 'Service',
          name: svc,
          uid: `0c6b5a5e-0000-4000-8000-${String(k).padStart(12, '0')}`,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: ENDPOINTS }, (_, i) => {
      const n = (k * ENDPOINTS + i) % NODES;
      return {
        addresses: [`10.${(k >> 8) & 255}.${k & 255}.${i + 1}`],
        conditions: { ready: true, serving: true, terminating: false },
        nodeName: `node-${n}`,
        targetRef: { kind: 'Pod', namespace: 'shop', name: `${svc}-pod-${i}`, uid: `5b1f6a3c-0000-4000-8000-${String(k * ENDPOINTS + i).padStart(12, '0')}` },
      };
    }),
  };
}

export interface WireSizeFigures {
  endpoints: number;
  json: { bytes: number; serveMs: number; decodeMs: number };
  protobuf: { bytes: number; serveMs: number; decodeMs: number };
  ratio: number;
}

export async function benchWireSize(): Promise<WireSizeFigures> {
  const server = await startApiServer({});
  const agent = new Agent({ connect: { ca: server.caPem } });
  try {
    server.store.create('namespaces', { metadata: { name: 'shop' } });
    for (let k = 0; k < SLICES; k++) server.store.create('endpointslices', slice(k));
    const token = adminKubeConfig(server).getCurrentUser()!.token!;
    const measure = async (codec: WireCodec) => {
      const t0 = performance.now();
      const r = await fetch(`${server.url}/apis/discovery.k8s.io/v1/endpointslices`, {
        dispatcher: agent,
        headers: { Authorization: `Bearer ${token}`, Accept: codec.accept },
      });
      const body = new Uint8Array(await r.arrayBuffer());
      const serveMs = performance.now() - t0;
      if (!codec.handles(r.headers.get('content-type') ?? '')) throw new Error(`${codec.accept} answered ${r.headers.get('content-type')}`);
      const t1 = performance.now();
      const list = codec.decodeList(body);
      const decodeMs = performance.now() - t1;
      const n = list.items.reduce((s, o) => s + ((o.endpoints as unknown[]) ?? []).length, 0);
      if (n !== SLICES * ENDPOINTS) throw new Error(`decoded ${n} endpoints`);
      return { bytes: body.length, serveMs: Math.round(serveMs), decodeMs: Math.round(decodeMs) };
    };
    // once each to warm up, then the figures
    await measure(jsonCodec);
    await measure(protobufCodec);
    const json = await measure(jsonCodec);
    const protobuf = await measure(protobufCodec);
    return { endpoints: SLICES * ENDPOINTS, json, protobuf, ratio: Math.round((json.bytes / protobuf.bytes) * 100) / 100 };
  } finally {
    await agent.close();
    await server.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const f = await benchWireSize();
  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  console.log(`list of ${SLICES} EndpointSlices x ${ENDPOINTS} endpoints (${f.endpoints} endpoints), in-process API server`);
  console.log(`  JSON:     ${mb(f.json.bytes)}  served in ${f.json.serveMs} ms, decoded in ${f.json.decodeMs} ms`);
  console.log(`  protobuf: ${mb(f.protobuf.bytes)}  served in ${f.protobuf.serveMs} ms, decoded in ${f.protobuf.decodeMs} ms`);
  console.log(`  JSON / protobuf bytes: ${f.ratio}`);
}
