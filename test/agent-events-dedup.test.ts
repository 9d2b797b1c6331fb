// Several agents against one in-process API server, each with Pods of the same broken Services:
// a problem that depends only on the Service or its class is one Event in the cluster, not one
// per node, and it stays one over further runs. Needs no root: the agents run without BGP.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION } from '../src/api/types.js';
import { Agent } from '../src/agent/agent.js';
import { startApiServer, type ApiServer } from '../src/apiserver/index.js';
import type { KubeClient } from '../src/kube/client.js';
import { waitFor } from '../src/lab/netns.js';
import { adminClient, adminKubeConfig } from '../testkit/api-client.js';

const NODES = ['n3', 'n1', 'n5', 'n2', 'n4'];
const NS = 'ads';

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
    const ip = `10.244.${Number(node.slice(1))}.${10 + i + (app === 'a' ? 0 : 50)}`;
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
