// The member reconciler: for every load-balancer instance of every class, observe this node's
// members on it, diff them with the desired ones (diff.ts), apply the actions with the
// provider's executor (execute.ts), and fold what every instance said into one view per
// member. Only members whose names carry this node's prefix are ever listed or touched
// (design §4.2), and only per-member calls are made: never a full-pool replace.
import type { Logger } from 'pino';
import type { EventToRecord } from '../kube/events.js';
import { memberNamePrefix } from '../lb/naming.js';
import { instanceRefKey, LB_CREDENTIALS_REFUSED, LB_IN_ERROR, type LbInstance, type LbInstanceRef, type ObservedMember } from '../lb/provider.js';
import { backoff, type BackoffPolicy } from '../util/backoff.js';
import { errorCode, errorMessage, PodlbError } from '../util/errors.js';
import { classRef, type LbClassModel } from './binding.js';
import { diffMembers, instanceViews, lastKnownViews, withoutBatchWrites, type MemberAction } from './diff.js';
import { executors } from './execute.js';
import type { MemberView } from './gates.js';
import { defaultInstanceRefs, type InstanceState, type Run } from './instance-state.js';
import { newObservation, observe } from './observe.js';
import { podObj, registeredEvent, serviceObj, type InstanceStatus, type MemberOutcome } from './outcome.js';
import { memberKey, type DesiredMember } from './plan.js';
import { MemberRepairs } from './repairs.js';

// The outcome types live in outcome.ts; re-exported because the agent reads them from here.
export type { InstanceMemberState, InstanceStatus, MemberOutcome } from './outcome.js';

export interface MemberReconcilerOptions {
  nodeName: string;
  /** A client for one instance; asked again when the instance's ref changes (rotated credentials). */
  makeInstance: (ref: LbInstanceRef, cls: LbClassModel) => LbInstance;
  /** The instances of a class as they stand now. Default: its instance ids, nothing versioned. */
  instancesOf?: (cls: LbClassModel) => LbInstanceRef[];
  log: Logger;
  /** Retry backoff for an unreachable instance. */
  backoff?: BackoffPolicy;
  /** Backoff between repairs of a member the LB keeps failing to program. */
  repairBackoff?: BackoffPolicy;
  random?: () => number;
}

const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 30_000 };

export class MemberReconciler {
  readonly #opts: MemberReconcilerOptions;
  readonly #prefix: string;
  /** className → instanceRefKey → state */
  readonly #instances = new Map<string, Map<string, InstanceState>>();
  /** instance id → member key → when we began draining it (kept across client changes) */
  readonly #drainStart = new Map<string, Map<string, number>>();
  /** member key → the last desired view of it, for the drain window of a member that vanished from the plan */
  readonly #lastDesired = new Map<string, DesiredMember>();
  /** Events already reported, so a broken Service is not an Event storm. */
  readonly #reported = new Set<string>();
  readonly #repairs: MemberRepairs;

  constructor(opts: MemberReconcilerOptions) {
    this.#opts = opts;
    this.#repairs = new MemberRepairs(opts.repairBackoff, opts.random);
    this.#prefix = memberNamePrefix(opts.nodeName);
  }

  async reconcile(
    classes: ReadonlyMap<string, LbClassModel>,
    desired: readonly DesiredMember[],
    livePodIps: ReadonlySet<string>,
    now: number,
  ): Promise<MemberOutcome> {
    const out: MemberOutcome = {
      views: new Map(),
      details: new Map(),
      instances: [],
      counts: { registered: 0, healthy: 0, draining: 0, warming: 0 },
      events: [],
      added: [],
    };
    const run: Run = { out, now, wake: (t) => (out.nextWakeAt = out.nextWakeAt === undefined ? t : Math.min(out.nextWakeAt, t)) };
    for (const m of desired) this.#lastDesired.set(memberKey(m.backend, m.name), m);
    await this.#syncInstances(classes);

    // Per-instance truths, then folded into one view per member across the fleet.
    const perMember = new Map<string, { registered: number; healthy: number; unchecked: number; total: number }>();
    await Promise.all(
      [...this.#instances].flatMap(([className, byRef]) =>
        [...byRef.values()].map(async (st) => {
          const mine = desired.filter((m) => m.className === className);
          for (const m of mine) {
            const k = memberKey(m.backend, m.name);
            const agg = perMember.get(k) ?? { registered: 0, healthy: 0, unchecked: 0, total: 0 };
            agg.total += 1;
            perMember.set(k, agg);
          }
          for (const [k, v] of await this.#reconcileInstance(st, mine, livePodIps, run)) {
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
      out.views.set(k, {
        registered: agg.total > 0 && agg.registered === agg.total,
        healthy: agg.total > 0 && agg.healthy === agg.total,
        unchecked: agg.total > 0 && agg.unchecked === agg.total,
      });
    }
    for (const m of desired) {
      const v = out.views.get(memberKey(m.backend, m.name));
      if (m.state === 'draining') out.counts.draining += 1;
      // Registered, checked, and taking no traffic: not one of the members a Service can count on.
      else if (m.state === 'warming') out.counts.warming += v?.registered ? 1 : 0;
      else if (v?.registered) {
        out.counts.registered += 1;
        if (v.healthy) out.counts.healthy += 1;
      }
    }
    this.#forget(desired);
    return out;
  }

  /** Forgets the desired record of members that are neither desired nor observed any more. */
  #forget(desired: readonly DesiredMember[]): void {
    const observedKeys = new Set<string>();
    for (const byRef of this.#instances.values()) for (const st of byRef.values()) for (const k of st.lastObserved.keys()) observedKeys.add(k);
    const desiredKeys = new Set(desired.map((m) => memberKey(m.backend, m.name)));
    for (const k of this.#lastDesired.keys()) {
      if (desiredKeys.has(k) || observedKeys.has(k)) continue;
      this.#lastDesired.delete(k);
      // A member that is gone may come back (same Pod IP later): it gets its Events again.
      for (const r of this.#reported) if (r.includes(`|${k}|`)) this.#reported.delete(r);
    }
  }

  /** The instances each class names, with a client per ref; clients of refs that are gone are closed. */
  async #syncInstances(classes: ReadonlyMap<string, LbClassModel>): Promise<void> {
    for (const [className, cls] of classes) {
      const byRef = this.#instances.get(className) ?? new Map<string, InstanceState>();
      const refs = (this.#opts.instancesOf ?? defaultInstanceRefs)(cls);
      const wanted = new Set(refs.map(instanceRefKey));
      for (const [key, st] of byRef) {
        if (wanted.has(key)) continue;
        byRef.delete(key);
        await st.inst.close().catch(() => undefined);
      }
      for (const ref of refs) {
        const key = instanceRefKey(ref);
        if (!byRef.has(key))
          byRef.set(key, {
            ref,
            inst: this.#opts.makeInstance(ref, cls),
            failures: 0,
            nextRetryAt: 0,
            ...newObservation(),
          });
      }
      this.#instances.set(className, byRef);
    }
    // A class that vanished: its members stay in the LB (we cannot reach a class we no longer
    // know the address of); the gate planner releases the gates. Close the connections.
    for (const [className, byRef] of this.#instances) {
      if (classes.has(className)) continue;
      for (const st of byRef.values()) await st.inst.close().catch(() => undefined);
      this.#instances.delete(className);
    }
  }

  async #reconcileInstance(st: InstanceState, desired: readonly DesiredMember[], livePodIps: ReadonlySet<string>, run: Run): Promise<Map<string, MemberView>> {
    const { ref } = st;
    const { out, now, wake } = run;
    const status: InstanceStatus = {
      className: ref.className,
      id: ref.id,
      reachable: st.failures === 0,
      missingBackends: st.missingBackends,
      ...(st.lastErr !== undefined ? { lastError: errorMessage(st.lastErr), code: errorCode(st.lastErr) } : {}),
    };
    out.instances.push(status);
    if (now < st.nextRetryAt) {
      wake(st.nextRetryAt);
      return new Map();
    }
    const log = this.#opts.log.child({ lbClass: ref.className, instance: ref.id });

    let observed: Map<string, ObservedMember>;
    try {
      observed = await this.#observe(st, desired, out, now, wake);
    } catch (err) {
      this.#failed(st, status, err, run, log);
      return lastKnownViews(desired, st.lastObserved, new Set());
    }
    // Every agent of the fleet sees the same recovery: an Event each would be one per node on
    // the class. The node's LoadBalancerReachable condition turning True says it once per node.
    if (st.failures > 0) log.info('load balancer instance reachable again');
    st.failures = 0;
    st.nextRetryAt = 0;
    delete st.lastErr;
    status.reachable = true;
    status.missingBackends = st.missingBackends;
    delete status.lastError;
    delete status.code;

    const drains = this.#drainsOf(ref.id);
    const full = diffMembers({
      desired,
      observed,
      missingBackends: new Set(st.missingBackends),
      livePodIps,
      drainingSince: drains,
      lastDesired: this.#lastDesired,
      repairNotBefore: this.#repairs.notBefore(ref.id),
      now,
    });
    const diff = withoutBatchWrites(full, st.batchBackends);
    // A warming member is drained without a drain window: a clock left from an earlier drain
    // would cut the next one short.
    for (const m of desired) if (m.state === 'warming') drains.delete(memberKey(m.backend, m.name));
    for (const w of diff.waits) {
      drains.set(w.key, w.since); // adopted mid-drain after a restart: the window starts now
      wake(w.until);
    }
    for (const w of diff.repairWaits) wake(w.at);
    const report = await executors[ref.provider].execute(st.inst, diff.actions);
    const added = new Set<string>();
    const at = { ref, observed, drains, added, log };
    for (const a of report.done) if (a.kind !== 'add') this.#applied(a, at, run);
    for (const m of diff.missingBackend) {
      this.#reportOnce(out, `missing|${ref.id}|${m.backend}`, {
        object: serviceObj(m),
        type: 'Warning',
        reason: 'BackendNotFound',
        message: `Backend ${JSON.stringify(m.backend)} does not exist on load balancer ${ref.id} (class ${ref.className}); fix the podlb.io/backend annotation or the load balancer configuration`,
      });
    }
    for (const a of report.done) if (a.kind === 'add') this.#applied(a, at, run);
    for (const { action, err } of report.refused) {
      const m = action.desired;
      this.#reportOnce(out, `add|${ref.id}|${action.key}|${errorMessage(err)}`, {
        object: serviceObj(m),
        type: 'Warning',
        reason: 'MemberRegistrationFailed',
        message: `Could not add ${m.address}:${m.port} to backend ${m.backend} on ${ref.id}: ${errorMessage(err)}`,
      });
    }
    if (report.failed !== undefined) {
      this.#failed(st, status, report.failed, run, log);
      return lastKnownViews(desired, observed, added);
    }
    const views = instanceViews(desired, observed, added);
    // The model holds what this run wrote, so the next run asks about it instead of listing.
    for (const m of desired) {
      const k = memberKey(m.backend, m.name);
      if (!added.has(k) || observed.has(k)) continue;
      const health = m.healthCheck ? 'pending' : 'unchecked';
      const admin = m.state === 'warming' ? 'drain' : 'ready';
      observed.set(k, { backend: m.backend, name: m.name, address: m.address, port: m.port, admin, health, detail: 'added by this agent' });
    }
    return views;
  }

  /** This node's members on the instance (observe.ts: asked, or listed when it must); remembers what it said. */
  async #observe(
    st: InstanceState,
    desired: readonly DesiredMember[],
    out: MemberOutcome,
    now: number,
    wake: (t: number) => void,
  ): Promise<Map<string, ObservedMember>> {
    const r = await observe(st.inst, st, desired, this.#prefix, now, this.#opts.random ?? Math.random);
    if (r.listed && r.listed !== 'noTargetedReads' && r.listed !== 'firstContact')
      this.#opts.log.info({ lbClass: st.ref.className, instance: st.ref.id, reason: r.listed }, 'load balancer members listed');
    if (st.inst.readMembers && st.backends.size > 0) wake(st.identityDueAt);
    for (const [k, o] of r.observed) {
      const list = out.details.get(k) ?? [];
      list.push({ instance: st.ref.id, admin: o.admin, health: o.health, detail: o.detail });
      out.details.set(k, list);
    }
    this.#repairs.observed(st.ref.id, r.observed);
    return r.observed;
  }

  /** Records one acknowledged action: bookkeeping, log, Event, wake-up. */
  #applied(
    a: MemberAction,
    at: { ref: LbInstanceRef; observed: Map<string, ObservedMember>; drains: Map<string, number>; added: Set<string>; log: Logger },
    run: Run,
  ): void {
    const { out, now, wake } = run;
    switch (a.kind) {
      case 'drain': {
        const o = a.member;
        at.observed.set(a.key, { ...o, admin: 'drain' });
        at.drains.set(a.key, now);
        at.log.info({ member: o.name, backend: o.backend, drainSeconds: a.drainSeconds }, 'member draining');
        if (a.desired)
          this.#reportOnce(out, `drain|${a.key}|${a.desired.pod.uid}`, {
            object: podObj(a.desired),
            type: 'Normal',
            reason: 'MemberDraining',
            message: `Draining ${o.address}:${o.port} in ${o.backend} (no new connections); removed after ${a.drainSeconds}s or when the Pod is gone`,
          });
        wake(now + a.drainSeconds * 1000);
        return;
      }
      case 'remove': {
        const o = a.member;
        at.drains.delete(a.key);
        at.observed.delete(a.key);
        at.log.info({ member: o.name, backend: o.backend, reason: a.reason }, 'member removed');
        if (a.desired && a.reason !== 'podGone')
          this.#reportOnce(out, `remove|${a.key}|${a.desired.pod.uid}`, {
            object: podObj(a.desired),
            type: 'Normal',
            reason: 'MemberRemoved',
            message: `Removed ${o.address}:${o.port} from ${o.backend} after the ${a.drainSeconds}s drain window`,
          });
        return;
      }
      case 'hold':
        at.observed.set(a.key, { ...a.member, admin: 'drain' });
        at.drains.delete(a.key);
        at.log.info({ member: a.member.name }, 'member held back from traffic until its Pod is ready again');
        return;
      case 'enable':
        at.observed.set(a.key, { ...a.member, admin: 'ready' });
        at.drains.delete(a.key);
        at.log.info({ member: a.member.name }, 'member enabled again');
        return;
      case 'repair': {
        const n = this.#repairs.repaired(at.ref.id, a.key, now);
        at.observed.delete(a.key);
        at.added.add(a.key);
        at.log.warn({ member: a.member.name, detail: a.member.detail, repairs: n }, 'member the load balancer failed to program: removed and added again');
        this.#reportOnce(out, `repair|${a.key}|${a.desired.pod.uid}|${n}`, {
          object: podObj(a.desired),
          type: 'Warning',
          reason: 'MemberRepaired',
          message: `${at.ref.id} failed to program ${a.member.address}:${a.member.port} in ${a.member.backend} (${a.member.detail}); removed and added it again (repair ${n})`,
        });
        return;
      }
      case 'add': {
        const m = a.desired;
        at.added.add(a.key);
        out.added.push(a.key);
        this.#reportOnce(out, `add|${a.key}|${m.pod.uid}`, registeredEvent(m, at.ref.className));
        at.log.info({ member: m.name, backend: m.backend, pod: `${m.pod.namespace}/${m.pod.name}`, warm: m.state === 'warming' }, 'member added');
        return;
      }
    }
  }

  /** The instance could not be read or written: back off, keep members, say so once. */
  #failed(st: InstanceState, status: InstanceStatus, err: unknown, run: Run, log: Logger): void {
    // A write may or may not have happened: the next run lists instead of trusting the model.
    st.known.clear();
    st.failures += 1;
    const delay = backoff(st.failures, this.#opts.backoff ?? DEFAULT_BACKOFF, this.#opts.random);
    st.nextRetryAt = run.now + delay;
    st.lastErr = err;
    status.reachable = false;
    status.lastError = errorMessage(err);
    status.code = errorCode(err);
    run.wake(st.nextRetryAt);
    log.warn({ err, failures: st.failures, retryInMs: Math.round(delay) }, 'load balancer instance call failed');
    if (st.failures === 1) {
      // Refused credentials are not an outage: the class or its Secret needs a fix, and the reason says so.
      const code = err instanceof PodlbError ? err.code : undefined;
      run.out.events.push({
        object: classRef(st.ref.className),
        type: 'Warning',
        reason: code === LB_CREDENTIALS_REFUSED ? 'CredentialsRefused' : code === LB_IN_ERROR ? 'LoadBalancerError' : 'LoadBalancerUnreachable',
        message: `Instance ${st.ref.id}: ${status.lastError}; retrying with backoff, registered members are kept`,
      });
    }
  }

  #drainsOf(instanceId: string): Map<string, number> {
    let m = this.#drainStart.get(instanceId);
    if (!m) {
      m = new Map();
      this.#drainStart.set(instanceId, m);
    }
    return m;
  }

  #reportOnce(out: MemberOutcome, key: string, ev: EventToRecord): void {
    if (this.#reported.has(key)) return;
    this.#reported.add(key);
    out.events.push(ev);
  }

  async close(): Promise<void> {
    for (const byRef of this.#instances.values()) for (const st of byRef.values()) await st.inst.close().catch(() => undefined);
    this.#instances.clear();
  }
}
