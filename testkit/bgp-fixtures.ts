// Objects shaped like design §3's examples, for tests, goldens and the bench.
import type { BGPPeer, Node, PodAddressPool, Secret } from '../src/api/types.js';

export function nodeFixture(over: { name?: string; labels?: Record<string, string>; podCIDRs?: string[]; internalIP?: string | null } = {}): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: over.name ?? 'node-a', labels: over.labels ?? { 'podlb.io/bgp': 'true', 'topology.kubernetes.io/rack': 'r12' } },
    spec: { podCIDRs: over.podCIDRs ?? ['10.244.1.0/24'] },
    status: { addresses: over.internalIP === null ? [{ type: 'Hostname', address: 'node-a' }] : [{ type: 'InternalIP', address: over.internalIP ?? '172.31.0.2' }] },
  };
}

export function poolFixture(name = 'tokyo-pods', spec: Partial<PodAddressPool['spec']> = {}): PodAddressPool {
  return {
    apiVersion: 'podlb.io/v1alpha1',
    kind: 'PodAddressPool',
    metadata: { name },
    spec: {
      cidrs: ['10.244.0.0/16', 'fd00:244::/56'],
      advertise: 'NodeCIDR',
      nodeSelector: { matchLabels: { 'podlb.io/bgp': 'true' } },
      approval: { state: 'Approved', by: 'network-team:alice', reason: 'NETREQ-1234', time: '2026-11-22T10:00:00Z' },
      ...spec,
    },
  };
}

export function peerFixture(name = 'rack-r12-tor', spec: Partial<BGPPeer['spec']> = {}): BGPPeer {
  return {
    apiVersion: 'podlb.io/v1alpha1',
    kind: 'BGPPeer',
    metadata: { name },
    spec: {
      peerAddress: '172.31.0.1',
      peerASN: 65000,
      localASN: 64512,
      nodeSelector: { matchLabels: { 'topology.kubernetes.io/rack': 'r12' } },
      holdTimeSeconds: 90,
      keepaliveSeconds: 30,
      gracefulRestart: { enabled: true, restartTimeSeconds: 120 },
      ...spec,
    },
  };
}

export function secretFixture(name: string, key: string, value: string | Buffer, namespace = 'podlb-system'): Secret {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, data: { [key]: Buffer.from(value).toString('base64') } };
}
