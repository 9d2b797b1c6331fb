// What the controller's caches keep of the two cluster-wide collections its leader reads for the
// Octavia batch writer (octavia-batch-plan.ts runs the agents' planner once per node), and which
// of their changes are worth a leader pass. The planners (members/plan.ts via planClusterMembers)
// read:
// - of a Pod: name, namespace, uid, deletionTimestamp; spec.nodeName and readinessGates; of its
//   status the addresses (podIP, podIPs) and each condition's type and status. Containers,
//   labels, managedFields and the rest of status are never read: they are most of a Pod's bytes.
// - of an EndpointSlice: what the agent keeps (agent/cache-view.ts), but of every node.
// The proof is cache-view.test.ts: the planner runs over transformed objects that throw when a
// dropped field is read, and must plan what it plans over the full objects.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { EndpointSlice, Pod } from '../api/types.js';
import { pickMeta, sameView, sliceTransform } from '../agent/cache-view.js';
import type { WireObject } from '../kube/wire.js';

export function podTransform(raw: WireObject): Pod & KubernetesObject {
  const r = raw as unknown as Partial<Pod>;
  const spec = r.spec ?? ({} as Pod['spec']);
  const status = r.status;
  return {
    ...(r.apiVersion !== undefined ? { apiVersion: r.apiVersion } : {}),
    ...(r.kind !== undefined ? { kind: r.kind } : {}),
    metadata: pickMeta(r.metadata as unknown as Record<string, unknown>),
    spec: {
      ...(spec.nodeName !== undefined ? { nodeName: spec.nodeName } : {}),
      ...(spec.readinessGates !== undefined ? { readinessGates: spec.readinessGates.map((g) => ({ conditionType: g.conditionType })) } : {}),
    },
    ...(status !== undefined
      ? {
          status: {
            ...(status.podIP !== undefined ? { podIP: status.podIP } : {}),
            ...(status.podIPs !== undefined ? { podIPs: status.podIPs.map((ip) => ({ ip: ip.ip })) } : {}),
            ...(status.conditions !== undefined ? { conditions: status.conditions.map((c) => ({ type: c.type, status: c.status })) } : {}),
          },
        }
      : {}),
  } as unknown as Pod & KubernetesObject;
}

/** Every endpoint of every node: the leader plans each node's members. */
export const clusterSliceTransform: (raw: WireObject) => EndpointSlice & KubernetesObject = sliceTransform();

/** A change matters only if the planners can see it (a condition's probe time, a label: no pass). */
export function viewChanged<T extends { metadata: { resourceVersion?: string } }>(before: T | undefined, after: T | undefined): boolean {
  return !before || !after || !sameView(before, after);
}
