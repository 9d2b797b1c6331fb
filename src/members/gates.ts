// The readiness-gate planner (design §4.3): pure, from the member plan, what the load
// balancers report, and `now`, to the condition each gated Pod on this node should carry.
import { READINESS_GATE, type GateReason, type Pod } from '../api/types.js';
import type { BindingResult } from './binding.js';
import { serviceSelects } from '../util/label-selector.js';
import { conditionStatus, hasOurGate, isLive, isTerminating, memberKey, type DesiredMember, type MemberPlan, type PodKey } from './plan.js';

/** What the load balancers say of one member, over every instance of its class. */
export interface MemberView {
  /** Present on every instance of the class. */
  registered: boolean;
  /** Passed a completed health check on every instance. */
  healthy: boolean;
  /**
   * Every instance says the member has no health check (HAProxy server without `check`, an
   * Octavia pool without a monitor): readiness then follows `withoutHealthCheck`. Decided
   * from what the load balancer reports, not from the class, because an Octavia pool
   * carries its own monitor.
   */
  unchecked?: boolean;
}

export interface GateDecision {
  pod: PodKey;
  status: 'True' | 'False';
  reason: GateReason;
  message: string;
  event?: { type: 'Normal' | 'Warning'; reason: string; message: string };
}

export interface GatePlan {
  decisions: GateDecision[];
  /** Earliest time (ms) a fail-safe timeout fires, so the loop wakes for it. */
  nextDeadline?: number;
}

function parseTime(t: string | undefined): number | undefined {
  if (!t) return undefined;
  const v = Date.parse(t);
  return Number.isNaN(v) ? undefined : v;
}

function bindingsFor(pod: Pod, bindings: readonly BindingResult[]): BindingResult[] {
  const ns = pod.metadata.namespace ?? 'default';
  return bindings.filter((b) => {
    const namespace = b.kind === 'bound' ? b.binding.namespace : b.namespace;
    const selector = b.kind === 'bound' ? b.binding.selector : b.selector;
    return namespace === ns && serviceSelects(selector, pod.metadata.labels);
  });
}

/** A member counts toward readiness when healthy, or registered and the class says not to wait. */
function memberSatisfied(view: MemberView | undefined, withoutHealthCheck: 'Immediate' | 'Never'): boolean {
  if (!view?.registered) return false;
  if (view.healthy) return true;
  return view.unchecked === true && withoutHealthCheck === 'Immediate';
}

export function planGates(pods: readonly Pod[], plan: MemberPlan, views: ReadonlyMap<string, MemberView>, now: number): GatePlan {
  const decisions: GateDecision[] = [];
  let nextDeadline: number | undefined;
  const membersByPod = new Map<string, DesiredMember[]>();
  for (const m of plan.members) {
    if (!isLive(m) || m.keepOnly) continue;
    const list = membersByPod.get(m.pod.uid) ?? [];
    list.push(m);
    membersByPod.set(m.pod.uid, list);
  }

  for (const pod of pods) {
    if (!hasOurGate(pod) || isTerminating(pod)) continue;
    const current = pod.status?.conditions?.find((c) => c.type === READINESS_GATE);
    if (current?.status === 'True') continue; // latched: the Pod's own probes cover later failures
    const key: PodKey = { namespace: pod.metadata.namespace ?? 'default', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' };
    const want = (status: 'True' | 'False', reason: GateReason, message: string, event?: GateDecision['event']): void => {
      if (current?.status === status && current.reason === reason) return; // no-op write skipped
      decisions.push({ pod: key, status, reason, message, ...(event ? { event } : {}) });
    };

    const related = bindingsFor(pod, plan.bindings);
    const bound = related.filter((b): b is Extract<BindingResult, { kind: 'bound' }> => b.kind === 'bound');
    if (bound.length === 0) {
      // Malformed annotations keep the last good state; only a real opt-out or a missing
      // class releases the gate, so that no Pod hangs on a binding that no longer exists.
      if (related.some((b) => b.kind === 'invalid')) continue;
      want('True', 'LoadBalancerBindingRemoved', 'No opted-in Service with an existing LoadBalancerClass selects this Pod; gate released', {
        type: 'Normal',
        reason: 'LoadBalancerBindingRemoved',
        message: 'No podlb load balancer binding selects this Pod any more; readiness gate released',
      });
      continue;
    }

    // Fail-safe: counted from the later of ContainersReady and the gate going False. A member
    // registered before its containers were ready (pre-registration) set the gate False early:
    // the app's start-up time is not the load balancer's to answer for.
    const timeouts = bound.map((b) => b.lbClass.timeoutSeconds).filter((t) => t > 0);
    const containersReady = conditionStatus(pod, 'ContainersReady') === 'True';
    if (timeouts.length > 0 && containersReady) {
      const times = [
        current?.status === 'False' ? parseTime(current.lastTransitionTime) : undefined,
        parseTime(pod.status?.conditions?.find((c) => c.type === 'ContainersReady')?.lastTransitionTime),
      ].filter((t): t is number => t !== undefined);
      const since = times.length > 0 ? Math.max(...times) : undefined;
      if (since !== undefined) {
        const deadline = since + Math.min(...timeouts) * 1000;
        if (now >= deadline) {
          const msg = `Load balancer did not report the Pod healthy within ${Math.min(...timeouts)}s; gate set True by the fail-safe`;
          want('True', 'ReadinessTimeout', msg, { type: 'Warning', reason: 'ReadinessTimeout', message: msg });
          continue;
        }
        nextDeadline = nextDeadline === undefined ? deadline : Math.min(nextDeadline, deadline);
      }
    }

    const members = membersByPod.get(key.uid) ?? [];
    if (members.length === 0) continue; // not an endpoint yet: nothing registered, nothing to say
    const registered = members.filter((m) => views.get(memberKey(m.backend, m.name))?.registered);
    if (registered.length === 0) continue;
    const withoutHc = (m: DesiredMember): 'Immediate' | 'Never' =>
      bound.find((b) => b.binding.className === m.className)?.lbClass.withoutHealthCheck ?? 'Immediate';
    const satisfied = members.filter((m) => memberSatisfied(views.get(memberKey(m.backend, m.name)), withoutHc(m)));
    if (satisfied.length === members.length && !containersReady && members.some((m) => m.state === 'warming')) {
      // Pre-registered and already healthy: the gate waits for the Pod's own readiness.
      want(
        'False',
        'RegistrationInProgress',
        `${members.length}/${members.length} members healthy on every load balancer instance; waiting for ContainersReady`,
      );
    } else if (satisfied.length === members.length) {
      const checked = members.some((m) => !views.get(memberKey(m.backend, m.name))?.unchecked);
      want(
        'True',
        checked ? 'LoadBalancerHealthy' : 'LoadBalancerRegistered',
        checked
          ? `Healthy in ${members.map((m) => m.backend).join(', ')} on every load balancer instance`
          : `Registered in ${members.map((m) => m.backend).join(', ')} (no health check configured)`,
        {
          type: 'Normal',
          reason: checked ? 'LoadBalancerHealthy' : 'LoadBalancerRegistered',
          message: `Member ready in ${members.map((m) => m.backend).join(', ')}`,
        },
      );
    } else {
      want('False', 'RegistrationInProgress', `${satisfied.length}/${members.length} members healthy on every load balancer instance`);
    }
  }
  return { decisions, ...(nextDeadline !== undefined ? { nextDeadline } : {}) };
}
