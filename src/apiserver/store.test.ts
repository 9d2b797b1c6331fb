// Store-level semantics (in-process API): selectors, patch formats, watch transitions and
// history, deletion and namespaces.
import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.js';
import { refusal } from '../../testkit/api-errors.js';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from './patch.js';
import { builtinResources } from './resources.js';
import { parseLabelSelector } from './selectors.js';
import { requirementsMatch } from '../util/label-selector.js';
import { ObjectStore, type WatchEvent } from './store.js';

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

const code = (fn: () => unknown): number | undefined => refusal(fn).code;

const podSpec = (extra: Record<string, unknown> = {}) => ({ containers: [{ name: 'c', image: 'img:1' }], ...extra });

describe('label selectors', () => {
  const labels = { app: 'web', tier: 'fe', 'podlb.io/x': 'y' };
  it.each([
    ['app=web', true],
    ['app==web', true],
    ['app!=web', false],
    ['app!=db', true],
    ['missing!=x', true],
    ['app in (web,db)', true],
    ['app notin (web)', false],
    ['missing notin (web)', true],
    ['tier', true],
    ['!tier', false],
    ['!missing', true],
    ['app=web,tier=fe', true],
    ['app=web, tier in (be)', false],
    ['podlb.io/x=y', true],
    ['', true],
  ])('%s → %s', (sel, want) => {
    expect(requirementsMatch(parseLabelSelector(sel), labels)).toBe(want);
  });
  it.each(['app in web', 'a b', '=x', 'app in ()', 'Bad Key=1'])('rejects %s with 400', (sel) => {
    expect(code(() => parseLabelSelector(sel))).toBe(400);
  });
});

describe('strategic merge patch', () => {
  const pod = builtinResources().find((r) => r.plural === 'pods')!.patch;
  const node = builtinResources().find((r) => r.plural === 'nodes')!.patch;
  it.each([
    [
      'conditions merged by type',
      {
        status: {
          conditions: [
            { type: 'A', status: 'True' },
            { type: 'B', status: 'False' },
          ],
        },
      },
      {
        status: {
          conditions: [
            { type: 'B', status: 'True', reason: 'r' },
            { type: 'C', status: 'True' },
          ],
        },
      },
      {
        status: {
          conditions: [
            { type: 'A', status: 'True' },
            { type: 'B', status: 'True', reason: 'r' },
            { type: 'C', status: 'True' },
          ],
        },
      },
    ],
    [
      '$patch: delete removes a keyed item',
      {
        status: {
          conditions: [
            { type: 'A', status: 'True' },
            { type: 'B', status: 'False' },
          ],
        },
      },
      { status: { conditions: [{ type: 'A', $patch: 'delete' }] } },
      { status: { conditions: [{ type: 'B', status: 'False' }] } },
    ],
    [
      'containers by name, nested ports by containerPort',
      {
        spec: {
          containers: [
            { name: 'a', image: 'x', ports: [{ containerPort: 80 }] },
            { name: 'b', image: 'y' },
          ],
        },
      },
      { spec: { containers: [{ name: 'a', image: 'x2', ports: [{ containerPort: 81 }] }] } },
      {
        spec: {
          containers: [
            { name: 'a', image: 'x2', ports: [{ containerPort: 80 }, { containerPort: 81 }] },
            { name: 'b', image: 'y' },
          ],
        },
      },
    ],
    [
      'readinessGates have no merge key: replaced',
      { spec: { readinessGates: [{ conditionType: 'a' }] } },
      { spec: { readinessGates: [{ conditionType: 'b' }] } },
      { spec: { readinessGates: [{ conditionType: 'b' }] } },
    ],
    [
      'ownerReferences by uid, finalizers as a set, null deletes',
      { metadata: { ownerReferences: [{ uid: '1', name: 'a' }], finalizers: ['x'], labels: { a: '1', b: '2' } } },
      { metadata: { ownerReferences: [{ uid: '2', name: 'b' }], finalizers: ['x', 'y'], labels: { a: null } } },
      {
        metadata: {
          ownerReferences: [
            { uid: '1', name: 'a' },
            { uid: '2', name: 'b' },
          ],
          finalizers: ['x', 'y'],
          labels: { b: '2' },
        },
      },
    ],
    [
      '$deleteFromPrimitiveList',
      { metadata: { finalizers: ['x', 'y'] } },
      { metadata: { '$deleteFromPrimitiveList/finalizers': ['x'] } },
      { metadata: { finalizers: ['y'] } },
    ],
  ])('%s', (_n, orig, patch, want) => {
    expect(applyStrategicMergePatch(orig as never, patch as never, pod)).toEqual(want);
  });
  it('node addresses merge by type', () => {
    const o = {
      status: {
        addresses: [
          { type: 'InternalIP', address: '1.1.1.1' },
          { type: 'Hostname', address: 'n' },
        ],
      },
    };
    const p = { status: { addresses: [{ type: 'InternalIP', address: '2.2.2.2' }] } };
    expect(applyStrategicMergePatch(o, p, node)).toEqual({
      status: {
        addresses: [
          { type: 'InternalIP', address: '2.2.2.2' },
          { type: 'Hostname', address: 'n' },
        ],
      },
    });
  });
  it('merge patch (RFC 7386) replaces lists and deletes on null', () => {
    expect(applyMergePatch({ a: [1, 2], b: { c: 1, d: 2 } }, { a: [3], b: { c: null } })).toEqual({ a: [3], b: { d: 2 } });
  });
  it.each([
    [[{ op: 'add', path: '/a/-', value: 3 }], { a: [1, 2, 3] }],
    [[{ op: 'replace', path: '/a/0', value: 9 }], { a: [9, 2] }],
    [[{ op: 'remove', path: '/a/1' }], { a: [1] }],
    [
      [
        { op: 'test', path: '/a/0', value: 1 },
        { op: 'add', path: '/b', value: 'x' },
      ],
      { a: [1, 2], b: 'x' },
    ],
  ])('JSON patch %j', (ops, want) => {
    expect(applyJsonPatch({ a: [1, 2] }, ops)).toEqual(want);
  });
  it('a failing JSON patch test op is 422', () => {
    expect(code(() => applyJsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }]))).toBe(422);
  });
});

describe('store', () => {
  it('keeps a global, monotonically increasing resourceVersion and skips no-op updates', async () => {
    const s = new ObjectStore();
    const a = s.create('configmaps', { metadata: { name: 'a', namespace: 'default' }, data: { k: 'v' } });
    const b = s.create('secrets', { metadata: { name: 'b', namespace: 'default' }, stringData: { p: 'w' } });
    expect(Number(b.metadata.resourceVersion)).toBe(Number(a.metadata.resourceVersion) + 1);
    expect(b.data).toEqual({ p: Buffer.from('w').toString('base64') });
    expect(b.stringData).toBeUndefined();
    const events: WatchEvent[] = [];
    s.watch('configmaps', { resourceVersion: s.resourceVersion }, (e) => events.push(e));
    const same = s.update('configmaps', a);
    expect(same.metadata.resourceVersion).toBe(a.metadata.resourceVersion);
    await flush();
    expect(events).toEqual([]);
  });

  it('watch replays history after a resourceVersion, and 410s once it is compacted or evicted', async () => {
    const s = new ObjectStore({ historySize: 2 });
    const rv0 = s.resourceVersion;
    for (const n of ['a', 'b', 'c']) s.create('configmaps', { metadata: { name: n, namespace: 'default' } });
    const got: WatchEvent[] = [];
    s.watch('configmaps', { resourceVersion: rv0 }, (e) => got.push(e));
    const rv2 = String(Number(rv0) + 1);
    const replay: WatchEvent[] = [];
    s.watch('configmaps', { resourceVersion: rv2 }, (e) => replay.push(e));
    await flush();
    expect(got.map((e) => [e.type, e.object.code, e.object.reason])).toEqual([['ERROR', 410, 'Expired']]);
    expect(replay.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED b', 'ADDED c']);
    s.compact();
    const after: WatchEvent[] = [];
    s.watch('configmaps', { resourceVersion: rv2 }, (e) => after.push(e));
    await flush();
    expect(after[0]?.type).toBe('ERROR');
    expect(code(() => s.list('configmaps', { resourceVersion: rv2, resourceVersionMatch: 'Exact' }))).toBe(410);
  });

  it('watch with resourceVersion unset or 0 starts with synthetic ADDED events', async () => {
    const s = new ObjectStore();
    s.create('configmaps', { metadata: { name: 'x', namespace: 'default' } });
    for (const rv of [undefined, '0']) {
      const got: WatchEvent[] = [];
      s.watch('configmaps', rv === undefined ? {} : { resourceVersion: rv }, (e) => got.push(e));
      await flush();
      expect(got.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED x']);
    }
  });

  it('field-selector watch transitions on pods (status.phase)', async () => {
    const s = new ObjectStore();
    s.create('pods', { metadata: { name: 'p', namespace: 'default' }, spec: podSpec({ nodeName: 'n' }) });
    const got: string[] = [];
    s.watch('pods', { fieldSelector: 'status.phase=Running', resourceVersion: s.resourceVersion }, (e) => got.push(`${e.type} ${e.object.status.phase}`));
    s.patch('pods', 'p', 'default', 'merge', { status: { phase: 'Running' } }, { subresource: 'status' });
    s.patch('pods', 'p', 'default', 'merge', { status: { phase: 'Succeeded' } }, { subresource: 'status' });
    await flush();
    expect(got).toEqual(['ADDED Running', 'DELETED Running']);
  });

  it('PUT on a custom resource needs a resourceVersion; the spec is kept by /status', () => {
    const s = new ObjectStore();
    const haproxy = { provider: 'haproxy', haproxy: { instances: ['unix:///run/haproxy.sock'] } };
    const octavia = {
      provider: 'octavia',
      octavia: {
        authURL: 'https://keystone.example/v3',
        credentialsSecretRef: { name: 'c', key: 'k' },
        loadBalancerID: '3f2a4c1e-9b7d-4e2a-8c1f-0a1b2c3d4e5f',
      },
    };
    const lbc = s.create('loadbalancerclasses', { metadata: { name: 'l' }, spec: haproxy });
    const { resourceVersion: _rv, ...meta } = lbc.metadata;
    expect(code(() => s.update('loadbalancerclasses', { ...lbc, metadata: meta }))).toBe(422);
    const st = s.updateStatus('loadbalancerclasses', { ...lbc, spec: octavia, metadata: { ...lbc.metadata, labels: { a: 'b' } }, status: { conditions: [] } });
    expect(st.spec.provider).toBe('haproxy');
    expect(st.metadata.labels).toBeUndefined();
    expect(st.metadata.generation).toBe(1);
    const up = s.update('loadbalancerclasses', { ...st, spec: octavia });
    expect(up.metadata.generation).toBe(2);
  });

  it('EndpointSlice addressType is immutable and addresses must match it', () => {
    const s = new ObjectStore();
    const es = s.create('endpointslices', { metadata: { name: 'e', namespace: 'default' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'] }] });
    expect(code(() => s.update('endpointslices', { ...es, addressType: 'IPv6', endpoints: [] }))).toBe(422);
    expect(
      code(() => s.create('endpointslices', { metadata: { name: 'f', namespace: 'default' }, addressType: 'IPv6', endpoints: [{ addresses: ['10.0.0.1'] }] })),
    ).toBe(422);
  });

  it('a shorter grace period moves a pending Pod deletion earlier', () => {
    const s = new ObjectStore();
    s.create('pods', { metadata: { name: 'p', namespace: 'default' }, spec: podSpec({ nodeName: 'n', terminationGracePeriodSeconds: 60 }) });
    const d1 = s.delete('pods', 'p', 'default') as Record<string, any>;
    expect(d1.metadata.deletionGracePeriodSeconds).toBe(60);
    const d2 = s.delete('pods', 'p', 'default', { gracePeriodSeconds: 90 }) as Record<string, any>;
    expect(d2.metadata.resourceVersion).toBe(d1.metadata.resourceVersion);
    const d3 = s.delete('pods', 'p', 'default', { gracePeriodSeconds: 10 }) as Record<string, any>;
    expect(Date.parse(d3.metadata.deletionTimestamp)).toBe(Date.parse(d1.metadata.deletionTimestamp) - 50_000);
    expect(code(() => s.delete('pods', 'p', 'default', { preconditions: { uid: 'other' } }))).toBe(409);
  });

  it('deleting a namespace deletes its content; protected namespaces stay', async () => {
    const s = new ObjectStore();
    s.create('namespaces', { metadata: { name: 'ads' } });
    s.create('configmaps', { metadata: { name: 'a', namespace: 'ads' } });
    const ns = s.delete('namespaces', 'ads') as Record<string, any>;
    expect(ns.status.phase).toBe('Terminating');
    expect(code(() => s.create('configmaps', { metadata: { name: 'b', namespace: 'ads' } }))).toBe(403);
    await flush();
    expect(s.tryGet('configmaps', 'a', 'ads')).toBeUndefined();
    expect(s.tryGet('namespaces', 'ads')).toBeUndefined();
    expect(code(() => s.delete('namespaces', 'default'))).toBe(403);
  });

  it('services get a cluster IP per family, dual-stack on request', () => {
    const s = new ObjectStore();
    const svc = s.create('services', {
      metadata: { name: 'd', namespace: 'default' },
      spec: { ipFamilyPolicy: 'PreferDualStack', selector: { a: 'b' }, ports: [{ port: 80 }] },
    });
    expect(svc.spec.ipFamilies).toEqual(['IPv4', 'IPv6']);
    expect(svc.spec.clusterIPs).toHaveLength(2);
    expect(svc.spec.ports[0].targetPort).toBe(80);
  });
});

describe('EndpointSlice and Pod IP validation (ValidateEndpointIP, validatePodIPs)', () => {
  const slice = (addressType: string, addresses: string[]) => ({ metadata: { name: 'e', namespace: 'default' }, addressType, endpoints: [{ addresses }] });
  const refused = (fn: () => unknown): ApiError => {
    try {
      fn();
    } catch (e) {
      if (e instanceof ApiError) return e;
      throw e;
    }
    throw new Error('accepted');
  };

  it.each([
    ['IPv4', '127.0.0.1', 'endpoints[0].addresses[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)'],
    ['IPv4', '0.0.0.0', 'endpoints[0].addresses[0]: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)'],
    ['IPv4', '169.254.169.254', 'endpoints[0].addresses[0]: Invalid value: "169.254.169.254": may not be in the link-local range (169.254.0.0/16, fe80::/10)'],
    ['IPv4', '224.0.0.5', 'endpoints[0].addresses[0]: Invalid value: "224.0.0.5": may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'],
    ['IPv6', '::1', 'endpoints[0].addresses[0]: Invalid value: "::1": may not be in the loopback range (127.0.0.0/8, ::1/128)'],
    ['IPv6', '::', 'endpoints[0].addresses[0]: Invalid value: "::": may not be unspecified (::)'],
    ['IPv6', 'fe80::1', 'endpoints[0].addresses[0]: Invalid value: "fe80::1": may not be in the link-local range (169.254.0.0/16, fe80::/10)'],
    ['IPv6', 'ff02::2', 'endpoints[0].addresses[0]: Invalid value: "ff02::2": may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'],
    ['IPv6', '::ffff:127.0.0.1', 'may not be in the loopback range'],
    ['IPv6', '10.0.0.1', 'endpoints[0].addresses[0]: Invalid value: "10.0.0.1": must be a valid IPv6 address'],
    ['FQDN', 'localhost', 'endpoints[0].addresses[0]: Invalid value: "localhost": should be a domain with at least two segments separated by dots'],
  ])('%s endpoint %s is refused with 422', (type, addr, message) => {
    const e = refused(() => new ObjectStore().create('endpointslices', slice(type, [addr])));
    expect(e.code).toBe(422);
    expect(e.status.message).toContain(message);
  });

  it.each([
    ['IPv4', '10.244.1.10'],
    ['IPv6', 'fd00:10:244::a'],
    ['IPv6', '2001:db8::1'],
    ['FQDN', 'web.example.com'],
  ])('%s endpoint %s is accepted', (type, addr) => {
    expect(new ObjectStore().create('endpointslices', slice(type, [addr])).endpoints[0].addresses).toEqual([addr]);
  });

  it('Pod status: valid IPs, one per family, no duplicates; podIP reads back as podIPs[0]', () => {
    const s = new ObjectStore();
    s.create('pods', { metadata: { name: 'p', namespace: 'default' }, spec: podSpec({ nodeName: 'n' }) });
    const status = (st: Record<string, unknown>) => s.patch('pods', 'p', 'default', 'merge', { status: st }, { subresource: 'status' });
    expect(refused(() => status({ podIPs: [{ ip: '10.0.0.300' }] })).status.message).toContain(
      'status.podIPs[0]: Invalid value: "10.0.0.300": must be a valid IP address',
    );
    expect(refused(() => status({ podIPs: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }] })).status.message).toContain('status.podIPs: Invalid value');
    expect(refused(() => status({ podIPs: [{ ip: '10.0.0.1' }, { ip: 'fd00::1' }, { ip: 'fd00::2' }] })).status.message).toContain(
      'may specify no more than one IP for each IP family',
    );
    const dual = status({ podIP: '10.0.0.9', podIPs: [{ ip: '10.0.0.1' }, { ip: 'fd00::1' }] });
    expect(dual.status.podIP).toBe('10.0.0.1');
    expect(status({ podIPs: null, podIP: 'fd00::7' }).status.podIPs).toEqual([{ ip: 'fd00::7' }]);
  });
});
