// Objects shaped like design §3's examples, for tests, goldens and the bench.
import type { BGPPeer, Node, PodAddressPool, Secret } from '../src/api/types.js';
import { approvePool } from '../src/bgp/approval.js';

export function nodeFixture(over: { name?: string; labels?: Record<string, string>; podCIDRs?: string[]; internalIP?: string | null } = {}): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: over.name ?? 'node-a', labels: over.labels ?? { 'podlb.io/bgp': 'true', 'topology.kubernetes.io/rack': 'r12' } },
    spec: { podCIDRs: over.podCIDRs ?? ['10.244.1.0/24'] },
    status: {
      addresses: over.internalIP === null ? [{ type: 'Hostname', address: 'node-a' }] : [{ type: 'InternalIP', address: over.internalIP ?? '172.31.0.2' }],
    },
  };
}

/** The network team's decision the fixtures record (design §3's example). */
export const FIXTURE_APPROVAL = { by: 'network-team:alice', reason: 'NETREQ-1234', time: '2026-11-22T10:00:00Z' } as const;

/** `pool` Approved as it is now, with the digests `kubectl podlb approve` records. */
export function approved<T extends PodAddressPool>(pool: T, decision: { by: string; reason: string; time: string } = FIXTURE_APPROVAL): T {
  return approvePool(pool, decision);
}

/**
 * Approved with its final content unless `spec.approval` is given, which is then kept as given
 * (a Pending pool, or an approval made stale on purpose).
 */
export function poolFixture(name = 'tokyo-pods', spec: Partial<PodAddressPool['spec']> = {}): PodAddressPool {
  const pool: PodAddressPool = {
    apiVersion: 'podlb.io/v1alpha1',
    kind: 'PodAddressPool',
    metadata: { name },
    spec: {
      cidrs: ['10.244.0.0/16', 'fd00:244::/56'],
      advertise: 'NodeCIDR',
      nodeSelector: { matchLabels: { 'podlb.io/bgp': 'true' } },
      ...spec,
    },
  };
  return 'approval' in spec ? pool : approved(pool);
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
