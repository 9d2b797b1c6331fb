// Several agents against one in-process API server, each with Pods of the same broken Services:
// a problem that depends only on the Service or its class is one Event in the cluster, not one
// per node, and it stays one over further runs. Every Event names its object's uid, so the real
// kubectl's describe lists it. Needs no root: the agents run without BGP.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION } from '../src/api/types.js';
import { Agent } from '../src/agent/agent.js';
import { startApiServer, type ApiServer } from '../src/apiserver/index.js';
import type { KubeClient } from '../src/kube/client.js';
import { waitFor } from '../src/lab/netns.js';
import { adminClient, adminKubeConfig } from '../testkit/api-client.js';
import { describedEvents } from '../testkit/described-events.js';

const NODES = ['n3', 'n1', 'n5', 'n2', 'n4'];
const NS = 'ads';
/** Each app's Pods get their own addresses on a node. */
const APP_OFFSET: Record<string, number> = { a: 0, b: 50, c: 100 };

interface KEvent {
  reason: string;
  count?: number;
  involvedObject: { kind: string; name: string; uid?: string };
  source?: { host?: string };
}

let api: ApiServer;
let client: KubeClient;
const agents: Agent[] = [];

async function serviceWithPods(name: string, annotations: Record<string, string>, app: string): Promise<string> {
  const svc = await client.create<{ metadata: { uid: string } }>(`/api/v1/namespaces/${NS}/services`, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: NS, annotations },
    spec: { selector: { app }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
  });
  const endpoints = [];
  for (const [i, node] of NODES.entries()) {
    const pod = `${name}-${node}`;
    const ip = `10.244.${Number(node.slice(1))}.${10 + i + APP_OFFSET[app]!}`;
    const created = await client.create<{ metadata: { uid: string } }>(`/api/v1/namespaces/${NS}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: pod, namespace: NS, labels: { app } },
      spec: { nodeName: node, containers: [{ name: 'web', image: 'web', ports: [{ name: 'http', containerPort: 8080 }] }] },
    });
    await client.patch(
      `/api/v1/namespaces/${NS}/pods/${pod}/status`,
      { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }] } },
      'merge',
    );
    endpoints.push({
      addresses: [ip],
      nodeName: node,
      conditions: { ready: true },
      targetRef: { kind: 'Pod', namespace: NS, name: pod, uid: created.metadata.uid },
    });
  }
  await client.create(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`, {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name}-x1`, namespace: NS, labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints,
  });
  return svc.metadata.uid;
}

beforeAll(async () => {
  api = await startApiServer();
  client = adminClient(api);
  await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  for (const [i, node] of NODES.entries())
    await client.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: node }, spec: { podCIDRs: [`10.244.${i + 1}.0/24`] } });
  await client.create(`/apis/${API_VERSION}/loadbalancerclasses`, {
    apiVersion: API_VERSION,
    kind: 'LoadBalancerClass',
    metadata: { name: 'l7lb' },
    spec: { provider: 'haproxy', haproxy: { instances: ['unix:///run/podlb-test-no-such-haproxy.sock'] } },
  });
});

afterAll(async () => {
  for (const a of agents) await a.stop();
  await api?.close();
});

describe('Events about a Service, with its Pods on every node', () => {
  it('a malformed annotation and an unknown class are one Event each in the cluster, with the Service uid, from one node', async () => {
    const badPorts = await serviceWithPods('bad-ports', { 'podlb.io/load-balancer': 'l7lb', 'podlb.io/ports': 'grpc' }, 'a');
    const typo = await serviceWithPods('typo', { 'podlb.io/load-balancer': 'no-such-class' }, 'b');
    for (const node of NODES) {
      const agent = await Agent.create({ nodeName: node, kubeConfig: adminKubeConfig(api), log: pino({ level: 'silent' }), kernel: false, resyncMs: 100 });
      agents.push(agent);
      await agent.start();
    }
    const events = async (): Promise<KEvent[]> => (await client.list<KEvent>(`/api/v1/namespaces/${NS}/events`)).items;
    const ofReason = async (reason: string): Promise<KEvent[]> => (await events()).filter((e) => e.reason === reason);
    await waitFor('both Events', async () =>
      (await ofReason('InvalidAnnotation')).length > 0 && (await ofReason('UnknownLoadBalancerClass')).length > 0 ? true : undefined,
    );
    // Every agent runs several more times (resync every 100 ms): nothing more is written.
    for (let i = 0; i < 5; i++) await Promise.all(agents.map((a) => a.nextRun()));

    const invalid = await ofReason('InvalidAnnotation');
    expect(invalid.map((e) => [e.involvedObject.kind, e.involvedObject.name, e.involvedObject.uid, e.source?.host, e.count])).toEqual([
      ['Service', 'bad-ports', badPorts, 'n1', 1],
    ]);
    const unknown = await ofReason('UnknownLoadBalancerClass');
    expect(unknown.map((e) => [e.involvedObject.kind, e.involvedObject.name, e.involvedObject.uid, e.source?.host, e.count])).toEqual([
      ['Service', 'typo', typo, 'n1', 1],
    ]);
    // Only those two: no agent wrote about these Services under another reason.
    expect((await events()).filter((e) => e.involvedObject.kind === 'Service')).toHaveLength(2);
  });
});

describe('Events about a LoadBalancerClass', () => {
  it('name the class uid, so kubectl describe lists them', async () => {
    // The agents of the test above are running; this Service is valid, its class's instance is away.
    await serviceWithPods('good', { 'podlb.io/load-balancer': 'l7lb' }, 'c');
    const cls = api.store.get('loadbalancerclasses', 'l7lb') as { metadata: { name: string; uid: string } };
    const described = await waitFor('LoadBalancerUnreachable described', async () => {
      const evs = await describedEvents(client, { kind: 'LoadBalancerClass', metadata: cls.metadata });
      return evs.some((e) => e.reason === 'LoadBalancerUnreachable') ? evs : undefined;
    });
    expect(described.every((e) => e.involvedObject.uid === cls.metadata.uid)).toBe(true);
    // Every Event on the class names it, whichever node wrote it.
    const onClass = (await client.list<KEvent>('/api/v1/namespaces/default/events')).items.filter((e) => e.involvedObject.kind === 'LoadBalancerClass');
    expect(onClass.length).toBeGreaterThan(0);
    expect(onClass.map((e) => e.involvedObject.uid).filter((u) => u !== cls.metadata.uid)).toEqual([]);

    const dir = mkdtempSync(join(tmpdir(), 'podlb-kubectl-'));
    try {
      await api.writeKubeconfig(join(dir, 'kubeconfig'));
      const { stdout } = await promisify(execFile)('kubectl', ['describe', 'loadbalancerclasses.podlb.io', 'l7lb', '--kubeconfig', join(dir, 'kubeconfig')], {
        timeout: 30_000,
      });
      expect(stdout).toMatch(/Warning\s+LoadBalancerUnreachable\s/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
