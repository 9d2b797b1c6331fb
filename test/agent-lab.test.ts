// The agent end to end in the lab: real BIRD, FRR and HAProxy in network namespaces, Pods as
// real processes, the in-process API server, the lab's kubelet and EndpointSlice controller,
// and one agent per node. Assertions read what the real components report.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_SERVICE_ACCOUNT, startLab, gateStatus, type Lab } from '../src/lab/lab.js';
import { waitFor } from '../src/lab/netns.js';
import { API_VERSION, type Pod, type PodAddressPool } from '../src/api/types.js';
import { approvalPatch } from '../src/cli/kubectl/approval.js';
import { LAB_BACKEND, LAB_CLASS, LAB_NAMESPACE, LAB_POD_PORT, LAB_SERVICE, labPod } from '../src/lab/objects.js';
import { runLoad } from '../src/lab/http-load.js';
import { pino } from 'pino';
import { readFileSync } from 'node:fs';
import { Agent } from '../src/agent/agent.js';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../src/kube/client.js';
import { startBird } from '../src/lab/bird-process.js';
import { birdInitialConfig } from '../src/bgp/render.js';
import { isDateTime } from '../src/apiserver/formats.js';

interface KEvent {
  reason: string;
  message: string;
  type: string;
  involvedObject: { kind: string; name: string; namespace?: string };
}

let lab: Lab;

async function events(): Promise<KEvent[]> {
  const all: KEvent[] = [];
  for (const ns of ['default', LAB_NAMESPACE]) all.push(...(await lab.client.list<KEvent>(`/api/v1/namespaces/${ns}/events`)).items);
  return all;
}

async function gateTrue(name: string, timeoutMs = 20_000): Promise<Pod> {
  return waitFor(
    `gate True on ${name}`,
    async () => {
      const p = await lab.getPod(name);
      return gateStatus(p).status === 'True' ? p : undefined;
    },
    timeoutMs,
    25,
  );
}

beforeAll(async () => {
  lab = await startLab({ agentMode: 'inProcess', healthCheck: { interval: '300ms', rise: 2, fall: 2 }, drainSeconds: 2 });
}, 120_000);

afterAll(async () => {
  await lab?.stop();
});

describe('agent in the lab', () => {
  it('advertises each node’s Pod CIDR to the ToR over an Established session', async () => {
    const routes = await waitFor(
      'pod CIDRs at the ToR',
      async () => {
        const rs = await lab.topo.tor.kernelRoutes();
        return ['10.244.1.0/24', '10.244.2.0/24'].every((c) => rs.some((r) => r.dst === c)) ? rs : undefined;
      },
      30_000,
      100,
    );
    expect(routes.find((r) => r.dst === '10.244.1.0/24')?.gateway).toBe(lab.topo.nodes[0]!.address);
    const status = await waitFor(
      'PodLBNode sessions',
      async () => {
        const n = await lab.podLBNode('node1');
        return n?.status?.bgp?.sessions?.[0]?.state === 'Established' ? n : undefined;
      },
      20_000,
      200,
    );
    expect(status.status?.bgp?.advertisedPrefixes).toEqual(['10.244.1.0/24']);
    // BIRD's session time, as RFC 3339 with the date: the server refuses anything else.
    const since = status.status?.bgp?.sessions?.[0]?.since ?? '';
    expect(isDateTime(since), since).toBe(true);
    expect(Math.abs(Date.parse(since) - Date.now())).toBeLessThan(120_000);
    // The aggregate is blackholed on the node (podlb's RT protocol 201), so unused addresses
    // are dropped there instead of looping back to the ToR; Pod /32 routes stay more specific.
    const routes201 = await waitFor(
      'blackhole route',
      async () => {
        const out = await lab.sb.exec(lab.topo.nodes[0]!.ns, 'ip', ['-json', 'route', 'show', 'proto', '201']);
        const rs = JSON.parse(out) as { dst: string; type?: string }[];
        return rs.length > 0 ? rs : undefined;
      },
      10_000,
      50,
    );
    expect(routes201).toEqual([expect.objectContaining({ dst: '10.244.1.0/24', type: 'blackhole' })]);
    expect(status.status?.conditions?.find((c) => c.type === 'BGPReady')?.status).toBe('True');
    expect(status.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Node', name: 'node1' });
  });

  it('the dual-stack node advertises its IPv6 Pod CIDR over an IPv6 session', async () => {
    const node2 = lab.topo.nodes[1]!;
    expect(node2.podCidr6).toBe('fd00:244:0:2::/64');
    const v6 = await waitFor(
      'IPv6 Pod CIDR at the ToR',
      async () => (await lab.topo.tor.kernelRoutes()).find((r) => r.dst === 'fd00:244:0:2::/64'),
      30_000,
      100,
    );
    expect(v6.protocol).toBe('bgp');
    const status = await waitFor(
      'both sessions Established',
      async () => {
        const n = await lab.podLBNode('node2');
        const ss = n?.status?.bgp?.sessions ?? [];
        return ss.length === 2 && ss.every((x) => x.state === 'Established') ? n : undefined;
      },
      20_000,
      100,
    );
    expect(status.status?.bgp?.sessions?.map((x) => x.peerAddress).sort()).toEqual(
      [node2.address, node2.torAddress6 ?? ''].map((a) => (a === node2.address ? node2.torAddress : a)).sort(),
    );
    expect(status.status?.bgp?.advertisedPrefixes).toEqual(['10.244.2.0/24', 'fd00:244:0:2::/64']);
    const bh6 = JSON.parse(await lab.sb.exec(node2.ns, 'ip', ['-6', '-json', 'route', 'show', 'proto', '201'])) as { dst: string; type?: string }[];
    expect(bh6).toEqual([expect.objectContaining({ dst: 'fd00:244:0:2::/64', type: 'blackhole' })]);
    // node1 stays IPv4-only: its rack has no IPv6 peer, so nothing IPv6 is advertised there.
    expect((await lab.podLBNode('node1'))?.status?.bgp?.advertisedPrefixes).toEqual(['10.244.1.0/24']);
  });

  it('flips the gate only after HAProxy ran a passing check, and serves traffic without NAT', async () => {
    await lab.createPod('node1', 'web-a');
    await lab.createPod('node2', 'web-b');
    // While the member exists but no check completed, the gate must not be True.
    const sawPending = await waitFor(
      'member of web-a registered',
      async () => {
        const m = (await lab.members()).find((x) => x.name.startsWith('podlb_node1_'));
        if (!m) return undefined;
        const gate = gateStatus(await lab.getPod('web-a'));
        return { health: m.health, gate: gate.status, reason: gate.reason };
      },
      20_000,
      5,
    );
    if (sawPending.health !== 'healthy') expect(sawPending.gate).not.toBe('True');
    const pod = await gateTrue('web-a');
    expect(gateStatus(pod).reason).toBe('LoadBalancerHealthy');
    // Pre-registered (drained, checked): switched to traffic by the agent's run after the gate write.
    const m = await waitFor(
      'web-a member taking traffic',
      async () => {
        const x = (await lab.members()).find((y) => y.address === pod.status?.podIP);
        return x?.admin === 'ready' ? x : undefined;
      },
      5_000,
      5,
    );
    expect(m).toMatchObject({ health: 'healthy', admin: 'ready' });
    expect(m!.detail).toMatch(/L[467]OK/);
    const transitions = (await gateTrue('web-b')).status?.conditions?.filter((c) => c.type === 'podlb.io/load-balancer-ready');
    expect(transitions).toHaveLength(1);
    // The kubelet turned the Pod Ready from the gate.
    await waitFor(
      'web-a Ready',
      async () => ((await lab.getPod('web-a'))?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? true : undefined),
      10_000,
      25,
    );
    const r = await runLoad({ socketPath: lab.topo.lb.httpSocket, concurrency: 2, maxRequests: 40, durationMs: 10_000 });
    expect(r.failed).toBe(0);
    expect(Object.keys(r.byPod).sort()).toEqual(['web-a', 'web-b']);
    // ...and as PodLBNode status reports them per instance (what kubectl podlb explain shows).
    const lbStatus = await waitFor(
      'per-instance member state',
      async () => {
        const n = await lab.podLBNode('node1');
        const m = n?.status?.lb?.members.find((x) => x.pod === 'demo/web-a');
        return m && m.instances.length === 2 && m.instances.every((i) => i.health === 'healthy') ? n!.status!.lb! : undefined;
      },
      10_000,
      50,
    );
    expect(lbStatus.instances.map((i) => i.reachable)).toEqual([true, true]);
    expect(
      lbStatus.members
        .find((x) => x.pod === 'demo/web-a')
        ?.instances.map((i) => i.instance)
        .sort(),
    ).toEqual(lab.topo.lbs.map((l) => l.haproxy.runtimeAddress).sort());
    const registered = (await events()).find((e) => e.reason === 'MemberRegistered' && e.involvedObject.name === 'web-a');
    expect(registered?.message).toContain(LAB_BACKEND);
    // The same facts, as Prometheus sees them.
    const metrics = await waitFor(
      'metrics',
      async () => {
        const t = await lab.agents.get('node1')!.metrics();
        return /podlb_members\{state="healthy"\} 1/.test(t) ? t : undefined;
      },
      10_000,
      50,
    );
    expect(metrics).toMatch(/podlb_bgp_session_up\{peer="rack-r1-tor"\} 1/);
    expect(metrics).toMatch(/podlb_advertised_prefixes 1/);
    expect(metrics).toMatch(/podlb_member_registration_seconds_count 1/);
    expect(metrics).toMatch(/podlb_readiness_gate_seconds_count 1/);
    expect(metrics).toMatch(/podlb_bird_reloads_total\{result="Applied"\} 1/);
  });

  it('an agent restart adopts its members without removing or re-adding them', async () => {
    // HAProxy numbers servers; a remove + re-add, however fast, gets a new srv_id.
    const serverIds = async (): Promise<Record<string, string>> => {
      const out = await lab.haproxy.runtime.command(`show servers state ${LAB_BACKEND}`);
      const ids: Record<string, string> = {};
      for (const line of out.split('\n')) {
        const f = line.trim().split(/\s+/);
        if (f.length > 4 && f[3]!.startsWith('podlb_node1_')) ids[f[3]!] = f[2]!;
      }
      return ids;
    };
    const before = await serverIds();
    expect(Object.keys(before).length).toBeGreaterThan(0);
    const ctl = new AbortController();
    const load = runLoad({ socketPath: lab.topo.lb.httpSocket, concurrency: 2, durationMs: 30_000, stopSignal: ctl.signal });
    let missing = 0;
    const watcher = (async () => {
      while (!ctl.signal.aborted) {
        const now = (await lab.members()).filter((m) => m.name.startsWith('podlb_node1_'));
        if (Object.keys(before).some((n) => !now.some((m) => m.name === n && m.admin === 'ready'))) missing += 1;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await lab.agents.get('node1')!.stop();
    await new Promise((r) => setTimeout(r, 500));
    await lab.agents.get('node1')!.start();
    // Proof that the new agent reconciled: it registers a new Pod and flips its gate.
    await lab.createPod('node1', 'web-r');
    await gateTrue('web-r');
    ctl.abort();
    await watcher;
    const result = await load;
    expect(missing).toBe(0);
    expect(result.failed).toBe(0);
    const after = await serverIds();
    for (const [name, id] of Object.entries(before)) expect(after[name], name).toBe(id);
  });

  it('a malformed annotation produces an Event and changes nothing else; fixing it recovers', async () => {
    const svcPath = `/api/v1/namespaces/${LAB_NAMESPACE}/services/${LAB_SERVICE}`;
    const before = (await lab.members()).map((m) => m.name).sort();
    await lab.client.patch(svcPath, { metadata: { annotations: { 'podlb.io/ports': 'no-such-port' } } }, 'merge');
    const ev = await waitFor(
      'InvalidAnnotation event',
      async () => (await events()).find((e) => e.reason === 'InvalidAnnotation' && e.involvedObject.name === LAB_SERVICE),
      10_000,
      100,
    );
    expect(ev.message).toContain('podlb.io/ports');
    expect(ev.type).toBe('Warning');
    // A new Pod behind the broken Service: nothing registered, its gate stays as it is.
    await lab.createPod('node1', 'web-c');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await lab.members()).map((m) => m.name).sort()).toEqual(before);
    expect(gateStatus(await lab.getPod('web-c')).status).not.toBe('True');
    await lab.client.patch(svcPath, { metadata: { annotations: { 'podlb.io/ports': 'http' } } }, 'merge');
    await gateTrue('web-c');
    expect((await lab.members()).length).toBe(before.length + 1);
  });

  it('an unknown LoadBalancerClass is reported on its Service, only by nodes hosting its Pods, and the others keep working', async () => {
    // Created first, selecting no Pod: no node hosts its endpoints, so no node may write about it.
    await lab.client.create(`/api/v1/namespaces/${LAB_NAMESPACE}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'typo-nowhere', namespace: LAB_NAMESPACE, annotations: { 'podlb.io/load-balancer': 'no-such-class' } },
      spec: { selector: { app: 'other' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });
    await lab.client.create(`/api/v1/namespaces/${LAB_NAMESPACE}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'typo', namespace: LAB_NAMESPACE, annotations: { 'podlb.io/load-balancer': 'no-such-class' } },
      spec: { selector: { app: LAB_SERVICE }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });
    const ev = await waitFor(
      'UnknownLoadBalancerClass event',
      async () => (await events()).find((e) => e.reason === 'UnknownLoadBalancerClass' && e.involvedObject.name === 'typo'),
      10_000,
      100,
    );
    expect(ev.message).toContain('no-such-class');
    expect((await events()).filter((e) => e.involvedObject.name === 'typo-nowhere')).toEqual([]);
    const r = await runLoad({ socketPath: lab.topo.lb.httpSocket, concurrency: 2, maxRequests: 20, durationMs: 5000 });
    expect(r.failed).toBe(0);
    for (const name of ['typo', 'typo-nowhere']) lab.api.store.delete('services', name, LAB_NAMESPACE);
  });

  it("a tenant can neither put its Pod into another namespace's backend nor register an address that is not its Pod's", async () => {
    const warnings = async (ns: string, reason: string): Promise<KEvent[]> =>
      (await lab.client.list<KEvent>(`/api/v1/namespaces/${ns}/events`)).items.filter((e) => e.reason === reason);
    // The tenant has its own token and, through RBAC, may write Services, Pods and
    // EndpointSlices in namespace evil and in demo (where it shares a namespace with the demo team).
    await lab.client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'evil' } });
    for (const ns of ['evil', LAB_NAMESPACE]) {
      await lab.client.create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'tenant', namespace: ns },
        rules: [
          { apiGroups: [''], resources: ['services', 'pods'], verbs: ['get', 'list', 'create', 'delete'] },
          { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'create', 'delete'] },
        ],
      });
      await lab.client.create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'tenant', namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'tenant' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'mallory' }],
      });
    }
    const kc = new KubeConfig();
    kc.loadFromString(lab.api.kubeconfigForToken(lab.api.addToken({ username: 'mallory' }), 'mallory'));
    const tenant = new KubeClient(kc);
    // Nor may it grant itself the backend: classes are the platform team's.
    await expect(
      tenant.patch(`/apis/${API_VERSION}/loadbalancerclasses/${LAB_CLASS}`, { spec: { tenancy: { namespaces: [{ name: '*', backends: ['*'] }] } } }, 'merge'),
    ).rejects.toMatchObject({ status: 403 });
    // Namespace evil names the demo team's backend; the lab class grants only namespace demo.
    await tenant.create('/api/v1/namespaces/evil/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'steal', namespace: 'evil', annotations: { 'podlb.io/load-balancer': LAB_CLASS, 'podlb.io/backend': LAB_BACKEND } },
      spec: { selector: { app: 'steal' }, ports: [{ name: 'http', port: 80, targetPort: LAB_POD_PORT }] },
    });
    const thief = labPod('thief', 'node1');
    thief.metadata = { ...thief.metadata, namespace: 'evil', labels: { app: 'steal' } };
    await tenant.create('/api/v1/namespaces/evil/pods', thief);
    // Inside demo, a tenant who may write EndpointSlices points one at the API server's Service
    // IP, with a targetRef to a real Pod of its own on node1.
    const own = (await tenant.list<Pod>(`/api/v1/namespaces/${LAB_NAMESPACE}/pods`)).items.find(
      (p) => p.spec.nodeName === 'node1' && !p.metadata.deletionTimestamp && p.status?.podIP,
    );
    expect(own).toBeDefined();
    await tenant.create(`/api/v1/namespaces/${LAB_NAMESPACE}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'forged', namespace: LAB_NAMESPACE, annotations: { 'podlb.io/load-balancer': LAB_CLASS, 'podlb.io/backend': LAB_BACKEND } },
      spec: { selector: { app: 'forged' }, ports: [{ name: 'http', port: 80, targetPort: LAB_POD_PORT }] },
    });
    await tenant.create(`/apis/discovery.k8s.io/v1/namespaces/${LAB_NAMESPACE}/endpointslices`, {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'forged-x', namespace: LAB_NAMESPACE, labels: { 'kubernetes.io/service-name': 'forged' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 6443, protocol: 'TCP' }],
      endpoints: [
        {
          addresses: ['10.96.0.1'],
          nodeName: 'node1',
          conditions: { ready: true },
          targetRef: { kind: 'Pod', namespace: LAB_NAMESPACE, name: own!.metadata.name, uid: own!.metadata.uid },
        },
      ],
    });
    const refused = await waitFor(
      'NamespaceNotAllowed event',
      async () => (await warnings('evil', 'NamespaceNotAllowed')).find((e) => e.involvedObject.name === 'steal'),
      15_000,
      100,
    );
    expect(refused.type).toBe('Warning');
    const forged = await waitFor(
      'EndpointAddressNotPodIP event',
      async () => (await warnings(LAB_NAMESPACE, 'EndpointAddressNotPodIP')).find((e) => e.involvedObject.name === 'forged'),
      15_000,
      100,
    );
    expect(forged.message).toContain('forged-x');
    // The thief's Pod runs and is an endpoint of its Service, and still never reaches HAProxy.
    const thiefIp = await waitFor('thief Pod IP', async () => (await lab.client.get<Pod>('/api/v1/namespaces/evil/pods/thief')).status?.podIP, 10_000, 100);
    await new Promise((r) => setTimeout(r, 1000));
    const addresses = (await lab.members()).map((m) => m.address);
    expect(addresses).not.toContain('10.96.0.1');
    expect(addresses).not.toContain(thiefIp);
    expect(addresses).toContain(own!.status!.podIP);
    await lab.client.request('DELETE', '/api/v1/namespaces/evil/pods/thief');
    lab.api.store.delete('services', 'steal', 'evil');
    lab.api.store.delete('services', 'forged', LAB_NAMESPACE);
    lab.api.store.delete('endpointslices', 'forged-x', LAB_NAMESPACE);
  });

  it('an unapproved pool is reported and changes nothing else (routes, sessions)', async () => {
    const flapsBefore = (await lab.topo.tor.bgpNeighbors())[lab.topo.nodes[0]!.address]?.establishedTransitions;
    const routesBefore = (await lab.topo.tor.kernelRoutes()).map((r) => r.dst).sort();
    await lab.client.create(`/apis/${API_VERSION}/podaddresspools`, {
      apiVersion: API_VERSION,
      kind: 'PodAddressPool',
      metadata: { name: 'pending-pool' },
      spec: { cidrs: ['10.245.0.0/16'], advertise: 'NodeCIDR', approval: { state: 'Pending' } },
    });
    const ev = await waitFor('event on pending-pool', async () => (await events()).find((e) => e.involvedObject.name === 'pending-pool'), 10_000, 100);
    expect(ev.message).toMatch(/approv/i);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await lab.topo.tor.kernelRoutes()).map((r) => r.dst).sort()).toEqual(routesBefore);
    expect((await lab.podLBNode('node1'))?.status?.bgp?.advertisedPrefixes).toEqual(['10.244.1.0/24']);
    expect((await lab.topo.tor.bgpNeighbors())[lab.topo.nodes[0]!.address]?.establishedTransitions).toBe(flapsBefore);
  });

  it("an approved pool widened behind the policy's back (BLACKHOLE community) is withdrawn as ApprovalStale, sessions stay up, and re-approval restores it", async () => {
    const node1 = lab.topo.nodes[0]!;
    const flapsBefore = (await lab.topo.tor.bgpNeighbors())[node1.address]?.establishedTransitions;
    const poolPath = `/apis/${API_VERSION}/podaddresspools/lab-pods`;
    const widen = { spec: { communities: ['65000:100', '65535:666'] } };
    // With the shipped policy even the cluster admin (not in the network team) is refused.
    await expect(lab.client.patch(poolPath, widen, 'merge')).rejects.toMatchObject({ status: 403 });
    const binding = lab.api.store.get('validatingadmissionpolicybindings', 'podlb-pool-approval');
    lab.api.store.delete('validatingadmissionpolicybindings', 'podlb-pool-approval');
    try {
      await lab.client.patch(poolPath, widen, 'merge');
    } finally {
      const { resourceVersion: _rv, uid: _uid, creationTimestamp: _ct, generation: _g, managedFields: _mf, ...metadata } = binding.metadata;
      lab.api.store.create('validatingadmissionpolicybindings', { ...binding, metadata });
    }
    const ev = await waitFor(
      'ApprovalStale event',
      async () => (await events()).find((e) => e.involvedObject.name === 'lab-pods' && e.reason === 'ApprovalStale'),
      10_000,
      100,
    );
    expect(ev.message).toContain('spec.communities');
    await waitFor(
      'node1 withdrew the pool',
      async () => ((await lab.podLBNode('node1'))?.status?.bgp?.advertisedPrefixes?.length === 0 ? true : undefined),
      10_000,
      100,
    );
    await waitFor('ToR lost the route', async () => ((await lab.topo.tor.kernelRoutes()).some((r) => r.dst === node1.podCidr) ? undefined : true), 10_000, 100);
    expect(readFileSync(node1.bird.configPath, 'utf8')).not.toContain('65535');

    // The network team approves the new content (what `kubectl podlb approve` sends): back.
    const read = await lab.networkTeam.get<PodAddressPool>(poolPath);
    await lab.networkTeam.patch(poolPath, approvalPatch('Approved', read, 'network-team:lab', 'LAB-2', new Date()), 'merge');
    await waitFor(
      'ToR has the route again',
      async () => ((await lab.topo.tor.kernelRoutes()).some((r) => r.dst === node1.podCidr) ? true : undefined),
      10_000,
      100,
    );
    expect((await lab.topo.tor.bgpNeighbors())[node1.address]?.establishedTransitions).toBe(flapsBefore);
    // Put the lab's pool back as it was for the suites after this one.
    await lab.networkTeam.patch(poolPath, { spec: { communities: ['65000:100'], approval: { state: 'Pending' } } }, 'merge');
    const again = await lab.networkTeam.get<PodAddressPool>(poolPath);
    await lab.networkTeam.patch(poolPath, approvalPatch('Approved', again, 'network-team:lab', 'LAB-3', new Date()), 'merge');
    await waitFor(
      'ToR route after restore',
      async () => ((await lab.topo.tor.kernelRoutes()).some((r) => r.dst === node1.podCidr) ? true : undefined),
      10_000,
      100,
    );
  });

  it('terminating a Pod drains its member at once and removes it after the drain window, without failed requests', async () => {
    await lab.createPod('node2', 'web-d', { preStopSeconds: 1 });
    const d = await gateTrue('web-d');
    const ip = d.status!.podIP!;
    const ctl = new AbortController();
    const load = runLoad({ socketPath: lab.topo.lb.httpSocket, concurrency: 3, durationMs: 30_000, stopSignal: ctl.signal });
    await new Promise((r) => setTimeout(r, 300));
    await lab.deletePod('web-d');
    await waitFor('member draining', async () => ((await lab.members()).find((m) => m.address === ip)?.admin === 'drain' ? true : undefined), 5000, 10);
    await waitFor('member removed', async () => ((await lab.members()).some((m) => m.address === ip) ? undefined : true), 15_000, 50);
    ctl.abort();
    const r = await load;
    expect(r.failed).toBe(0);
  });

  it('HAProxy restarted (dynamic servers lost): reported, then every member re-added', async () => {
    const names = (await lab.members()).map((m) => m.name).sort();
    await lab.topo.lb.haproxy.restart();
    await waitFor(
      'members re-added and healthy',
      async () => {
        const ms = await lab.members().catch(() => []);
        return ms.length === names.length && ms.every((m) => m.health === 'healthy') ? true : undefined;
      },
      30_000,
      100,
    );
    expect((await lab.members()).map((m) => m.name).sort()).toEqual(names);
  });

  it('BIRD missing at start: reported in status and Events, retried with backoff, converges when BIRD comes up', async () => {
    await lab.client.create('/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'node3', labels: { 'topology.kubernetes.io/rack': 'r1', 'podlb.io/bgp': 'true' } },
      spec: { podCIDR: '10.244.3.0/24', podCIDRs: ['10.244.3.0/24'] },
    });
    await lab.client.patch('/api/v1/nodes/node3/status', { status: { addresses: [{ type: 'InternalIP', address: '172.31.3.2' }] } }, 'merge');
    const dir = lab.sb.memoryTempDir('late-bird');
    // The node's namespace exists before its agent starts, as on a real node: the agent's
    // kernel routes (the Pod CIDR blackhole) go there, never into this machine's own table.
    const ns = await lab.sb.addNetns('node3');
    // The DaemonSet's Pod on the new node: its own token, bound to that Pod and node.
    const kc = lab.api.podIdentity({ serviceAccount: AGENT_SERVICE_ACCOUNT, nodeName: 'node3', hostNetwork: true }).kubeConfig();
    const agent = await Agent.create({
      nodeName: 'node3',
      kubeConfig: kc,
      log: pino({ level: process.env.PODLB_TEST_LOG ? 'debug' : 'silent' }, pino.destination(process.env.PODLB_TEST_LOG ?? '/dev/null')),
      bird: { socketPath: `${dir}/bird.ctl`, configPath: `${dir}/bird.conf` },
      kernel: { netns: ns },
    });
    await agent.start();
    try {
      const down = await waitFor(
        'ConfigApplied Unknown/BirdUnreachable',
        async () => {
          const c = (await lab.podLBNode('node3'))?.status?.conditions?.find((x) => x.type === 'ConfigApplied');
          return c?.reason === 'BirdUnreachable' ? c : undefined;
        },
        10_000,
        50,
      );
      expect(down.status).toBe('Unknown');
      await waitFor(
        'BirdUnreachable event',
        async () => (await events()).find((e) => e.reason === 'BirdUnreachable' && e.involvedObject.name === 'node3'),
        10_000,
        100,
      );
      await startBird(lab.sb, ns, { dir, initialConfig: birdInitialConfig('172.31.3.2') });
      const up = await waitFor(
        'ConfigApplied True',
        async () => {
          const n = await lab.podLBNode('node3');
          return n?.status?.conditions?.find((x) => x.type === 'ConfigApplied')?.status === 'True' ? n : undefined;
        },
        40_000,
        100,
      );
      expect(up.status?.bgp?.advertisedPrefixes).toEqual(['10.244.3.0/24']);
      expect(readFileSync(`${dir}/bird.conf`, 'utf8')).toMatch(/route 10\.244\.3\.0\/24 blackhole[ ;]/);
      const blackholes = await waitFor(
        "the Pod CIDR blackhole in node3's namespace",
        async () => {
          const rs = JSON.parse((await lab.sb.exec(ns, 'ip', ['-json', 'route', 'show', 'proto', '201'])) || '[]') as { dst: string }[];
          return rs.length > 0 ? rs : undefined;
        },
        10_000,
        50,
      );
      expect(blackholes.map((r) => r.dst)).toEqual(['10.244.3.0/24']);
    } finally {
      await agent.stop();
    }
  });

  it('fleet: every instance gets every member; a down instance is reported, blocks only new gates, and is refilled when back', async () => {
    const lb2 = lab.topo.lbs[1]!;
    const before = (await lab.haproxies[1]!.listMembers([LAB_BACKEND], 'podlb_')).members.map((m) => m.name).sort();
    expect(before).toEqual((await lab.members()).map((m) => m.name).sort());
    await lb2.haproxy.stop();
    await lab.createPod('node1', 'web-f');
    const unreachable = await waitFor(
      'LoadBalancerReachable False',
      async () => {
        const c = (await lab.podLBNode('node1'))?.status?.conditions?.find((x) => x.type === 'LoadBalancerReachable');
        return c?.status === 'False' ? c : undefined;
      },
      10_000,
      50,
    );
    expect(unreachable.message).toContain(lb2.haproxy.runtimeAddress);
    // The reachable instance still gets the new member and checks it healthy...
    const ip = await waitFor(
      'web-f healthy on the first instance',
      async () => {
        const p = await lab.getPod('web-f');
        const m = (await lab.members()).find((x) => x.address === p?.status?.podIP);
        return m?.health === 'healthy' ? p!.status!.podIP : undefined;
      },
      15_000,
      50,
    );
    // ...but the gate waits for every instance.
    await new Promise((r) => setTimeout(r, 1000));
    expect(gateStatus(await lab.getPod('web-f')).status).not.toBe('True');
    await lb2.haproxy.start();
    await gateTrue('web-f', 40_000);
    const refilled = (await lab.haproxies[1]!.listMembers([LAB_BACKEND], 'podlb_')).members;
    expect(refilled.some((m) => m.address === ip)).toBe(true);
    // The other node's agent refills it too, once its (capped) retry backoff comes round.
    const want = (await lab.members())
      .map((m) => m.name)
      .sort()
      .join();
    await waitFor(
      'second instance refilled by both agents',
      async () =>
        (await lab.haproxies[1]!.listMembers([LAB_BACKEND], 'podlb_')).members
          .map((m) => m.name)
          .sort()
          .join() === want
          ? true
          : undefined,
      35_000,
      100,
    );
  });

  it('node drain: a cordoned node withdraws its Pod CIDR once its last Pod is gone, and brings it back when uncordoned', async () => {
    const atTor = async (): Promise<boolean> => (await lab.topo.tor.kernelRoutes()).some((r) => r.dst === '10.244.1.0/24');
    await lab.client.patch('/api/v1/nodes/node1', { spec: { unschedulable: true } }, 'merge');
    await new Promise((r) => setTimeout(r, 1000));
    expect(await atTor()).toBe(true); // Pods still run there: their traffic must keep arriving
    const onNode1 = (await lab.client.list<Pod>('/api/v1/namespaces/demo/pods')).items.filter((p) => p.spec.nodeName === 'node1').map((p) => p.metadata.name!);
    expect(onNode1.length).toBeGreaterThan(0);
    for (const name of onNode1) await lab.deletePod(name);
    await waitFor('10.244.1.0/24 withdrawn at the ToR', async () => ((await atTor()) ? undefined : true), 30_000, 50);
    const bh = JSON.parse(await lab.sb.exec(lab.topo.nodes[0]!.ns, 'ip', ['-json', 'route', 'show', 'proto', '201'])) as unknown[];
    expect(bh).toEqual([]);
    expect((await events()).some((e) => e.reason === 'DrainedPodCIDRWithdrawn' && e.involvedObject.name === 'node1')).toBe(true);
    expect((await lab.topo.tor.kernelRoutes()).some((r) => r.dst === '10.244.2.0/24')).toBe(true); // node2 untouched
    await lab.client.patch('/api/v1/nodes/node1', { spec: { unschedulable: false } }, 'merge');
    await waitFor('10.244.1.0/24 back at the ToR', async () => ((await atTor()) ? true : undefined), 15_000, 50);
  });

  // Runs last: every call the agents made above went through RBAC as podlb-system/podlb-agent.
  it('the shipped RBAC granted every call the agents made (no 403 in the whole suite)', () => {
    // The tenant's refused write to the class is the one 403 this suite means to cause.
    expect(lab.api.deniedRequests().filter((d) => d.username !== 'mallory')).toEqual([]);
    expect(lab.api.deniedRequests().filter((d) => d.username === 'mallory')).toHaveLength(1);
  });
});
