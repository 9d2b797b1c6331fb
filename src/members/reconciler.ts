// The member reconciler: pairs desired members with what each load-balancer instance
// reports, by key, and applies removes and drains before adds. Only members whose names
// carry this node's prefix are ever listed or touched (design §4.2), and only per-member
// calls are made: never a full-pool replace.
import type { Logger } from 'pino';
import type { ObjectRef } from '../api/problem.js';
import { memberNamePrefix } from '../lb/naming.js';
import type { LbInstance, ObservedMember } from '../lb/provider.js';
import { errorMessage, PodlbError } from '../util/errors.js';
import type { LbClassModel } from './binding.js';
import type { MemberView } from './gates.js';
import { memberKey, type DesiredMember } from './plan.js';
import { DEFAULT_DRAIN_SECONDS } from './binding.js';

export interface ReconcileEvent {
  object: ObjectRef;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface InstanceStatus {
  className: string;
  id: string;
  reachable: boolean;
  lastError?: string;
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
  counts: { registered: number; healthy: number; draining: number };
  /** Earliest time (ms) the reconciler needs to run again: a drain window ends, a retry is due. */
  nextWakeAt?: number;
  events: ReconcileEvent[];
  /** Members added in this run (for the registration-latency metric and gate timing). */
  added: string[];
}

export interface MemberReconcilerOptions {
  nodeName: string;
  makeInstance: (address: string) => LbInstance;
  log: Logger;
  /** Retry backoff for an unreachable instance: base doubles per failure up to max, ±20% jitter. */
  backoff?: { baseMs: number; maxMs: number };
  random?: () => number;
}

interface InstanceState {
  inst: LbInstance;
  failures: number;
  nextRetryAt: number;
  lastError?: string;
  /** Backends in which we have seen or put our members: listed every run so we can GC them. */
  backends: Set<string>;
  missingBackends: string[];
  lastObserved: Map<string, ObservedMember>;
}

export class MemberReconciler {
  readonly #opts: MemberReconcilerOptions;
  readonly #prefix: string;
  /** className → address → state */
  readonly #instances = new Map<string, Map<string, InstanceState>>();
  /** instance id + member key → when we began draining it */
  readonly #drainStart = new Map<string, number>();
  /** member key → the last desired view of it, for the drain window of a member that vanished from the plan */
  readonly #lastDesired = new Map<string, DesiredMember>();
  /** Warnings already reported, so a broken Service is not an Event storm. */
  readonly #reported = new Set<string>();

  constructor(opts: MemberReconcilerOptions) {
    this.#opts = opts;
    this.#prefix = memberNamePrefix(opts.nodeName);
  }

  async reconcile(classes: ReadonlyMap<string, LbClassModel>, desired: readonly DesiredMember[], livePodIps: ReadonlySet<string>, now: number): Promise<MemberOutcome> {
    const out: MemberOutcome = { views: new Map(), details: new Map(), instances: [], counts: { registered: 0, healthy: 0, draining: 0 }, events: [], added: [] };
    for (const m of desired) this.#lastDesired.set(memberKey(m.backend, m.name), m);
    await this.#syncInstances(classes);

    // Per-instance truths, then folded into one view per member across the fleet.
    const perMember = new Map<string, { registered: number; healthy: number; unchecked: number; total: number }>();
    const wake = (t: number): void => {
      out.nextWakeAt = out.nextWakeAt === undefined ? t : Math.min(out.nextWakeAt, t);
    };

    await Promise.all(
      [...this.#instances].flatMap(([className, byAddr]) =>
        [...byAddr.values()].map(async (st) => {
          const mine = desired.filter((m) => m.className === className);
          for (const m of mine) {
            const k = memberKey(m.backend, m.name);
            const agg = perMember.get(k) ?? { registered: 0, healthy: 0, unchecked: 0, total: 0 };
            agg.total += 1;
            perMember.set(k, agg);
          }
          const result = await this.#reconcileInstance(className, st, mine, livePodIps, now, out, wake);
          for (const [k, v] of result) {
            const agg = perMember.get(k);
            if (!agg) continue;
            if (v.registered) agg.registered += 1;
            if (v.healthy) agg.healthy += 1;
            if (v.unchecked) agg.unchecked += 1;
          }
        }),
      ),
    );

    for (const [k, agg] of perMember) {
      out.views.set(k, { registered: agg.total > 0 && agg.registered === agg.total, healthy: agg.total > 0 && agg.healthy === agg.total, unchecked: agg.total > 0 && agg.unchecked === agg.total });
    }
    for (const m of desired) {
      const v = out.views.get(memberKey(m.backend, m.name));
      if (m.state === 'draining') out.counts.draining += 1;
      else if (v?.registered) {
        out.counts.registered += 1;
        if (v.healthy) out.counts.healthy += 1;
      }
    }
    // Forget the desired record of members that are neither desired nor observed any more.
    const observedKeys = new Set<string>();
    for (const byAddr of this.#instances.values()) for (const st of byAddr.values()) for (const k of st.lastObserved.keys()) observedKeys.add(k);
    const desiredKeys = new Set(desired.map((m) => memberKey(m.backend, m.name)));
    for (const k of this.#lastDesired.keys()) {
      if (desiredKeys.has(k) || observedKeys.has(k)) continue;
      this.#lastDesired.delete(k);
      // A member that is gone may come back (same Pod IP later): it gets its Events again.
      for (const r of this.#reported) if (r.includes(`|${k}|`)) this.#reported.delete(r);
    }
    return out;
  }

  /** The instances each class names; instances of classes that are gone are closed. */
  async #syncInstances(classes: ReadonlyMap<string, LbClassModel>): Promise<void> {
    for (const [className, cls] of classes) {
      const byAddr = this.#instances.get(className) ?? new Map<string, InstanceState>();
      for (const addr of cls.instances) {
        if (!byAddr.has(addr)) {
          byAddr.set(addr, { inst: this.#opts.makeInstance(addr), failures: 0, nextRetryAt: 0, backends: new Set(), missingBackends: [], lastObserved: new Map() });
        }
      }
      for (const [addr, st] of byAddr) {
        if (!cls.instances.includes(addr)) {
          byAddr.delete(addr);
          await st.inst.close().catch(() => undefined);
        }
      }
      this.#instances.set(className, byAddr);
    }
    // A class that vanished: its members stay in the LB (we cannot reach a class we no longer
    // know the address of); the gate planner releases the gates. Close the connections.
    for (const [className, byAddr] of this.#instances) {
      if (classes.has(className)) continue;
      for (const st of byAddr.values()) await st.inst.close().catch(() => undefined);
      this.#instances.delete(className);
    }
  }

  async #reconcileInstance(
    className: string,
    st: InstanceState,
    desired: readonly DesiredMember[],
    livePodIps: ReadonlySet<string>,
    now: number,
    out: MemberOutcome,
    wake: (t: number) => void,
  ): Promise<Map<string, MemberView>> {
    const views = new Map<string, MemberView>();
    const status: InstanceStatus = { className, id: st.inst.id, reachable: st.failures === 0, missingBackends: st.missingBackends, ...(st.lastError ? { lastError: st.lastError } : {}) };
    out.instances.push(status);
    if (now < st.nextRetryAt) {
      wake(st.nextRetryAt);
      return views;
    }
    const log = this.#opts.log.child({ lbClass: className, instance: st.inst.id });
    try {
      for (const m of desired) st.backends.add(m.backend);
      const listing = await st.inst.listMembers([...st.backends], this.#prefix);
      const observed = new Map<string, ObservedMember>();
      for (const o of listing.members) if (o.name.startsWith(this.#prefix)) observed.set(memberKey(o.backend, o.name), o);
      st.lastObserved = observed;
      for (const [k, o] of observed) {
        const list = out.details.get(k) ?? [];
        list.push({ instance: st.inst.id, admin: o.admin, health: o.health, detail: o.detail });
        out.details.set(k, list);
      }
      st.missingBackends = listing.missingBackends;
      status.missingBackends = listing.missingBackends;
      const missing = new Set(listing.missingBackends);
      for (const b of missing) if (!desired.some((m) => m.backend === b)) st.backends.delete(b);
      if (st.failures > 0) {
        log.info('load balancer instance reachable again');
        out.events.push({ object: classObj(className), type: 'Normal', reason: 'LoadBalancerReachable', message: `Instance ${st.inst.id} is reachable again` });
      }
      st.failures = 0;
      st.nextRetryAt = 0;
      delete st.lastError;
      status.reachable = true;
      delete status.lastError;

      const desiredByKey = new Map(desired.map((m) => [memberKey(m.backend, m.name), m]));
      const drainKey = (k: string): string => `${st.inst.id}|${k}`;

      // 1. Members we own that should go: drain, then remove when the window ends or the Pod is gone.
      for (const [k, o] of observed) {
        const want = desiredByKey.get(k);
        if (want?.state === 'active') continue;
        const podGone = !livePodIps.has(o.address);
        const drainSeconds = (want ?? this.#lastDesired.get(k))?.drainSeconds ?? DEFAULT_DRAIN_SECONDS;
        if (o.admin === 'ready' && !podGone && drainSeconds > 0) {
          await st.inst.drainMember(o.backend, o.name);
          this.#drainStart.set(drainKey(k), now);
          log.info({ member: o.name, backend: o.backend, drainSeconds }, 'member draining');
          const d = want ?? this.#lastDesired.get(k);
          if (d) this.#reportOnce(out, `drain|${k}|${d.pod.uid}`, { object: podObj(d), type: 'Normal', reason: 'MemberDraining', message: `Draining ${o.address}:${o.port} in ${o.backend} (no new connections); removed after ${drainSeconds}s or when the Pod is gone` });
          wake(now + drainSeconds * 1000);
          continue;
        }
        const started = this.#drainStart.get(drainKey(k)) ?? now;
        if (!this.#drainStart.has(drainKey(k))) this.#drainStart.set(drainKey(k), started); // adopted mid-drain after a restart
        const deadline = started + drainSeconds * 1000;
        if (podGone || now >= deadline || drainSeconds === 0) {
          await st.inst.removeMember(o.backend, o.name);
          this.#drainStart.delete(drainKey(k));
          observed.delete(k);
          log.info({ member: o.name, backend: o.backend, reason: podGone ? 'podGone' : 'drainWindowEnded' }, 'member removed');
          const d = want ?? this.#lastDesired.get(k);
          if (d && !podGone) this.#reportOnce(out, `remove|${k}|${d.pod.uid}`, { object: podObj(d), type: 'Normal', reason: 'MemberRemoved', message: `Removed ${o.address}:${o.port} from ${o.backend} after the ${drainSeconds}s drain window` });
        } else {
          wake(deadline);
        }
      }

      // 2. Members that should take traffic: re-enable a drained one, add a missing one.
      const toAdd: DesiredMember[] = [];
      for (const [k, m] of desiredByKey) {
        if (m.state !== 'active') continue;
        const o = observed.get(k);
        if (o) {
          if (o.admin !== 'ready') {
            await st.inst.enableMember(o.backend, o.name);
            this.#drainStart.delete(drainKey(k));
            log.info({ member: o.name }, 'member enabled again');
          }
          views.set(k, { registered: true, healthy: o.health === 'healthy', unchecked: o.health === 'unchecked' });
        } else if (m.keepOnly) {
          continue; // not ready by its own readiness: kept if registered, never added
        } else if (missing.has(m.backend)) {
          this.#reportOnce(out, `missing|${st.inst.id}|${m.backend}`, {
            object: { apiVersion: 'v1', kind: 'Service', namespace: m.service.namespace, name: m.service.name },
            type: 'Warning',
            reason: 'BackendNotFound',
            message: `Backend ${JSON.stringify(m.backend)} does not exist on load balancer ${st.inst.id} (class ${className}); fix the podlb.io/backend annotation or the load balancer configuration`,
          });
        } else {
          toAdd.push(m);
        }
      }
      await Promise.all(
        toAdd.map(async (m) => {
          const k = memberKey(m.backend, m.name);
          try {
            await st.inst.addMember({ backend: m.backend, name: m.name, address: m.address, port: m.port, ...(m.healthCheck ? { healthCheck: m.healthCheck } : {}) });
            views.set(k, { registered: true, healthy: false });
            out.added.push(k);
            this.#reportOnce(out, `add|${k}|${m.pod.uid}`, { object: podObj(m), type: 'Normal', reason: 'MemberRegistered', message: `Registered ${m.address}:${m.port} in ${m.backend} (class ${className}); the readiness gate turns True when every instance reports it healthy` });
            log.info({ member: m.name, backend: m.backend, pod: `${m.pod.namespace}/${m.pod.name}` }, 'member added');
          } catch (err) {
            if (err instanceof PodlbError && err.transient) throw err;
            this.#reportOnce(out, `add|${st.inst.id}|${k}|${errorMessage(err)}`, {
              object: { apiVersion: 'v1', kind: 'Service', namespace: m.service.namespace, name: m.service.name },
              type: 'Warning',
              reason: 'MemberRegistrationFailed',
              message: `Could not add ${m.address}:${m.port} to backend ${m.backend} on ${st.inst.id}: ${errorMessage(err)}`,
            });
          }
        }),
      );
      // A member already draining is still registered for the purpose of counts.
      for (const [k, m] of desiredByKey) if (m.state === 'draining' && observed.has(k)) views.set(k, { registered: true, healthy: false });
    } catch (err) {
      st.failures += 1;
      const { baseMs, maxMs } = this.#opts.backoff ?? { baseMs: 500, maxMs: 30_000 };
      const delay = Math.min(maxMs, baseMs * 2 ** (st.failures - 1)) * (0.8 + 0.4 * (this.#opts.random ?? Math.random)());
      st.nextRetryAt = now + delay;
      st.lastError = errorMessage(err);
      status.reachable = false;
      status.lastError = st.lastError;
      wake(st.nextRetryAt);
      log.warn({ err: st.lastError, failures: st.failures, retryInMs: Math.round(delay) }, 'load balancer instance call failed');
      if (st.failures === 1) {
        out.events.push({ object: classObj(className), type: 'Warning', reason: 'LoadBalancerUnreachable', message: `Instance ${st.inst.id}: ${st.lastError}; retrying with backoff, registered members are kept` });
      }
      // Keep reporting what we knew, so a blip does not flip gates or counts.
      for (const m of desired) {
        const o = st.lastObserved.get(memberKey(m.backend, m.name));
        if (o) views.set(memberKey(m.backend, m.name), { registered: true, healthy: o.health === 'healthy', unchecked: o.health === 'unchecked' });
      }
    }
    return views;
  }

  #reportOnce(out: MemberOutcome, key: string, ev: ReconcileEvent): void {
    if (this.#reported.has(key)) return;
    this.#reported.add(key);
    out.events.push(ev);
  }

  async close(): Promise<void> {
    for (const byAddr of this.#instances.values()) for (const st of byAddr.values()) await st.inst.close().catch(() => undefined);
    this.#instances.clear();
  }
}

function podObj(m: DesiredMember): ObjectRef {
  return { apiVersion: 'v1', kind: 'Pod', namespace: m.pod.namespace, name: m.pod.name, uid: m.pod.uid };
}

function classObj(name: string): ObjectRef {
  return { apiVersion: 'podlb.io/v1alpha1', kind: 'LoadBalancerClass', name };
}
