// Byte fixtures written by hand from the upstream field numbers (Kubernetes 1.32: k8s.io/api
// core/v1 and discovery/v1 generated.proto, k8s.io/apimachinery meta/v1, runtime and intstr
// generated.proto), not produced by podlb's encoder: a wrong field number or wire type in the
// schema fails here. Every tag byte is literal, with (field << 3) | wiretype beside it; wire
// type 0 is a varint, 2 is length-delimited. ld() only prefixes a length.
import { describe, expect, it } from 'vitest';
import { jsonCodec } from '../wire.js';
import { protobufCodec } from './codec.js';

const utf8 = new TextEncoder();

function hex(s: string): Uint8Array {
  const bytes = s.replace(/\/\/.*$/gm, '').match(/[0-9a-f]{2}/gi) ?? [];
  return Uint8Array.from(bytes.map((h) => Number.parseInt(h, 16)));
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

type Part = string | Uint8Array;
function cat(...parts: Part[]): Uint8Array {
  const arrays = parts.map((p) => (typeof p === 'string' ? hex(p) : p));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}
/** A length-delimited field: the literal tag, the length of the body, the body. */
function ld(tag: string, ...body: Part[]): Uint8Array {
  const b = cat(...body);
  return cat(tag, Uint8Array.from(varint(b.length)), b);
}
function str(tag: string, s: string): Uint8Array {
  return ld(tag, utf8.encode(s));
}

const MAGIC = '6b 38 73 00'; // "k8s\0"
/** runtime.Unknown: typeMeta = 1 (0x0a) {apiVersion = 1 (0x0a), kind = 2 (0x12)}, raw = 2 (0x12). */
function envelope(apiVersion: string, kind: string, raw: Uint8Array): Uint8Array {
  return cat(MAGIC, ld('0a', str('0a', apiVersion), str('12', kind)), ld('12', raw));
}
function frame(body: Uint8Array): Uint8Array {
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, body.length, false);
  return cat(len, body);
}

// core/v1 Pod
const pod = cat(
  ld(
    '0a', // Pod.metadata = 1 -> (1<<3)|2
    str('0a', 'web-1'), // ObjectMeta.name = 1 -> 0x0a
    str('12', 'web-'), // ObjectMeta.generateName = 2 -> 0x12 (not in the client schema: skipped)
    str('1a', 'shop'), // ObjectMeta.namespace = 3 -> 0x1a
    str('2a', 'u-1'), // ObjectMeta.uid = 5 -> 0x2a
    str('32', '41'), // ObjectMeta.resourceVersion = 6 -> 0x32
    '38 02', // ObjectMeta.generation = 7 varint -> 0x38, 2
    ld('42', '08 80 e2 cf aa 06'), // ObjectMeta.creationTimestamp = 8 -> 0x42 {Time.seconds = 1 varint -> 0x08: 1700000000}
    ld('5a', str('0a', 'app'), str('12', 'shop')), // ObjectMeta.labels = 11 -> 0x5a, map entry key = 1, value = 2
    ld('62', str('0a', 'podlb.io/backend'), str('12', 'web')), // ObjectMeta.annotations = 12 -> 0x62
  ),
  ld(
    '12', // Pod.spec = 2
    ld(
      '12', // PodSpec.containers = 2 -> 0x12
      str('0a', 'app'), // Container.name = 1
      str('12', 'nginx:1.27'), // Container.image = 2
      ld('32', str('0a', 'http'), '18 90 3f', str('22', 'TCP')), // Container.ports = 6 -> 0x32 {name = 1, containerPort = 3 varint -> 0x18: 8080, protocol = 4 -> 0x22}
    ),
    '20 1e', // PodSpec.terminationGracePeriodSeconds = 4 varint -> 0x20: 30
    str('32', 'ClusterFirst'), // PodSpec.dnsPolicy = 6 -> 0x32 (server only: skipped)
    str('52', 'node-1'), // PodSpec.nodeName = 10 -> (10<<3)|2 = 0x52
    '58 00', // PodSpec.hostNetwork = 11 varint -> 0x58: false, a plain bool JSON omits
    ld('e2 01', str('0a', 'podlb.io/load-balancer-ready')), // PodSpec.readinessGates = 28 -> (28<<3)|2 = 226 -> varint e2 01 {conditionType = 1}
  ),
  ld(
    '1a', // Pod.status = 3
    str('0a', 'Running'), // PodStatus.phase = 1
    ld('12', str('0a', 'Ready'), str('12', 'True'), ld('22', '08 e4 e2 cf aa 06')), // PodStatus.conditions = 2 {type = 1, status = 2, lastTransitionTime = 4 -> 0x22: 1700000100}
    str('2a', '192.0.2.1'), // PodStatus.hostIP = 5 -> 0x2a
    str('32', '10.1.0.5'), // PodStatus.podIP = 6 -> 0x32
    ld('62', str('0a', '10.1.0.5')), // PodStatus.podIPs = 12 -> (12<<3)|2 = 0x62 {ip = 1}
    'f8 07 01', // field 127 varint (not in any schema): skipped
  ),
);

const podJson = {
  metadata: {
    name: 'web-1',
    namespace: 'shop',
    uid: 'u-1',
    resourceVersion: '41',
    generation: 2,
    creationTimestamp: '2023-11-14T22:13:20Z',
    labels: { app: 'shop' },
    annotations: { 'podlb.io/backend': 'web' },
  },
  spec: {
    containers: [{ name: 'app', image: 'nginx:1.27', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }],
    terminationGracePeriodSeconds: 30,
    nodeName: 'node-1',
    readinessGates: [{ conditionType: 'podlb.io/load-balancer-ready' }],
  },
  status: {
    phase: 'Running',
    conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2023-11-14T22:15:00Z' }],
    hostIP: '192.0.2.1',
    podIP: '10.1.0.5',
    podIPs: [{ ip: '10.1.0.5' }],
  },
};

// discovery/v1 EndpointSlice
const slice = cat(
  ld('0a', str('0a', 'shop-abc'), str('1a', 'shop'), ld('5a', str('0a', 'kubernetes.io/service-name'), str('12', 'shop'))), // metadata = 1
  ld(
    '12', // EndpointSlice.endpoints = 2 -> 0x12
    str('0a', '10.1.0.5'), // Endpoint.addresses = 1
    ld('12', '08 01', '10 00'), // Endpoint.conditions = 2 {ready = 1 varint -> 0x08: true, serving = 2 varint -> 0x10: false (a *bool: JSON keeps false)}
    ld('22', str('0a', 'Pod'), str('12', 'shop'), str('1a', 'web-1'), str('22', 'u-1')), // Endpoint.targetRef = 4 -> 0x22 {kind = 1, namespace = 2, name = 3, uid = 4}
    str('32', 'node-1'), // Endpoint.nodeName = 6 -> 0x32
    str('3a', 'zone-a'), // Endpoint.zone = 7 -> 0x3a (server only: skipped)
  ),
  ld('1a', str('0a', 'http'), str('12', 'TCP'), '18 50'), // EndpointSlice.ports = 3 -> 0x1a {name = 1, protocol = 2, port = 3 varint -> 0x18: 80}
  str('22', 'IPv4'), // EndpointSlice.addressType = 4 -> 0x22
);

const sliceJson = {
  metadata: { name: 'shop-abc', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'shop' } },
  endpoints: [
    {
      addresses: ['10.1.0.5'],
      conditions: { ready: true, serving: false },
      targetRef: { kind: 'Pod', namespace: 'shop', name: 'web-1', uid: 'u-1' },
      nodeName: 'node-1',
    },
  ],
  ports: [{ name: 'http', protocol: 'TCP', port: 80 }],
  addressType: 'IPv4',
};

// core/v1 Service
const service = cat(
  ld('0a', str('0a', 'shop'), str('1a', 'shop'), str('32', '7')),
  ld(
    '12', // Service.spec = 2
    ld('0a', str('0a', 'http'), str('12', 'TCP'), '18 50', ld('22', '08 01', '10 00', str('1a', 'web'))), // ServiceSpec.ports = 1 {name = 1, protocol = 2, port = 3: 80, targetPort = 4 -> 0x22 IntOrString{type = 1 varint: 1 (string), intVal = 2: 0, strVal = 3: "web"}}
    ld('0a', str('0a', 'metrics'), '18 90 3f', ld('22', '08 00', '10 90 3f', str('1a', ''))), // a second port, targetPort IntOrString{type: 0 (int), intVal = 2 varint -> 0x10: 8080}
    ld('12', str('0a', 'app'), str('12', 'shop')), // ServiceSpec.selector = 2 (map)
    str('1a', '10.96.0.10'), // ServiceSpec.clusterIP = 3
    str('22', 'ClusterIP'), // ServiceSpec.type = 4
    str('92 01', '10.96.0.10'), // ServiceSpec.clusterIPs = 18 -> (18<<3)|2 = 146 -> varint 92 01
    str('9a 01', 'IPv4'), // ServiceSpec.ipFamilies = 19 -> 154 -> varint 9a 01
  ),
);

const serviceJson = {
  metadata: { name: 'shop', namespace: 'shop', resourceVersion: '7' },
  spec: {
    ports: [
      { name: 'http', protocol: 'TCP', port: 80, targetPort: 'web' },
      { name: 'metrics', port: 8080, targetPort: 8080 },
    ],
    selector: { app: 'shop' },
    clusterIP: '10.96.0.10',
    type: 'ClusterIP',
    clusterIPs: ['10.96.0.10'],
    ipFamilies: ['IPv4'],
  },
};

// core/v1 Node
const node = cat(
  ld('0a', str('0a', 'node-1'), str('1a', '')), // metadata {name = 1, namespace = 3: "" (Go writes it for a cluster-scoped object; JSON omits it)}
  ld('12', str('0a', '10.1.0.0/24'), '20 01', str('3a', '10.1.0.0/24')), // Node.spec = 2 {podCIDR = 1, unschedulable = 4 varint -> 0x20: true, podCIDRs = 7 -> 0x3a}
  ld(
    '1a', // Node.status = 3
    ld('22', str('0a', 'Ready'), str('12', 'True'), ld('22', '08 80 e2 cf aa 06'), str('2a', 'KubeletReady')), // NodeStatus.conditions = 4 -> 0x22 {type, status, lastTransitionTime = 4, reason = 5 -> 0x2a}
    ld('2a', str('0a', 'InternalIP'), str('12', '192.0.2.1')), // NodeStatus.addresses = 5 -> 0x2a {type = 1, address = 2}
  ),
);

const nodeJson = {
  metadata: { name: 'node-1' },
  spec: { podCIDR: '10.1.0.0/24', unschedulable: true, podCIDRs: ['10.1.0.0/24'] },
  status: {
    conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2023-11-14T22:13:20Z', reason: 'KubeletReady' }],
    addresses: [{ type: 'InternalIP', address: '192.0.2.1' }],
  },
};

/** A *List: metadata = 1 (ListMeta {resourceVersion = 2, continue = 3, remainingItemCount = 4 varint -> 0x20}), items = 2. */
function list(items: Uint8Array[], meta: Part): Uint8Array {
  return cat(ld('0a', meta), ...items.map((i) => ld('12', i)));
}

describe('protobufCodec on hand-written bytes', () => {
  it.each([
    ['v1', 'PodList', pod, podJson],
    ['discovery.k8s.io/v1', 'EndpointSliceList', slice, sliceJson],
    ['v1', 'ServiceList', service, serviceJson],
    ['v1', 'NodeList', node, nodeJson],
  ])('decodes a %s %s', (apiVersion, kind, item, expected) => {
    const body = envelope(apiVersion, kind, list([item, item], cat(str('12', '99'), str('1a', 'next-token'), '20 03')));
    expect(protobufCodec.decodeList(body)).toEqual({ resourceVersion: '99', continue: 'next-token', remainingItemCount: 3, items: [expected, expected] });
  });

  it('hands each item to `each` as it is read, in order, and the list holds what `each` returns', () => {
    const body = envelope('discovery.k8s.io/v1', 'EndpointSliceList', list([slice, slice, slice], cat(str('12', '7'))));
    const seen: unknown[] = [];
    const page = protobufCodec.decodeList(body, (raw) => {
      seen.push(raw);
      return seen.length;
    });
    expect(seen).toEqual([sliceJson, sliceJson, sliceJson]);
    expect(page).toEqual({ resourceVersion: '7', items: [1, 2, 3] });
  });

  it('hands each item of a JSON list to `each` the same way', () => {
    const body = new TextEncoder().encode(JSON.stringify({ metadata: { resourceVersion: '7', continue: 'c' }, items: [sliceJson, nodeJson] }));
    const seen: unknown[] = [];
    const page = jsonCodec.decodeList(body, (raw) => {
      seen.push(structuredClone(raw));
      return raw.metadata?.name;
    });
    expect(seen).toEqual([sliceJson, nodeJson]);
    expect(page).toEqual({ resourceVersion: '7', continue: 'c', items: [sliceJson.metadata.name, nodeJson.metadata.name] });
  });

  it('decodes the last page of a list: no continue, no remainingItemCount', () => {
    const body = envelope('v1', 'PodList', list([], str('12', '100')));
    expect(protobufCodec.decodeList(body)).toEqual({ resourceVersion: '100', items: [] });
  });

  it('refuses a body without the magic, and a kind it has no schema for', () => {
    expect(() => protobufCodec.decodeList(cat(ld('0a', str('0a', 'v1'), str('12', 'PodList'))))).toThrow(/magic/);
    expect(() => protobufCodec.decodeList(envelope('v1', 'ConfigMapList', new Uint8Array(0)))).toThrow(/no protobuf schema for v1 ConfigMapList/);
  });

  // metav1.WatchEvent: type = 1 (0x0a), object = 2 (0x12) RawExtension {raw = 1 (0x0a)}; framed by a 4-byte big-endian length
  const event = (type: string, obj: Uint8Array) => frame(cat(str('0a', type), ld('12', ld('0a', obj))));
  const status410 = envelope(
    'v1',
    'Status',
    cat(
      ld('0a'), // Status.metadata = 1: an empty ListMeta
      str('12', 'Failure'), // Status.status = 2
      str('1a', 'too old resource version: 1 (5)'), // Status.message = 3
      str('22', 'Expired'), // Status.reason = 4
      '30 9a 03', // Status.code = 6 varint -> 0x30: 410
    ),
  );
  const stream = cat(
    event('ADDED', envelope('v1', 'Pod', pod)),
    event('BOOKMARK', envelope('v1', 'Pod', ld('0a', str('32', '55')))),
    event('ERROR', status410),
  );
  const expectedEvents = [
    { type: 'ADDED', object: { apiVersion: 'v1', kind: 'Pod', ...podJson } },
    { type: 'BOOKMARK', object: { apiVersion: 'v1', kind: 'Pod', metadata: { resourceVersion: '55' } } },
    {
      type: 'ERROR',
      object: { apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Failure', message: 'too old resource version: 1 (5)', reason: 'Expired', code: 410 },
    },
  ];

  it('decodes a watch stream in one chunk', () => {
    const d = protobufCodec.watchDecoder();
    expect(d.push(stream)).toEqual(expectedEvents);
    d.end();
  });

  it('decodes a watch stream whose frames and length prefixes span chunks', () => {
    const d = protobufCodec.watchDecoder();
    const got = [];
    for (let i = 0; i < stream.length; i += 3) got.push(...d.push(stream.slice(i, i + 3)));
    expect(got).toEqual(expectedEvents);
    d.end();
  });

  it('says so when the stream ends inside an event', () => {
    const d = protobufCodec.watchDecoder();
    expect(d.push(stream.subarray(0, stream.length - 2))).toHaveLength(2);
    expect(() => d.end()).toThrow(/inside an event/);
  });

  it('chooses itself only for protobuf bodies, and asks for JSON as the fallback', () => {
    expect(protobufCodec.handles('application/vnd.kubernetes.protobuf')).toBe(true);
    expect(protobufCodec.handles('application/vnd.kubernetes.protobuf;stream=watch')).toBe(true);
    expect(protobufCodec.handles('application/json')).toBe(false);
    expect(jsonCodec.handles('application/vnd.kubernetes.protobuf')).toBe(false);
    expect(protobufCodec.accept).toBe('application/vnd.kubernetes.protobuf, application/json');
  });
});
