// The Pod status a 1.32 kubelet derives from a Pod object alone: its conditions (Ready from
// ContainersReady and the readiness gates), its termination timings (preStop sleep, grace
// period) and the wire form of the timestamps it writes. Pure functions, apart from the
// LabKubelet that runs processes, so they can be tested without a lab.
import { transitionTime } from '../api/conditions.js';
import type { Condition, Pod } from '../api/types.js';

/**
 * metav1.Time goes over the wire as RFC 3339 with whole seconds (client-go's encoding), so
 * every timestamp the kubelet writes has a resolution of one second.
 */
export function apiNow(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

export const cond = (pod: Pod, t: string): string | undefined => pod.status?.conditions?.find((c) => c.type === t)?.status;

export function podReady(pod: Pod): boolean {
  if (cond(pod, 'ContainersReady') !== 'True') return false;
  return (pod.spec.readinessGates ?? []).every((g) => cond(pod, g.conditionType) === 'True');
}

export function preStopSeconds(pod: Pod): number {
  const c = pod.spec.containers[0] as { lifecycle?: { preStop?: { sleep?: { seconds?: number } } } } | undefined;
  return c?.lifecycle?.preStop?.sleep?.seconds ?? 0;
}

export function gracePeriodSeconds(pod: Pod): number {
  const m = pod.metadata as { deletionGracePeriodSeconds?: number };
  return m.deletionGracePeriodSeconds ?? (pod.spec as { terminationGracePeriodSeconds?: number }).terminationGracePeriodSeconds ?? 30;
}

/**
 * The Ready condition for containers in `containersReady` state and the Pod's gates. As the
 * kubelet's status manager does, lastTransitionTime stays when Ready keeps its status (a new
 * reason is not a transition).
 */
export function readyCondition(pod: Pod, containersReady: boolean, now: string): Condition {
  const at = (status: Condition['status']): string => transitionTime(pod.status?.conditions, 'Ready', status, now);
  if (!containersReady)
    return {
      type: 'Ready',
      status: 'False',
      lastTransitionTime: at('False'),
      reason: 'ContainersNotReady',
      message: `containers with unready status: [${pod.spec.containers.map((c) => c.name).join(' ')}]`,
    };
  const draft: Pod = {
    ...pod,
    status: {
      ...pod.status,
      conditions: [...(pod.status?.conditions ?? []).filter((c) => c.type !== 'ContainersReady'), { type: 'ContainersReady', status: 'True' }],
    },
  };
  if (podReady(draft))
    return { type: 'Ready', status: 'True', lastTransitionTime: at('True'), reason: null as unknown as string, message: null as unknown as string };
  return {
    type: 'Ready',
    status: 'False',
    lastTransitionTime: at('False'),
    reason: 'ReadinessGatesNotReady',
    message: 'corresponding condition of pod readiness gate is not True',
  };
}
