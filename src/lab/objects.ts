// The objects the lab applies, in the shapes of the design's examples. The install test
// validates them against the CRD schemas in daemonset/, so the lab never drifts from what a
// real cluster would accept.
import type { UserInfo } from '../apiserver/user.js';
import { approvePool } from '../bgp/approval.js';
import { API_VERSION, READINESS_GATE, type BGPPeer, type LoadBalancerClass, type Node, type Pod, type PodAddressPool, type Service } from '../api/types.js';

export const LAB_NAMESPACE = 'demo';
export const LAB_SERVICE = 'web';
export const LAB_BACKEND = `${LAB_NAMESPACE}.${LAB_SERVICE}.http`;
export const LAB_CLASS = 'lab-haproxy';
export const LAB_POD_PORT = 8080;

/**
 * The lab's network team: a member of the group the shipped ConfigMap podlb-system/podlb-network-team
 * names, so the approval admission policy lets it create and approve pools. Set-up that plays the
 * network team writes pools as this user (over HTTP with a token, or in-process with `{ user }`);
 * the cluster admin may not approve a pool, as on a real cluster.
 */
export const LAB_NETWORK_TEAM: UserInfo = { username: 'network-team:lab', groups: ['podlb:network-team', 'system:authenticated'] };

/** Objects the network team owns and applies (only pools are guarded by the approval policy). */
export function isNetworkTeamObject(obj: { kind?: string }): boolean {
  return obj.kind === 'PodAddressPool';
}

export interface LabNodeSpec {
  name: string;
  podCidr: string;
  /** Dual-stack nodes: the IPv6 Pod CIDR. */
  podCidr6?: string;
  rack: string;
}

export interface LabObjectsInput {
  nodes: (LabNodeSpec & { address: string; torAddress: string; torAddress6?: string })[];
  /** Runtime API addresses of every HAProxy instance of the fleet. */
  haproxyRuntimes: string[];
  torAsn?: number;
  nodeAsn?: number;
  healthCheck?: { interval: string; rise: number; fall: number };
  drainSeconds?: number;
}

export type LabObject = { apiVersion: string; kind: string; metadata: { name?: string; namespace?: string } & Record<string, unknown> } & Record<
  string,
  unknown
>;

export function labObjects(input: LabObjectsInput): LabObject[] {
  const nodes: (Node & LabObject)[] = input.nodes.map((n) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name, 'topology.kubernetes.io/rack': n.rack, 'podlb.io/bgp': 'true' } },
    spec: { podCIDR: n.podCidr, podCIDRs: [n.podCidr, ...(n.podCidr6 ? [n.podCidr6] : [])] },
    status: {
      addresses: [
        { type: 'InternalIP', address: n.address },
        { type: 'Hostname', address: n.name },
      ],
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  }));
  const requested: PodAddressPool & LabObject = {
    apiVersion: API_VERSION,
    kind: 'PodAddressPool',
    metadata: { name: 'lab-pods' },
    spec: {
      cidrs: ['10.244.0.0/16', 'fd00:244::/56'],
      advertise: 'NodeCIDR',
      nodeSelector: { matchLabels: { 'podlb.io/bgp': 'true' } },
      communities: ['65000:100'],
    },
  };
  const pool = approvePool(requested, { by: LAB_NETWORK_TEAM.username, reason: 'LAB-1', time: '2026-11-23T00:00:00Z' });
  const peers: (BGPPeer & LabObject)[] = [...new Map(input.nodes.map((n) => [n.rack, n])).values()].map((n) => ({
    apiVersion: API_VERSION,
    kind: 'BGPPeer',
    metadata: { name: `rack-${n.rack}-tor` },
    spec: {
      peerAddress: n.torAddress,
      peerASN: input.torAsn ?? 65000,
      localASN: input.nodeAsn ?? 64512,
      nodeSelector: { matchLabels: { 'topology.kubernetes.io/rack': n.rack } },
      holdTimeSeconds: 90,
      keepaliveSeconds: 30,
      gracefulRestart: { enabled: true, restartTimeSeconds: 120 },
    },
  }));
  // Dual-stack racks also peer over IPv6 (one session per family, as real ToRs are configured).
  for (const n of input.nodes) {
    if (!n.torAddress6) continue;
    peers.push({
      apiVersion: API_VERSION,
      kind: 'BGPPeer',
      metadata: { name: `rack-${n.rack}-tor-v6` },
      spec: {
        peerAddress: n.torAddress6,
        peerASN: input.torAsn ?? 65000,
        localASN: input.nodeAsn ?? 64512,
        nodeSelector: { matchLabels: { 'topology.kubernetes.io/rack': n.rack } },
        holdTimeSeconds: 90,
        keepaliveSeconds: 30,
        gracefulRestart: { enabled: true, restartTimeSeconds: 120 },
      },
    });
  }
  const hc = input.healthCheck ?? { interval: '1s', rise: 2, fall: 3 };
  const lbClass: LoadBalancerClass & LabObject = {
    apiVersion: API_VERSION,
    kind: 'LoadBalancerClass',
    metadata: { name: LAB_CLASS },
    spec: {
      provider: 'haproxy',
      haproxy: { instances: [...input.haproxyRuntimes], healthCheck: { ...hc, httpPath: '/healthz' } },
      drainSeconds: input.drainSeconds ?? 30,
      readiness: { withoutHealthCheck: 'Immediate', timeoutSeconds: 600 },
      // Who may put Pods into which backend: the demo namespace, its own backends only.
      tenancy: { namespaces: [{ name: LAB_NAMESPACE, backends: [`${LAB_NAMESPACE}.*`] }] },
    },
  };
  const service: Service & LabObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: LAB_SERVICE, namespace: LAB_NAMESPACE, annotations: { 'podlb.io/load-balancer': LAB_CLASS, 'podlb.io/ports': 'http' } },
    spec: { selector: { app: LAB_SERVICE }, ports: [{ name: 'http', port: 80, targetPort: LAB_POD_PORT, protocol: 'TCP' }] },
  };
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: LAB_NAMESPACE } },
    // podlb-system comes with the shipped manifests (installManifests).
    ...nodes,
    pool,
    ...peers,
    lbClass,
    service,
  ];
}

/**
 * A Pod of the demo Deployment, already bound to a node (the lab plays the scheduler) and
 * carrying the readiness gate (the lab plays podlb's mutating webhook, which arrives later).
 * preStop sleep: the endpoint turns terminating and the agent drains before the server stops.
 */
export interface LabPodOptions {
  gate?: boolean;
  preStopSeconds?: number;
  terminationGracePeriodSeconds?: number;
  /** An httpGet readinessProbe on the server's /healthz (the lab kubelet runs it from the node). */
  readinessProbe?: { periodSeconds?: number; initialDelaySeconds?: number; successThreshold?: number; failureThreshold?: number; timeoutSeconds?: number };
}

export function labPod(name: string, node: string, opts: LabPodOptions = {}): Pod & LabObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: LAB_NAMESPACE, labels: { app: LAB_SERVICE } },
    spec: {
      nodeName: node,
      ...(opts.gate === false ? {} : { readinessGates: [{ conditionType: READINESS_GATE }] }),
      terminationGracePeriodSeconds: opts.terminationGracePeriodSeconds ?? 30,
      containers: [
        {
          name: 'web',
          image: 'podlb-lab/web:latest',
          ports: [{ name: 'http', containerPort: LAB_POD_PORT, protocol: 'TCP' }],
          ...(opts.preStopSeconds ? { lifecycle: { preStop: { sleep: { seconds: opts.preStopSeconds } } } } : {}),
          ...(opts.readinessProbe ? { readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, ...opts.readinessProbe } } : {}),
        },
      ],
    },
  };
}
