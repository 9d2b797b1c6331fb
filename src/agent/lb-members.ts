// Load-balancer members of this node's Pods: the member plan from the snapshot, handed to the
// MemberReconciler (which pairs it with what every instance reports), plus the latency metrics
// and the `members`/`lb` part of status. The gates reconciler reads this run's outcome.
import type { Logger } from 'pino';
import type { Pod, PodLBNode } from '../api/types.js';
import { LB_IN_ERROR, type LbInstance, type LbInstanceRef } from '../lb/provider.js';
import type { LbClassModel } from '../members/binding.js';
import { memberKey, planMembers, podIps, type MemberPlan } from '../members/plan.js';
import { MemberReconciler, type MemberOutcome } from '../members/reconciler.js';
import type { Reconciler, ReconcileResult } from '../reconcile/reconciler.js';
import type { LbInstanceFactory } from './lb-instances.js';
import type { AgentMetrics } from './metrics.js';
import type { NodeStatusContribution } from './node-status.js';
import type { AgentSnapshot } from './snapshot.js';

/** Members listed in PodLBNode status (counts always cover all of them). */
export const MAX_STATUS_MEMBERS = 500;

/** This run's members: what was planned and what the load balancers said. */
export interface MembersRun {
  at: number;
  plan: MemberPlan;
  outcome: MemberOutcome;
}

export interface LbMembersOptions {
  nodeName: string;
  factory: Pick<LbInstanceFactory, 'instancesOf'>;
  makeInstance: (ref: LbInstanceRef, cls: LbClassModel) => LbInstance;
  log: Logger;
  metrics: AgentMetrics;
  random: () => number;
  /**
   * While this node has members, its instances are read at least this often: a restarted
   * instance has lost its dynamic servers and is refilled within it. Undefined: only when signalled.
   */
  instanceCheckMs?: number;
  /** Pods (uid) whose gate True this agent has written and the cache does not show yet (ReadinessGatesReconciler.gateOpened). */
  gateOpened?: (uid: string) => boolean;
}

/** What this agent knows of a member it added, kept while the member is planned. */
interface AddedMember {
  /** performance.now() when every instance acknowledged the add. */
  addedAt: number;
  /** Its registration latency was observed (once per member). */
  registrationObserved: boolean;
  /** It was seen healthy on every instance since (logged once). */
  seenHealthy: boolean;
}

type LbStatus = NonNullable<NonNullable<PodLBNode['status']>['lb']>;

/** Bounded, so a node with thousands of Pods keeps a small status object. */
export function lbStatus(plan: MemberPlan, outcome: MemberOutcome): LbStatus {
  // A member kept only if registered, and not registered, is no member to report.
  const members = plan.members
    .filter((m) => !m.keepOnly || outcome.details.has(memberKey(m.backend, m.name)))
    .sort((a, b) => a.name.localeCompare(b.name) || a.backend.localeCompare(b.backend))
    .map((m) => ({
      name: m.name,
      backend: m.backend,
      pod: `${m.pod.namespace}/${m.pod.name}`,
      state: m.state,
      instances: (outcome.details.get(memberKey(m.backend, m.name)) ?? []).map((d) => ({
        instance: d.instance,
        admin: d.admin,
        health: d.health,
        detail: d.detail.slice(0, 256),
      })),
    }));
  return {
    instances: outcome.instances.map((x) => ({
      class: x.className,
      id: x.id,
      reachable: x.reachable,
      ...(x.lastError ? { lastError: x.lastError.slice(0, 500) } : {}),
    })),
    members: members.slice(0, MAX_STATUS_MEMBERS),
    ...(members.length > MAX_STATUS_MEMBERS ? { truncated: true } : {}),
  };
}

export class LbMembersReconciler implements Reconciler<AgentSnapshot, NodeStatusContribution> {
  readonly name = 'members';
  readonly #o: LbMembersOptions;
  readonly #members: MemberReconciler;
  /**
   * Latency histograms use this process's monotonic clock (performance.now()), never an API
   * timestamp: lastTransitionTime has a resolution of one second and another machine's clock.
   * The members this agent added, by key (readiness latency), and when this agent first saw each
   * Pod's (uid) ContainersReady=True (registration latency).
   */
  readonly #added = new Map<string, AddedMember>();
  readonly #containersReadySeenAt = new Map<string, number>();
  #current: MembersRun | undefined;

  constructor(o: LbMembersOptions) {
    this.#o = o;
    this.#members = new MemberReconciler({
      nodeName: o.nodeName,
      makeInstance: o.makeInstance,
      instancesOf: (cls) => o.factory.instancesOf(cls),
      log: o.log,
      random: o.random,
    });
  }

  /** The last completed run; compare `at` with the run's time before trusting it. */
  get current(): MembersRun | undefined {
    return this.#current;
  }

  /** performance.now() when this agent added the member (undefined: not added by this agent). */
  addedAt(key: string): number | undefined {
    return this.#added.get(key)?.addedAt;
  }

  /** performance.now() when this agent first saw the Pod's ContainersReady True. */
  containersReadyAt(podUid: string): number | undefined {
    return this.#containersReadySeenAt.get(podUid);
  }

  async close(): Promise<void> {
    await this.#members.close();
  }

  async reconcile(s: AgentSnapshot, now: number): Promise<ReconcileResult<NodeStatusContribution>> {
    this.#current = undefined;
    this.#noteContainersReady(s.pods, s.observedAt);
    const plan = planMembers({
      nodeName: s.nodeName,
      pods: s.pods,
      services: s.services,
      endpointSlices: s.slices,
      ...(s.slicesOf ? { slicesOf: s.slicesOf } : {}),
      ...(s.firstNodeOf ? { firstNodeOf: s.firstNodeOf } : {}),
      classes: s.classes,
      ...(this.#o.gateOpened ? { gateOpened: this.#o.gateOpened } : {}),
    });
    const livePodIps = new Set(s.pods.flatMap((p) => [...podIps(p)]));
    this.#o.log.debug({ members: plan.members.length }, 'run: members');
    const outcome = await this.#members.reconcile(plan.classes, plan.members, livePodIps, now);
    this.#recordMetrics(plan, outcome, performance.now());
    this.#current = { at: now, plan, outcome };
    const unreachable = outcome.instances.filter((x) => !x.reachable);
    // A node without members has nothing an instance restart could take away: no timer.
    const hasMembers = plan.members.length > 0 || outcome.counts.registered > 0 || outcome.counts.draining > 0;
    const check = hasMembers && this.#o.instanceCheckMs !== undefined ? now + this.#o.instanceCheckMs : undefined;
    const nextWakeAt = Math.min(outcome.nextWakeAt ?? Infinity, check ?? Infinity);
    return {
      ...(Number.isFinite(nextWakeAt) ? { nextWakeAt } : {}),
      events: outcome.events,
      problems: plan.problems,
      status: {
        fields: { members: outcome.counts, lb: lbStatus(plan, outcome) },
        conditions: [
          unreachable.length > 0
            ? {
                type: 'LoadBalancerReachable',
                status: 'False',
                // An LB in ERROR answers, but refuses every change until an operator repairs it.
                reason: unreachable.some((x) => x.code === LB_IN_ERROR) ? 'LoadBalancerError' : 'InstanceUnreachable',
                message: unreachable.map((x) => `${x.id}: ${x.lastError ?? 'unreachable'}`).join('; '),
              }
            : { type: 'LoadBalancerReachable', status: 'True', reason: 'Reachable', message: `${outcome.instances.length} instance(s) reachable` },
        ],
      },
    };
  }

  /** Remembers when this agent first saw each Pod's containers ready (again, after they were not). */
  #noteContainersReady(pods: readonly Pod[], observedAt: number): void {
    const live = new Set<string>();
    for (const p of pods) {
      const uid = p.metadata.uid ?? '';
      if (p.status?.conditions?.some((c) => c.type === 'ContainersReady' && c.status === 'True')) {
        live.add(uid);
        if (!this.#containersReadySeenAt.has(uid)) this.#containersReadySeenAt.set(uid, observedAt);
      }
    }
    for (const uid of this.#containersReadySeenAt.keys()) if (!live.has(uid)) this.#containersReadySeenAt.delete(uid);
  }

  /** `addedAt`: performance.now() when the run's adds were acknowledged by every instance. */
  #recordMetrics(plan: MemberPlan, outcome: MemberOutcome, addedAt: number): void {
    const m = this.#o.metrics;
    m.members.set({ state: 'registered' }, outcome.counts.registered);
    m.members.set({ state: 'healthy' }, outcome.counts.healthy);
    m.members.set({ state: 'draining' }, outcome.counts.draining);
    m.members.set({ state: 'warming' }, outcome.counts.warming);
    for (const inst of outcome.instances) m.lbInstanceUp.set({ class: inst.className, instance: inst.id }, inst.reachable ? 1 : 0);
    for (const code of new Set(outcome.instances.filter((x) => !x.reachable).map((x) => x.code ?? 'Unknown')))
      m.reconcileErrors.inc({ component: 'members', code });
    // A member is added once per instance of the fleet; it is one registration.
    for (const key of outcome.added) if (!this.#added.has(key)) this.#added.set(key, { addedAt, registrationObserved: false, seenHealthy: false });
    // Observed once both ends are known: a member pre-registered while its Pod started was
    // there when the containers became ready, a latency of 0.
    for (const member of plan.members) {
      const key = memberKey(member.backend, member.name);
      const added = this.#added.get(key);
      const since = this.#containersReadySeenAt.get(member.pod.uid);
      if (added === undefined || since === undefined || added.registrationObserved) continue;
      added.registrationObserved = true;
      const ms = Math.max(0, added.addedAt - since);
      m.registrationSeconds.observe(ms / 1000);
      this.#o.log.info(
        { member: member.name, pod: `${member.pod.namespace}/${member.pod.name}`, registrationMs: Math.round(ms * 10) / 10 },
        'member registered',
      );
    }
    // When a member added here is first seen healthy on every instance: the LB's part of a gate's latency.
    for (const [key, view] of outcome.views) {
      const added = this.#added.get(key);
      if (!view.healthy || added === undefined || added.seenHealthy) continue;
      added.seenHealthy = true;
      this.#o.log.debug({ member: key, sinceAddedMs: Math.round(addedAt - added.addedAt) }, 'member healthy on every instance');
    }
    const live = new Set(plan.members.map((x) => memberKey(x.backend, x.name)));
    for (const k of this.#added.keys()) if (!live.has(k)) this.#added.delete(k);
  }
}
