// `kubectl podlb` against the in-process API server: the CLI's command layer runs in-process
// (runKubectlPodlb, the same function the binary calls) over HTTP with a kubeconfig file, so
// argument parsing, kubeconfig loading, requests, patches and rendering are all the real ones.
// The plugin has no ServiceAccount: it runs with its user's credentials. Each command runs as
// the user who would type it, authenticated by a bearer token and authorized by the shipped
// RBAC (daemonset/plugin-rbac.yaml): a network-team member (group podlb:network-team) for
// approve/reject, a platform user bound to podlb-viewer for the read-only commands. A small
// HTTP proxy in front of the server plays an older API (no SelfSubjectReview) or, once, a
// concurrent writer where a test needs it.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { type ApiServer, startApiServer } from '../../apiserver/index.js';
import type { PodAddressPool } from '../../api/types.js';
import { runKubectlPodlb } from './main.js';
import type { ExplainView } from './explain.js';
import type { PoolView } from './pools.js';
import { LAB_NETWORK_TEAM } from '../../lab/objects.js';
import { approvePool, checkApproval, contentDigests } from '../../bgp/approval.js';

const NOW = new Date('2026-11-22T10:00:00.000Z');
const ago = (s: number): string => new Date(NOW.getTime() - s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

let api: ApiServer;
let dir: string;
/** A member of the network team (default group of the shipped binding and admission ConfigMap). */
let kubeconfig: string;
/** A platform user with the shipped podlb-viewer ClusterRole, bound as a site would bind it. */
let viewerKubeconfig: string;
const NETWORK_TEAM_USER = 'alice@example.com';

async function run(args: string[], kc = kubeconfig): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runKubectlPodlb([...args, '--kubeconfig', kc], { stdout: (s) => (out += s), stderr: (s) => (err += s), now: () => NOW });
  return { code, out, err };
}

/** A plain-HTTP proxy to the API server (the network team's credentials pass through) that can play a server without SelfSubjectReview, and lets a test act before a request is forwarded. */
async function startProxy(opts: {
  noSelfSubjectReview?: boolean;
  beforeForward?: (method: string, path: string) => void;
}): Promise<{ server: Server; kubeconfig: string }> {
  const target = new URL(api.url);
  const server = createServer((req, res) => {
    if (opts.noSelfSubjectReview && req.method === 'POST' && req.url === '/apis/authentication.k8s.io/v1/selfsubjectreviews') {
      req.resume();
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: 'the server could not find the requested resource',
          reason: 'NotFound',
          code: 404,
        }),
      );
      return;
    }
    opts.beforeForward?.(req.method ?? '', req.url ?? '');
    const up = httpsRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, ca: api.caPem }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const file = join(dir, `proxy-${port}.yaml`);
  // client-node speaks plain HTTP only with insecure-skip-tls-verify set.
  const yaml = readFileSync(kubeconfig, 'utf8')
    .replace(api.url, `http://127.0.0.1:${port}`)
    .replace(/certificate-authority-data: .*/, 'insecure-skip-tls-verify: true');
  writeFileSync(file, yaml);
  return { server, kubeconfig: file };
}

function pool(name: string, cidrs: string[], approval?: PodAddressPool['spec']['approval'], advertise: 'NodeCIDR' | 'PodIPs' = 'NodeCIDR'): PodAddressPool {
  return { apiVersion: 'podlb.io/v1alpha1', kind: 'PodAddressPool', metadata: { name }, spec: { cidrs, advertise, ...(approval ? { approval } : {}) } };
}

/** Creates (or re-creates) a PodLBNode with this status, as its agent would report it. */
function podlbNode(name: string, status: Record<string, unknown>): void {
  if (api.store.list('podlbnodes').items.some((n: { metadata: { name?: string } }) => n.metadata.name === name)) api.store.delete('podlbnodes', name);
  const created = api.store.create('podlbnodes', { apiVersion: 'podlb.io/v1alpha1', kind: 'PodLBNode', metadata: { name } });
  api.store.updateStatus('podlbnodes', { ...created, status }, { name });
}

function getPool(name: string): PodAddressPool {
  return api.store.get('podaddresspools', name) as unknown as PodAddressPool;
}

beforeAll(async () => {
  api = await startApiServer();
  dir = mkdtempSync(join(tmpdir(), 'podlb-kubectl-'));
  api.installManifests();
  kubeconfig = join(dir, 'network-team.yaml');
  writeFileSync(kubeconfig, api.kubeconfigForToken(api.addToken({ username: NETWORK_TEAM_USER, groups: ['podlb:network-team'] }), 'alice'));
  api.store.create('clusterrolebindings', {
    metadata: { name: 'platform-podlb-viewer' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'podlb-viewer' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'platform' }],
  });
  viewerKubeconfig = join(dir, 'viewer.yaml');
  writeFileSync(viewerKubeconfig, api.kubeconfigForToken(api.addToken({ username: 'pat', groups: ['platform'] }), 'pat'));
});

afterAll(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('approve and reject', () => {
  beforeEach(() => {
    for (const p of api.store.list('podaddresspools').items) api.store.delete('podaddresspools', p.metadata.name);
    api.store.create('podaddresspools', pool('tokyo-pods', ['10.244.0.0/16', 'fd00:244::/56']));
  });

  it('approve sets state, by (the user the API server authenticated, from SelfSubjectReview), reason and time', async () => {
    const r = await run(['approve', 'tokyo-pods', '--reason', 'NETREQ-1234']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const stored = getPool('tokyo-pods');
    expect(stored.spec.approval).toEqual({
      state: 'Approved',
      by: NETWORK_TEAM_USER,
      reason: 'NETREQ-1234',
      time: '2026-11-22T10:00:00Z',
      ...contentDigests(stored.spec),
    });
    // The digest covers what was read: the agents' check accepts the stored pool as approved.
    expect(checkApproval(stored.spec)).toEqual({ ok: true });
    expect(r.out).toContain(`podaddresspool/tokyo-pods approved by ${NETWORK_TEAM_USER}\n`);
    expect(r.out).toContain('cidrs:  10.244.0.0/16, fd00:244::/56');
    expect(r.out).toContain(`digest: ${contentDigests(stored.spec).digest}`);
  });

  it('without SelfSubjectReview (an older API server) the name comes from the kubeconfig, and says so', async () => {
    const proxy = await startProxy({ noSelfSubjectReview: true });
    try {
      const r = await run(['approve', 'tokyo-pods', '--reason', 'NETREQ-1'], proxy.kubeconfig);
      expect(r.code, r.err).toBe(0);
      expect(getPool('tokyo-pods').spec.approval).toMatchObject({ state: 'Approved', by: 'alice', reason: 'NETREQ-1' });
      expect(r.out).toContain('approved by alice (name from the kubeconfig');
    } finally {
      proxy.server.close();
    }
  });

  it('a platform user (podlb-viewer) may not approve: 403 from RBAC, pool unchanged', async () => {
    const r = await run(['approve', 'tokyo-pods', '--reason', 'x'], viewerKubeconfig);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      'podaddresspools.podlb.io "tokyo-pods" is forbidden: User "pat" cannot patch resource "podaddresspools" in API group "podlb.io" at the cluster scope',
    );
    expect(getPool('tokyo-pods').spec.approval).toBeUndefined();
  });

  it('reject sets state Rejected and replaces an earlier decision', async () => {
    expect((await run(['approve', 'tokyo-pods', '--reason', 'ok'])).code).toBe(0);
    const r = await run(['reject', 'tokyo-pods', '--reason', '  overlaps the DC range  ']);
    expect(r.code, r.err).toBe(0);
    expect(getPool('tokyo-pods').spec.approval).toEqual({
      state: 'Rejected',
      by: NETWORK_TEAM_USER,
      reason: 'overlaps the DC range',
      time: '2026-11-22T10:00:00Z',
    });
    expect(getPool('tokyo-pods').spec.cidrs).toEqual(['10.244.0.0/16', 'fd00:244::/56']);
    expect(r.out).toContain(`rejected by ${NETWORK_TEAM_USER}`);
  });

  it.each([
    ['no --reason', ['approve', 'tokyo-pods']],
    ['an empty reason', ['approve', 'tokyo-pods', '--reason', '']],
    ['a blank reason', ['reject', 'tokyo-pods', '--reason', '   ']],
    ['no pool name', ['approve', '--reason', 'x']],
  ])('refuses %s, exit 2, and changes nothing', async (_n, args) => {
    const before = getPool('tokyo-pods').metadata.resourceVersion;
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--reason is required|needs exactly one pool name/);
    expect(getPool('tokyo-pods').metadata.resourceVersion).toBe(before);
  });

  it('a missing pool is an error naming it', async () => {
    const r = await run(['approve', 'nope', '--reason', 'x']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('podaddresspool "nope" not found');
  });

  it('a pool changed between read and patch is not approved (resourceVersion precondition)', async () => {
    let changed = false;
    const proxy = await startProxy({
      beforeForward: (method) => {
        if (method === 'PATCH' && !changed) {
          changed = true;
          api.store.patch('podaddresspools', 'tokyo-pods', undefined, 'merge', { spec: { cidrs: ['10.0.0.0/8'] } });
        }
      },
    });
    try {
      const r = await run(['approve', 'tokyo-pods', '--reason', 'x'], proxy.kubeconfig);
      expect(r.code).toBe(1);
      expect(r.err).toContain('changed while you were deciding on it');
      expect(getPool('tokyo-pods').spec.approval).toBeUndefined();
      expect(getPool('tokyo-pods').spec.cidrs).toEqual(['10.0.0.0/8']);
    } finally {
      proxy.server.close();
    }
  });
});

describe('pools and status', () => {
  beforeAll(() => {
    for (const p of api.store.list('podaddresspools').items) api.store.delete('podaddresspools', p.metadata.name);
    api.store.create(
      'podaddresspools',
      approvePool(pool('tokyo-pods', ['10.244.0.0/16', 'fd00:244::/56']), { by: 'alice', reason: 'NETREQ-1', time: '2026-11-01T00:00:00Z' }),
      { user: LAB_NETWORK_TEAM },
    );
    api.store.create('podaddresspools', pool('osaka-pods', ['10.245.0.0/16'], { state: 'Pending' }, 'PodIPs'));
    api.store.create('podaddresspools', pool('bad-pods', ['0.0.0.0/0'], { state: 'Rejected', by: 'bob', reason: 'too wide', time: '2026-11-01T00:00:00Z' }), {
      user: LAB_NETWORK_TEAM,
    });
    podlbNode('node1', {
      bgp: { advertisedPrefixes: ['10.244.1.0/24'], sessions: [{ peer: 'tor', protocol: 'bgp_tor', peerAddress: '172.31.0.1', state: 'Established' }] },
      members: { registered: 2, healthy: 1, draining: 0 },
      conditions: [{ type: 'BGPReady', status: 'True', reason: 'Established' }],
    });
    podlbNode('node2', { bgp: { advertisedPrefixes: ['10.244.2.0/24', 'fd00:244:0:2::/64'] } });
    podlbNode('node3', { bgp: { advertisedPrefixes: ['10.245.3.7/32'] } });
    podlbNode('node4', {});
  });

  it('pools lists state, CIDRs, advertise mode, decider and advertising node counts (a platform user, bearer token)', async () => {
    const r = await run(['pools'], viewerKubeconfig);
    expect(r.code, r.err).toBe(0);
    const lines = r.out
      .trimEnd()
      .split('\n')
      .map((l) => l.split(/\s{2,}/));
    expect(lines).toEqual([
      ['NAME', 'STATE', 'CIDRS', 'ADVERTISE', 'BY', 'NODES'],
      ['bad-pods', 'Rejected', '0.0.0.0/0', 'NodeCIDR', 'bob', '3'], // every IPv4 prefix is inside 0.0.0.0/0
      ['osaka-pods', 'Pending', '10.245.0.0/16', 'PodIPs', '-', '1'],
      ['tokyo-pods', 'Approved', '10.244.0.0/16,fd00:244::/56', 'NodeCIDR', 'alice', '2'],
    ]);
  });

  it('pools -o json names the advertising nodes', async () => {
    const r = await run(['pools', '-o', 'json'], viewerKubeconfig);
    expect(r.code, r.err).toBe(0);
    const views = JSON.parse(r.out) as PoolView[];
    expect(Object.fromEntries(views.map((v) => [v.name, v.advertisingNodes]))).toEqual({
      'bad-pods': ['node1', 'node2', 'node3'],
      'osaka-pods': ['node3'],
      'tokyo-pods': ['node1', 'node2'],
    });
    expect(views.find((v) => v.name === 'tokyo-pods')).toMatchObject({
      state: 'Approved',
      by: 'alice',
      reason: 'NETREQ-1',
      time: '2026-11-01T00:00:00Z',
      advertise: 'NodeCIDR',
    });
  });

  it('status still prints each node', async () => {
    const r = await run(['status'], viewerKubeconfig);
    expect(r.code, r.err).toBe(0);
    expect(r.out.split('\n')[0]).toMatch(/^NODE\s+BGP\s+SESSIONS\s+PREFIXES/);
    expect(r.out).toMatch(/node1\s+True\/Established\s+tor=Established\s+10\.244\.1\.0\/24\s+2\/1\/0/);
    expect(r.out).toContain('node4');
  });

  it('no command prints usage; an unknown one exits 2', async () => {
    expect((await run([])).code).toBe(0);
    const r = await run(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('unknown command "frobnicate"');
  });
});

describe('explain svc/NAME', () => {
  const GATE = 'podlb.io/load-balancer-ready';
  beforeAll(() => {
    api.store.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ads' } });
    api.store.create('loadbalancerclasses', {
      apiVersion: 'podlb.io/v1alpha1',
      kind: 'LoadBalancerClass',
      metadata: { name: 'l7lb' },
      spec: { provider: 'haproxy', haproxy: { instances: ['tcp://127.0.0.1:9999'], healthCheck: { interval: '1s', rise: 2, fall: 3 } } },
    });
    api.store.create('services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'bidder', namespace: 'ads', annotations: { 'podlb.io/load-balancer': 'l7lb' } },
      spec: { selector: { app: 'bidder' }, ports: [{ name: 'http', port: 80, targetPort: 'web' }] },
    });
    api.store.create('services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'plain', namespace: 'ads' },
      spec: { selector: { app: 'plain' }, ports: [{ port: 80 }] },
    });
    const mkPod = (name: string, node: string, ip: string, gate: boolean, conditions: Record<string, unknown>[]): void => {
      api.store.create('pods', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'ads', labels: { app: 'bidder' } },
        spec: {
          nodeName: node,
          containers: [{ name: 'app', image: 'bidder', ports: [{ name: 'web', containerPort: 8080 }] }],
          ...(gate ? { readinessGates: [{ conditionType: GATE }] } : {}),
        },
      });
      const p = api.store.get('pods', name, 'ads');
      api.store.updateStatus('pods', { ...p, status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions } }, { name, namespace: 'ads' });
    };
    mkPod('bidder-a', 'node1', '10.244.1.5', true, [
      { type: 'ContainersReady', status: 'True' },
      { type: GATE, status: 'True', reason: 'LoadBalancerHealthy', lastTransitionTime: ago(120) },
      { type: 'Ready', status: 'True' },
    ]);
    mkPod('bidder-b', 'node2', '10.244.2.9', true, [
      { type: 'ContainersReady', status: 'True' },
      { type: GATE, status: 'False', reason: 'RegistrationInProgress', lastTransitionTime: ago(30) },
      { type: 'Ready', status: 'False' },
    ]);
    mkPod('bidder-c', 'node9', '10.244.9.2', false, [{ type: 'Ready', status: 'False' }]);
    api.store.create('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'other', namespace: 'ads', labels: { app: 'other' } },
      spec: { nodeName: 'node1', containers: [{ name: 'x', image: 'x' }] },
    });
    // Only bidder-a has an endpoint yet: its member name comes from the slice, the others' from the Pod.
    api.store.create('endpointslices', {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'bidder-x1', namespace: 'ads', labels: { 'kubernetes.io/service-name': 'bidder' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: [
        { addresses: ['10.244.1.5'], conditions: { ready: true }, nodeName: 'node1', targetRef: { kind: 'Pod', namespace: 'ads', name: 'bidder-a' } },
      ],
    });
    const event = (name: string, kind: string, obj: string, reason: string, message: string, secondsAgo: number, component: string, type = 'Normal'): void => {
      api.store.create('events', {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace: 'ads' },
        involvedObject: { kind, name: obj, namespace: 'ads' },
        type,
        reason,
        message,
        source: { component },
        ...(component.startsWith('podlb') ? { reportingComponent: `podlb.io/${component}` } : {}),
        firstTimestamp: ago(secondsAgo),
        lastTimestamp: ago(secondsAgo),
        count: 1,
      });
    };
    event('e1', 'Pod', 'bidder-a', 'MemberRegistered', 'registered podlb_node1_10.244.1.5_8080 in ads.bidder.http', 130, 'podlb-agent');
    event('e2', 'Pod', 'bidder-a', 'LoadBalancerHealthy', 'member healthy on 1/1 instances', 120, 'podlb-agent');
    event('e3', 'Pod', 'bidder-a', 'Pulled', 'image pulled', 10, 'kubelet'); // newer, but not podlb's
    event('e4', 'Pod', 'bidder-b', 'Unhealthy', 'Readiness probe failed', 20, 'kubelet', 'Warning');
    event('e5', 'Service', 'bidder', 'MembersRegistered', '2 members in ads.bidder.http', 60, 'podlb-agent');
    podlbNode('node1', {
      members: { registered: 2, healthy: 2, draining: 0 },
      conditions: [{ type: 'LoadBalancerReachable', status: 'True', reason: 'AllInstancesReachable', lastTransitionTime: ago(3600) }],
    });
    podlbNode('node2', {
      members: { registered: 1, healthy: 0, draining: 0 },
      conditions: [
        {
          type: 'LoadBalancerReachable',
          status: 'False',
          reason: 'InstanceUnreachable',
          message: 'tcp://127.0.0.1:9999: ECONNREFUSED',
          lastTransitionTime: ago(300),
        },
      ],
    });
  });

  it('shows each Pod: node, IP, member, gate reason and age, Ready, last event; and each node', async () => {
    const r = await run(['explain', 'svc/bidder', '-n', 'ads'], viewerKubeconfig);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('Service ads/bidder: LoadBalancerClass l7lb, ports http -> backend ads.bidder.http');
    expect(r.out).toContain('last event: 60s Normal MembersRegistered: 2 members in ads.bidder.http');
    const row = (pod: string): string => r.out.split('\n').find((l) => l.startsWith(`${pod} `))!;
    expect(row('bidder-a')).toMatch(
      /bidder-a\s+node1\s+10\.244\.1\.5\s+podlb_node1_10\.244\.1\.5_8080\s+True LoadBalancerHealthy \(2m\)\s+True\s+2m Normal LoadBalancerHealthy: member healthy/,
    );
    expect(row('bidder-b')).toMatch(
      /bidder-b\s+node2\s+10\.244\.2\.9\s+podlb_node2_10\.244\.2\.9_8080\s+False RegistrationInProgress \(30s\)\s+False\s+20s Warning Unhealthy: Readiness probe failed/,
    );
    expect(row('bidder-c')).toMatch(/bidder-c\s+node9\s+10\.244\.9\.2\s+podlb_node9_10\.244\.9\.2_8080\s+no gate\s+False\s+-/);
    expect(r.out).not.toContain('other');
    expect(r.out).toMatch(/node1\s+2\/2\/0\s+True AllInstancesReachable \(60m\)/);
    expect(r.out).toMatch(/node2\s+1\/0\/0\s+False InstanceUnreachable \(5m\)/);
    expect(r.out).toMatch(/node9\s+no PodLBNode/);
  });

  it('-o json carries the same facts for scripts', async () => {
    const r = await run(['explain', 'service/bidder', '--namespace', 'ads', '-o', 'json'], viewerKubeconfig);
    expect(r.code, r.err).toBe(0);
    const v = JSON.parse(r.out) as ExplainView;
    expect(v.service).toMatchObject({
      namespace: 'ads',
      name: 'bidder',
      binding: 'bound',
      className: 'l7lb',
      ports: [{ name: 'http', servicePort: 80, backend: 'ads.bidder.http' }],
    });
    expect(v.pods.map((p) => [p.name, p.gate === 'none' ? 'none' : typeof p.gate === 'string' ? p.gate : p.gate.reason, p.lastEvent?.reason])).toEqual([
      ['bidder-a', 'LoadBalancerHealthy', 'LoadBalancerHealthy'],
      ['bidder-b', 'RegistrationInProgress', 'Unhealthy'],
      ['bidder-c', 'none', undefined],
    ]);
    expect(v.nodes.find((n) => n.name === 'node2')?.loadBalancerReachable).toMatchObject({
      status: 'False',
      reason: 'InstanceUnreachable',
      message: 'tcp://127.0.0.1:9999: ECONNREFUSED',
    });
  });

  it('a Service that did not opt in says so', async () => {
    const r = await run(['explain', 'svc/plain', '-n', 'ads'], viewerKubeconfig);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('not opted in');
    expect(r.out).toContain("No Pods match the Service's selector");
  });

  it('a missing Service and a bad argument are errors', async () => {
    const r = await run(['explain', 'svc/nope', '-n', 'ads'], viewerKubeconfig);
    expect(r.code).toBe(1);
    expect(r.err).toContain('service "nope" not found in namespace ads');
    expect((await run(['explain', 'pod/x'])).code).toBe(2);
    expect((await run(['explain', 'svc/bidder', '-o', 'table'])).code).toBe(2);
  });

  it("a tenant's Event cannot drive the operator's terminal: control characters are printed escaped", async () => {
    // Anyone who may create Events in their namespace writes reason and message: an OSC 52
    // clipboard write, a clear screen (ESC and C1 CSI), a carriage return that overprints, a
    // newline forging a line, a right-to-left override.
    const hostile = 'ok\u001b]52;c;Y3VybCBldmlsfHNo\u0007\u001b[2J\u009b2J\rGate True\nbidder-z  node1  fake\u202eredaeh';
    api.store.create('events', {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'tenant-1', namespace: 'ads' },
      involvedObject: { kind: 'Service', name: 'bidder', namespace: 'ads' },
      type: 'Normal',
      reason: 'Hi\u001b[31m\nForged',
      message: hostile,
      source: { component: 'podlb-agent' },
      reportingComponent: 'podlb.io/podlb-agent',
      firstTimestamp: ago(1),
      lastTimestamp: ago(1),
      count: 1,
    });
    try {
      for (const args of [[], ['-o', 'wide']]) {
        const r = await run(['explain', 'svc/bidder', '-n', 'ads', ...args], viewerKubeconfig);
        expect(r.code, r.err).toBe(0);
        expect(r.out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
        // Line breaks in a one-line view are spaces (as before); the rest is visible text.
        expect(r.out).toContain(
          'last event: 1s Normal Hi^[[31m Forged: ok^[]52;c;Y3VybCBldmlsfHNo\\x07^[[2J\\u009b2J Gate True bidder-z node1 fake\\u202eredaeh',
        );
        expect(r.out.split('\n').some((l) => l.startsWith('bidder-z') || l.startsWith('Forged'))).toBe(false);
      }
      // Scripts get the text as written: JSON and YAML carry it escaped, and intact.
      const json = await run(['explain', 'svc/bidder', '-n', 'ads', '-o', 'json'], viewerKubeconfig);
      const yaml = await run(['explain', 'svc/bidder', '-n', 'ads', '-o', 'yaml'], viewerKubeconfig);
      for (const out of [json.out, yaml.out]) expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
      expect((JSON.parse(json.out) as ExplainView).service.lastEvent?.message).toBe(hostile);
      expect((parseYaml(yaml.out) as ExplainView).service.lastEvent).toEqual((JSON.parse(json.out) as ExplainView).service.lastEvent);
    } finally {
      api.store.delete('events', 'tenant-1', 'ads');
    }
  });

  it('-o yaml is -o json in YAML; -o wide is the text view', async () => {
    const json = await run(['explain', 'svc/bidder', '-n', 'ads', '-o', 'json']);
    const yaml = await run(['explain', 'svc/bidder', '-n', 'ads', '-o', 'yaml']);
    expect(yaml.code, yaml.err).toBe(0);
    expect(parseYaml(yaml.out)).toEqual(JSON.parse(json.out));
    const wide = await run(['explain', 'svc/bidder', '-n', 'ads', '-o', 'wide']);
    expect(wide.code, wide.err).toBe(0);
    expect(wide.out.split('\n')[0]).toBe((await run(['explain', 'svc/bidder', '-n', 'ads'])).out.split('\n')[0]);
  });
});
