// The agent with an Octavia LoadBalancerClass, against the in-process API server and the
// in-process Octavia/Keystone fake (there is no Octavia here; see README). Checks the wiring:
// credentials from the class's Secret, members tagged for this node, the gate waiting for the
// pool's health monitor (the class itself names no check), and a missing Secret being
// reported and recovered from.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_SERVICE_ACCOUNT } from '../src/lab/lab.js';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { startApiServer, type ApiServer } from '../src/apiserver/index.js';
import { startEndpointSliceController } from '../src/lab/endpointslice-controller.js';
import { startOctaviaFake, type OctaviaFake } from '../testkit/octavia-fake/index.js';
import { credentialsSecret } from '../testkit/octavia-env.js';
import { Agent } from '../src/agent/agent.js';
import type { KubeClient } from '../src/kube/client.js';
import { waitFor } from '../src/lab/netns.js';
import { API_VERSION, LABEL_CREDENTIALS, READINESS_GATE, type Pod, type PodLBNode } from '../src/api/types.js';
import { startHttpStub } from '../testkit/http-stub.js';
import { adminClient } from '../testkit/api-client.js';

let api: ApiServer;
let fake: OctaviaFake;
let client: KubeClient;
let agent: Agent;
let slices: { stop(): void };
let lbId = '';
let poolId = '';

const gate = async (name: string): Promise<{ status?: string; reason?: string }> => {
  const p = await client.get<Pod>(`/api/v1/namespaces/shop/pods/${name}`);
  const c = p.status?.conditions?.find((x) => x.type === READINESS_GATE);
  return { ...(c?.status ? { status: c.status } : {}), ...(c?.reason ? { reason: c.reason } : {}) };
};

async function runningPod(name: string, ip: string, app = 'cart'): Promise<void> {
  await client.create('/api/v1/namespaces/shop/pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'shop', labels: { app } },
    spec: {
      nodeName: 'node1',
      readinessGates: [{ conditionType: READINESS_GATE }],
      containers: [{ name: 'c', image: 'cart', ports: [{ name: 'http', containerPort: 8080 }] }],
    },
  });
  const now = new Date().toISOString();
  await client.patch(
    `/api/v1/namespaces/shop/pods/${name}/status`,
    {
      status: {
        phase: 'Running',
        podIP: ip,
        podIPs: [{ ip }],
        conditions: [
          { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
          { type: 'Ready', status: 'False', lastTransitionTime: now },
        ],
      },
    },
    'strategic',
  );
}

beforeAll(async () => {
  fake = await startOctaviaFake(); // the realistic PENDING window
  const lb = fake.state.createLoadBalancer({ name: 'l7lb' });
  lbId = lb.id;
  // A fast monitor (0.1 s × 2 checks) and heartbeat (0.1 s) so the gate's settle time is 0.3 s.
  poolId = fake.state.createPool(lb.id, { name: 'cart', healthMonitor: { delay: 0.1, max_retries_down: 2 } }).id;
  api = await startApiServer();
  client = adminClient(api);
  api.installManifests();
  for (const ns of ['shop']) await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await client.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node1' } });
  await client.create(`/apis/${API_VERSION}/loadbalancerclasses`, {
    apiVersion: API_VERSION,
    kind: 'LoadBalancerClass',
    metadata: { name: 'octavia-lb' },
    spec: {
      provider: 'octavia',
      octavia: {
        authURL: fake.url,
        region: 'RegionOne',
        loadBalancerID: lbId,
        credentialsSecretRef: { namespace: 'podlb-system', name: 'os-creds', key: 'clouds.yaml' },
      },
      drainSeconds: 1,
      tenancy: { namespaces: [{ name: 'shop', backends: ['cart'] }] },
    },
  });
  await client.create('/api/v1/namespaces/shop/services', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'cart', namespace: 'shop', annotations: { 'podlb.io/load-balancer': 'octavia-lb', 'podlb.io/backend': 'cart' } },
    spec: { selector: { app: 'cart' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  });
  slices = startEndpointSliceController(api.store);
  // The agent as the DaemonSet's Pod on node1 (its own ServiceAccount token, shipped RBAC).
  const agentKc = api.podIdentity({ serviceAccount: AGENT_SERVICE_ACCOUNT, nodeName: 'node1', hostNetwork: true }).kubeConfig();
  agent = await Agent.create({ nodeName: 'node1', kubeConfig: agentKc, log: pino({ level: 'silent' }), pendingPollMs: 50, octaviaHeartbeatMs: 100 });
  await agent.start();
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  slices?.stop();
  const denied = api?.deniedRequests() ?? [];
  await api?.close();
  expect(denied, 'calls the shipped RBAC does not grant').toEqual([]);
  await fake?.close();
});

describe('agent with an Octavia class', () => {
  it('a missing credentials Secret is reported, nothing is registered; creating it recovers', async () => {
    await runningPod('cart-1', '10.244.1.21');
    const cond = await waitFor(
      'LoadBalancerReachable False',
      async () => {
        const n = await client.get<PodLBNode>(`/apis/${API_VERSION}/podlbnodes/node1`).catch(() => undefined);
        const c = n?.status?.conditions?.find((x) => x.type === 'LoadBalancerReachable');
        return c?.status === 'False' ? c : undefined;
      },
      10_000,
      50,
    );
    expect(cond.message).toContain('os-creds');
    expect(fake.state.membersOf(poolId)).toEqual([]);
    // Labelled by the operator for podlb; its own auth_url is the Keystone it may be sent to.
    await client.create('/api/v1/namespaces/podlb-system/secrets', credentialsSecret(fake, 'os-creds'));
    await waitFor('member created', () => (fake.state.membersOf(poolId).length === 1 ? true : undefined), 15_000, 50);
  });

  it('members are tagged for this node; the gate waits for the pool monitor, then turns True', async () => {
    const [m] = fake.state.membersOf(poolId);
    expect(m).toMatchObject({ address: '10.244.1.21', protocol_port: 8080, name: 'podlb_node1_10.244.1.21_8080' });
    expect(m!.tags).toEqual(expect.arrayContaining(['podlb', 'podlb-node:node1']));
    await waitFor('gate False/RegistrationInProgress', async () => ((await gate('cart-1')).reason === 'RegistrationInProgress' ? true : undefined), 10_000, 50);
    await new Promise((r) => setTimeout(r, 500));
    expect((await gate('cart-1')).status).toBe('False'); // OFFLINE until the monitor reports
    fake.state.setOperatingStatus(m!.id, 'ONLINE');
    await waitFor('gate True', async () => ((await gate('cart-1')).status === 'True' ? true : undefined), 10_000, 50);
    expect((await gate('cart-1')).reason).toBe('LoadBalancerHealthy');
  });

  it('a deleted Pod is drained (weight 0) and then removed', async () => {
    await client.request('DELETE', '/api/v1/namespaces/shop/pods/cart-1', { body: { gracePeriodSeconds: 30 } });
    await waitFor('weight 0', () => (fake.state.membersOf(poolId)[0]?.weight === 0 ? true : undefined), 10_000, 50);
    await client.request('DELETE', '/api/v1/namespaces/shop/pods/cart-1', { body: { gracePeriodSeconds: 0 } });
    await waitFor('member removed', () => (fake.state.membersOf(poolId).length === 0 ? true : undefined), 10_000, 50);
    const batch = fake.requestLog.filter((r) => r.method === 'PUT' && /\/pools\/[^/]+\/members$/.test(r.path));
    expect(batch).toEqual([]);
  });

  it('a class author cannot send the cloud credentials elsewhere: another authURL, or a Secret the operator did not label, is refused before anything is sent', async () => {
    const seen: string[] = [];
    const collector = await startHttpStub((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(500).end();
    });
    try {
      const p = fake.credentials.password;
      const cloudsAt = (authUrl: string) => ({
        clouds: { c: { auth: { auth_url: authUrl, username: p.username, password: p.password, project_name: p.projectName }, region_name: 'RegionOne' } },
      });
      // Valid credentials in a Secret nobody labelled for podlb (say, another tool's), naming the collector.
      await client.create('/api/v1/namespaces/podlb-system/secrets', {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'backup-tool-creds', namespace: 'podlb-system' },
        data: { 'clouds.yaml': Buffer.from(stringify(cloudsAt(`${collector.url}/v3`))).toString('base64') },
      });
      const octaviaClass = (name: string, authURL: string, secret: string) =>
        client.create(`/apis/${API_VERSION}/loadbalancerclasses`, {
          apiVersion: API_VERSION,
          kind: 'LoadBalancerClass',
          metadata: { name },
          spec: {
            provider: 'octavia',
            octavia: {
              authURL,
              region: 'RegionOne',
              loadBalancerID: lbId,
              credentialsSecretRef: { namespace: 'podlb-system', name: secret, key: 'clouds.yaml' },
            },
          },
        });
      await octaviaClass('exfil-url', `${collector.url}/v3`, 'os-creds'); // the labelled Secret, sent elsewhere
      await octaviaClass('exfil-secret', `${collector.url}/v3`, 'backup-tool-creds');
      for (const cls of ['exfil-url', 'exfil-secret']) {
        await client.create('/api/v1/namespaces/shop/services', {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: cls, namespace: 'shop', annotations: { 'podlb.io/load-balancer': cls, 'podlb.io/backend': 'cart' } },
          spec: { selector: { app: 'exfil' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
        });
      }
      await runningPod('exfil-1', '10.244.1.31', 'exfil');

      const warnings = await waitFor(
        'a Warning on each class',
        async () => {
          const events = await client.list<{ involvedObject: { kind: string; name: string }; type: string; reason: string; message: string }>('/api/v1/events');
          const on = (name: string) =>
            events.items.find((e) => e.involvedObject.kind === 'LoadBalancerClass' && e.involvedObject.name === name && e.type === 'Warning');
          const a = on('exfil-url');
          const b = on('exfil-secret');
          return a && b ? { url: a.message, secret: b.message, reasons: [a.reason, b.reason] } : undefined;
        },
        15_000,
        50,
      );
      expect(warnings.url).toContain(
        `spec.octavia.authURL ${collector.url}/v3 is neither allowed by the agent's --octavia-auth-url flag nor the auth_url of credentials Secret podlb-system/os-creds`,
      );
      expect(warnings.secret).toContain(`credentials Secret podlb-system/backup-tool-creds is not labelled ${LABEL_CREDENTIALS}=true`);
      expect(warnings.secret).not.toContain(p.password);
      expect(warnings.reasons).toEqual(['CredentialsRefused', 'CredentialsRefused']);
      // Retries (with backoff) refuse again; nothing ever reached the collector.
      await new Promise((r) => setTimeout(r, 1500));
      expect(seen).toEqual([]);
      expect(fake.state.membersOf(poolId).filter((m) => m.address === '10.244.1.31')).toEqual([]);
    } finally {
      await collector.close();
    }
  });
});
