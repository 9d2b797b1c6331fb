// What one run of the member reconciler reports: per member, the folded view and what each
// load-balancer instance said; per instance, whether it answered; and the Events and wake-up
// time the run asks for. Consumed by the agent (status, metrics, readiness gates).
import type { ObjectRef } from '../api/problem.js';
import type { EventToRecord } from '../kube/events.js';
import type { MemberView } from './gates.js';
import type { DesiredMember } from './plan.js';

export interface InstanceStatus {
  className: string;
  /** The instance's id (LbInstanceRef.id): never its credentials version. */
  id: string;
  reachable: boolean;
  lastError?: string;
  /** errorCode() of the last failure: a bounded metric label. */
  code?: string;
  missingBackends: string[];
}

/** One member as one load-balancer instance reports it (status, `kubectl podlb explain`). */
export interface InstanceMemberState {
  instance: string;
  admin: string;
  health: string;
  detail: string;
}

export interface MemberOutcome {
  views: Map<string, MemberView>;
  /** Per member key, what each instance reported in this run (instances not read are absent). */
  details: Map<string, InstanceMemberState[]>;
  instances: InstanceStatus[];
  /** registered and healthy: members taking traffic (or about to); warming: registered, taking none yet. */
  counts: { registered: number; healthy: number; draining: number; warming: number };
  /** Earliest time (ms) the reconciler needs to run again: a drain window ends, a retry is due. */
  nextWakeAt?: number;
  events: EventToRecord[];
  /** Members added in this run (for the registration-latency metric and gate timing). */
  added: string[];
}

/** The Pod an Event about a member is on. */
export function podObj(m: DesiredMember): ObjectRef {
  return { apiVersion: 'v1', kind: 'Pod', namespace: m.pod.namespace, name: m.pod.name, uid: m.pod.uid };
}

/** The Service an Event about a backend is on. */
export function serviceObj(m: DesiredMember): ObjectRef {
  return { apiVersion: 'v1', kind: 'Service', namespace: m.service.namespace, name: m.service.name };
}

/** The Event on a member's Pod once every instance has it: a warming one says it takes no traffic yet. */
export function registeredEvent(m: DesiredMember, className: string): EventToRecord {
  const where = `${m.address}:${m.port} in ${m.backend} (class ${className})`;
  return {
    object: podObj(m),
    type: 'Normal',
    reason: 'MemberRegistered',
    message:
      m.state === 'warming'
        ? `Registered ${where} taking no traffic, health-checked while the Pod starts; it takes traffic once the containers are ready and every instance reports it healthy`
        : `Registered ${where}; the readiness gate turns True when every instance reports it healthy`,
  };
}
