// Builders for the planner tests: small, explicit objects in the shapes the API returns.
import { LABEL_SERVICE_NAME, READINESS_GATE, type Condition, type EndpointSlice, type LoadBalancerClass, type Pod, type Service } from '../src/api/types.js';

export const NODE = 'node-a';

export function pod(
  name: string,
  opts: {
    ip?: string;
    node?: string;
    gate?: boolean;
    containersReady?: boolean;
    gateStatus?: 'True' | 'False';
    gateReason?: string;
    deleting?: boolean;
    labels?: Record<string, string>;
    otherGate?: 'True' | 'False';
    since?: string;
  } = {},
): Pod {
  const conditions: Condition[] = [];
  if (opts.containersReady !== undefined)
    conditions.push({ type: 'ContainersReady', status: opts.containersReady ? 'True' : 'False', lastTransitionTime: opts.since ?? '2026-11-23T10:00:00Z' });
  if (opts.gateStatus)
    conditions.push({
      type: READINESS_GATE,
      status: opts.gateStatus,
      reason: opts.gateReason ?? 'RegistrationInProgress',
      lastTransitionTime: opts.since ?? '2026-11-23T10:00:00Z',
    });
  if (opts.otherGate) conditions.push({ type: 'example.com/other', status: opts.otherGate });
  const gates = [...(opts.gate === false ? [] : [{ conditionType: READINESS_GATE }]), ...(opts.otherGate ? [{ conditionType: 'example.com/other' }] : [])];
  return {
    metadata: {
      name,
      namespace: 'ads',
      uid: `uid-${name}`,
      labels: opts.labels ?? { app: 'bidder' },
      ...(opts.deleting ? { deletionTimestamp: '2026-11-23T10:05:00Z' } : {}),
    },
    spec: { nodeName: opts.node ?? NODE, readinessGates: gates, containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }] },
    status: { podIP: opts.ip ?? '10.244.1.10', conditions },
  };
}

export function service(
  annotations: Record<string, string> = {},
  opts: { name?: string; ports?: Service['spec']['ports']; selector?: Record<string, string> } = {},
): Service {
  return {
    metadata: { name: opts.name ?? 'bidder', namespace: 'ads', uid: 'svc-uid', annotations: { 'podlb.io/load-balancer': 'l7lb', ...annotations } },
    spec: { selector: opts.selector ?? { app: 'bidder' }, ports: opts.ports ?? [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
  };
}

export function lbClass(spec: Partial<LoadBalancerClass['spec']> = {}, name = 'l7lb'): LoadBalancerClass {
  return {
    metadata: { name },
    spec: { provider: 'haproxy', haproxy: { instances: ['unix:///run/haproxy.sock'], healthCheck: { interval: '1s', rise: 2, fall: 3 } }, ...spec },
  };
}

export type Ep = { pod: string; ip: string; node?: string; ready?: boolean; terminating?: boolean };

export function slice(eps: Ep[], opts: { service?: string; portName?: string; port?: number } = {}): EndpointSlice {
  return {
    metadata: { name: `${opts.service ?? 'bidder'}-abc`, namespace: 'ads', labels: { [LABEL_SERVICE_NAME]: opts.service ?? 'bidder' } },
    addressType: 'IPv4',
    ports: [{ name: opts.portName ?? 'http', port: opts.port ?? 8080, protocol: 'TCP' }],
    endpoints: eps.map((e) => ({
      addresses: [e.ip],
      nodeName: e.node ?? NODE,
      targetRef: { kind: 'Pod', namespace: 'ads', name: e.pod, uid: `uid-${e.pod}` },
      conditions: {
        ...(e.ready === undefined ? {} : { ready: e.ready }),
        ...(e.terminating === undefined ? {} : { terminating: e.terminating, serving: !e.terminating }),
      },
    })),
  };
}
