// Shared set-up for the Octavia suites: an in-process fake (Keystone + Octavia on
// 127.0.0.1) with one load balancer, a monitored pool `web` and an unmonitored pool `nomon`.
// Without `pendingMs` the fake locks the LB for its realistic window and the clients retry a
// 409 as in production; with a short one (tests about something else) they retry fast.
import { startOctaviaFake, type FakeLoadBalancer, type FakePool, type OctaviaFake, type OctaviaFakeOptions } from './octavia-fake/index.js';
import { OctaviaInstance, type OctaviaInstanceOptions } from '../src/lb/octavia-instance.js';
import { memberName } from '../src/lb/naming.js';
import type { MemberSpec } from '../src/lb/provider.js';
import { stringify } from 'yaml';
import { API_VERSION, LABEL_CREDENTIALS } from '../src/api/types.js';

export interface Env {
  fake: OctaviaFake;
  lb: FakeLoadBalancer;
  web: FakePool;
  nomon: FakePool;
  instance(node: string, opts?: Partial<OctaviaInstanceOptions>): OctaviaInstance;
}

export async function startEnv(opts: OctaviaFakeOptions = {}): Promise<Env> {
  const fake = await startOctaviaFake(opts);
  const lb = fake.state.createLoadBalancer({ name: 'l7lb' });
  const web = fake.state.createPool(lb.id, { name: 'web', healthMonitor: true });
  const nomon = fake.state.createPool(lb.id, { name: 'nomon', healthMonitor: false });
  return {
    fake,
    lb,
    web,
    nomon,
    instance: (node, o = {}) =>
      new OctaviaInstance({
        authURL: fake.url,
        region: 'RegionOne',
        credentials: fake.credentials.password,
        loadBalancerID: lb.id,
        nodeName: node,
        ...(opts.pendingMs !== undefined ? { pendingRetry: { baseMs: 10, maxMs: 80, budgetMs: 5_000 } } : {}),
        ...o,
      }),
  };
}

export function spec(node: string, address: string, port = 8080, backend = 'web'): MemberSpec {
  return { backend, name: memberName(node, address, port), address, port };
}

/** Requests that would replace a pool's whole member list. */
export function batchUpdates(fake: OctaviaFake): string[] {
  return fake.requestLog.filter((r) => r.method === 'PUT' && /\/pools\/[^/?]+\/members(\?|$)/.test(r.path)).map((r) => r.path);
}

/** A credentials Secret in podlb-system, labelled for podlb, whose clouds.yaml logs in to the fake as its default user. */
export function credentialsSecret(fake: OctaviaFake, name: string): Record<string, unknown> {
  const p = fake.credentials.password;
  const clouds = {
    clouds: {
      podlb: {
        auth: {
          auth_url: fake.url,
          username: p.username,
          password: p.password,
          project_name: p.projectName,
          user_domain_name: 'Default',
          project_domain_name: 'Default',
        },
        region_name: 'RegionOne',
      },
    },
  };
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: 'podlb-system', labels: { [LABEL_CREDENTIALS]: 'true' } },
    data: { 'clouds.yaml': Buffer.from(stringify(clouds)).toString('base64') },
  };
}

/**
 * A LoadBalancerClass on the fake's load balancer that logs in with `credentialsSecret(fake, secretName)`,
 * draining 2 s, for `namespace` naming `backends`.
 */
export function octaviaClass(
  fake: OctaviaFake,
  o: { name: string; loadBalancerID: string; secretName: string; namespace: string; backends: string[] },
): Record<string, unknown> {
  return {
    apiVersion: API_VERSION,
    kind: 'LoadBalancerClass',
    metadata: { name: o.name },
    spec: {
      provider: 'octavia',
      octavia: {
        authURL: fake.url,
        region: 'RegionOne',
        loadBalancerID: o.loadBalancerID,
        credentialsSecretRef: { namespace: 'podlb-system', name: o.secretName, key: 'clouds.yaml' },
      },
      drainSeconds: 2,
      tenancy: { namespaces: [{ name: o.namespace, backends: o.backends }] },
    },
  };
}
