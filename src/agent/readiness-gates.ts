// Readiness gates (design §4.3): from this run's members outcome, the condition each gated Pod
// should carry, patched on pods/status; and, while some gated Pod waits for its member to turn
// healthy, when to read the load balancers again (poll.ts).
import type { Logger } from 'pino';
import { READINESS_GATE, type Pod } from '../api/types.js';
import type { EventToRecord } from '../kube/events.js';
import type { KubeClient } from '../kube/client.js';
import { planGates, type GateDecision } from '../members/gates.js';
import { hasOurGate, memberKey } from '../members/plan.js';
import type { Reconciler, ReconcileResult } from '../reconcile/reconciler.js';
import { mapLimit } from '../util/concurrency.js';
import { errorCode } from '../util/errors.js';
import type { LbMembersReconciler } from './lb-members.js';
import { GateWriteHeldBack, GateWriter } from './gate-writer.js';
import type { AgentMetrics } from './metrics.js';
import type { NodeStatusContribution } from './node-status.js';
import { nextPendingPollMs, type PendingMember } from './poll.js';
import type { AgentSnapshot } from './snapshot.js';

export interface ReadinessGatesOptions {
  client: Pick<KubeClient, 'patch'>;
  members: Pick<LbMembersReconciler, 'current' | 'addedAt'>;
  /** Health-poll cadence for a waiting member without health check (others follow their check, poll.ts). */
  pendingPollMs: number;
  log: Logger;
  metrics: AgentMetrics;
  random: () => number;
}

export class ReadinessGatesReconciler implements Reconciler<AgentSnapshot, NodeStatusContribution> {
  readonly name = 'gates';
  readonly #o: ReadinessGatesOptions;
  readonly #gates: GateWriter;
  /** Gate writes made but not yet seen in the Pod cache: never write the same one twice. */
  readonly #written = new Map<string, string>();
  /** Decisions patched in the last run (tests, logs). */
  lastWritten: GateDecision[] = [];

  constructor(o: ReadinessGatesOptions) {
    this.#o = o;
    this.#gates = new GateWriter(o.client);
  }

  async reconcile(s: AgentSnapshot, now: number): Promise<ReconcileResult<NodeStatusContribution>> {
    this.lastWritten = [];
    const run = this.#o.members.current;
    // Without this run's member outcome there is nothing true to say about any gate.
    if (!run || run.at !== now) return {};
    const { plan, outcome } = run;
    const { log, metrics } = this.#o;
    const events: EventToRecord[] = [];
    const wakeTimes: number[] = [];
    const gatePlan = planGates(s.pods, plan, outcome.views, now);
    if (gatePlan.nextDeadline !== undefined) wakeTimes.push(gatePlan.nextDeadline);
    const podsByUid = new Map(s.pods.map((p) => [p.metadata.uid ?? '', p]));
    // Gate writes are independent: a burst of Pods is written in parallel streams.
    const writes = gatePlan.decisions.filter((d) => podsByUid.has(d.pod.uid) && this.#written.get(d.pod.uid) !== `${d.status}/${d.reason}`);
    await mapLimit(writes, 16, async (d) => {
      const pod = podsByUid.get(d.pod.uid)!;
      try {
        await this.#gates.write(pod, d, now);
        this.#written.set(d.pod.uid, `${d.status}/${d.reason}`);
        this.lastWritten.push(d);
        metrics.gateWrites.inc({ status: d.status, reason: d.reason });
        if (d.status === 'True') {
          const added = plan.members
            .filter((m) => m.pod.uid === d.pod.uid)
            .map((m) => this.#o.members.addedAt(memberKey(m.backend, m.name)))
            .filter((t): t is number => t !== undefined);
          if (added.length > 0) metrics.readinessSeconds.observe((performance.now() - Math.min(...added)) / 1000);
        }
        log.info({ pod: `${d.pod.namespace}/${d.pod.name}`, status: d.status, reason: d.reason }, 'readiness gate set');
        if (d.event) events.push({ object: { apiVersion: 'v1', kind: 'Pod', namespace: d.pod.namespace, name: d.pod.name, uid: d.pod.uid }, ...d.event });
      } catch (err) {
        wakeTimes.push(this.#gates.retryAt(err, now));
        // The 429 that started the wait was warned about and counted; what waits behind it is not news.
        if (err instanceof GateWriteHeldBack) {
          log.debug({ pod: `${d.pod.namespace}/${d.pod.name}`, err }, 'readiness gate write held back');
          return;
        }
        log.warn({ pod: `${d.pod.namespace}/${d.pod.name}`, err }, 'could not patch readiness gate');
        metrics.reconcileErrors.inc({ component: 'gates', code: errorCode(err) });
      }
    });
    // Forget write records once the cache shows them (or the Pod is gone).
    for (const [uid, key] of this.#written) {
      const p = podsByUid.get(uid);
      const c = p?.status?.conditions?.find((x) => x.type === READINESS_GATE);
      if (!p || (c && `${c.status}/${c.reason}` === key)) this.#written.delete(uid);
    }
    const pollAt = this.#nextPoll(run, podsByUid, now);
    if (pollAt !== undefined) wakeTimes.push(pollAt);
    return { events, ...(wakeTimes.length > 0 ? { nextWakeAt: Math.min(...wakeTimes) } : {}) };
  }

  /** Poll only while some gated Pod waits for its member, at the cadence poll.ts derives from its check. */
  #nextPoll(run: NonNullable<LbMembersReconciler['current']>, podsByUid: ReadonlyMap<string, Pod>, now: number): number | undefined {
    const polledAt = performance.now();
    const waiting: PendingMember[] = [];
    for (const m of run.plan.members) {
      if (m.state !== 'active' || m.keepOnly) continue;
      const pod = podsByUid.get(m.pod.uid);
      if (!pod || !hasOurGate(pod)) continue;
      const gate = pod.status?.conditions?.find((c) => c.type === READINESS_GATE);
      if (gate?.status === 'True' || this.#written.get(m.pod.uid)?.startsWith('True')) continue;
      const k = memberKey(m.backend, m.name);
      if (run.outcome.views.get(k)?.healthy) continue;
      const added = this.#o.members.addedAt(k);
      waiting.push({ ...(m.healthCheck ? { healthCheck: m.healthCheck } : {}), ...(added !== undefined ? { sinceAddedMs: polledAt - added } : {}) });
    }
    // Jitter is poll.ts's: only the steady cadence gets it, reads aimed at a decision do not.
    const pollInMs = nextPendingPollMs(waiting, this.#o.pendingPollMs, this.#o.random);
    return pollInMs === undefined ? undefined : now + pollInMs;
  }
}
