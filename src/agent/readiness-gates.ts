// Readiness gates (design §4.3): from this run's members outcome, the condition each gated Pod
// should carry, patched on pods/status; and, while some gated Pod waits for its member to turn
// healthy, when to read the load balancers again (poll.ts).
import type { Logger } from 'pino';
import { READINESS_GATE, type Pod } from '../api/types.js';
import type { EventToRecord } from '../kube/events.js';
import type { KubeClient } from '../kube/client.js';
import { planGates, type GateDecision } from '../members/gates.js';
import { hasOurGate, isLive, memberKey } from '../members/plan.js';
import type { Reconciler, ReconcileResult } from '../reconcile/reconciler.js';
import { errorCode } from '../util/errors.js';
import type { LbMembersReconciler } from './lb-members.js';
import { GateWriteHeldBack, GateWriter } from './gate-writer.js';
import type { AgentMetrics } from './metrics.js';
import type { NodeStatusContribution } from './node-status.js';
import { nextPendingPollMs, type PendingMember } from './poll.js';
import type { AgentSnapshot } from './snapshot.js';

export interface ReadinessGatesOptions {
  client: Pick<KubeClient, 'patch'>;
  members: Pick<LbMembersReconciler, 'current' | 'addedAt' | 'containersReadyAt'>;
  /** Health-poll cadence for a waiting member without health check (others follow their check, poll.ts). */
  pendingPollMs: number;
  log: Logger;
  metrics: AgentMetrics;
  random: () => number;
  /** Wakes the loop: a write failed and its retry time must be planned, or the last write of a burst settled. */
  wake?: () => void;
  /** Gate writes in flight at once (GATE_WRITE_CONCURRENCY). */
  concurrency?: number;
}

/**
 * Gate writes in flight at once, per agent. Not client-go's QPS 5 / burst 10: that is sized for
 * a controller whose writes grow with the cluster, whereas these grow only with the Pods on one
 * node (110 by default) and each unblocks a Pod's traffic; the kubelet, which writes the same
 * pods/status for the same Pods, runs at QPS 50 / burst 100. A bound on concurrency rather than a
 * rate follows the server's own pace (a slow server gets fewer requests per second, never a
 * queue of them) and is what API Priority and Fairness counts (seats in flight): one node never
 * holds more than this many of its priority level's seats. With ~10 ms per PATCH a 200-Pod burst
 * is written in ~250 ms; a 429 stops every write until its Retry-After (GateWriter).
 */
export const GATE_WRITE_CONCURRENCY = 8;

interface Queued {
  pod: Pod;
  d: GateDecision;
  key: string;
  /** performance.now() when a run first decided this write (kept while later runs re-decide it). */
  decidedAt: number;
}

/** Sort key of a queued write: True before False, then the earliest decided. */
function rank(q: Queued): number {
  return (q.d.status === 'True' ? 0 : 1e12) + q.decidedAt;
}

export class ReadinessGatesReconciler implements Reconciler<AgentSnapshot, NodeStatusContribution> {
  readonly name = 'gates';
  readonly #o: ReadinessGatesOptions;
  readonly #gates: GateWriter;
  /** Gate writes made but not yet seen in the Pod cache: never write the same one twice. */
  readonly #written = new Map<string, string>();
  /** Writes sent and not answered yet, by Pod uid: the decision each carries. */
  readonly #inFlight = new Map<string, string>();
  /** This run's decisions not sent yet, by Pod uid: the next run replaces them (a False not sent yet becomes the True that followed it). */
  #queue = new Map<string, Queued>();
  /** What settled writes left for the next run to return: Events, retry times. */
  #settledEvents: EventToRecord[] = [];
  #retryTimes: number[] = [];
  /** Pods whose last write failed: not sent again before this time, whatever wakes the loop. */
  readonly #retryAt = new Map<string, number>();
  /** The `now` of the run that queued the writes: their lastTransitionTime and retry base. */
  #now = 0;
  #idle: (() => void)[] = [];
  /** Decisions patched since the last run started (tests, logs). */
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
    const wakeTimes: number[] = this.#retryTimes;
    this.#retryTimes = [];
    const events = this.#settledEvents;
    this.#settledEvents = [];
    const gatePlan = planGates(s.pods, plan, outcome.views, now);
    if (gatePlan.nextDeadline !== undefined) wakeTimes.push(gatePlan.nextDeadline);
    const podsByUid = new Map(s.pods.map((p) => [p.metadata.uid ?? '', p]));
    // Forget write records once the cache shows them (or the Pod is gone).
    for (const [uid, key] of this.#written) {
      const p = podsByUid.get(uid);
      const c = p?.status?.conditions?.find((x) => x.type === READINESS_GATE);
      if (!p || (c && `${c.status}/${c.reason}` === key)) this.#written.delete(uid);
    }
    for (const uid of this.#retryAt.keys()) if (!podsByUid.has(uid)) this.#retryAt.delete(uid);
    // Writes run beside the loop, not inside it: one slow PATCH holds one slot, never the next
    // run, and a True decided while a burst's False writes wait replaces them unsent.
    const queue = new Map<string, Queued>();
    for (const d of gatePlan.decisions) {
      const pod = podsByUid.get(d.pod.uid);
      const key = `${d.status}/${d.reason}`;
      if (!pod || this.#written.get(d.pod.uid) === key || this.#inFlight.get(d.pod.uid) === key) continue;
      const retryAt = this.#retryAt.get(d.pod.uid);
      if (retryAt !== undefined && retryAt > now) {
        wakeTimes.push(retryAt);
        continue;
      }
      const before = this.#queue.get(d.pod.uid);
      queue.set(d.pod.uid, { pod, d, key, decidedAt: before?.key === key ? before.decidedAt : performance.now() });
    }
    this.#queue = queue;
    this.#now = now;
    this.#pump();
    const pollAt = this.#nextPoll(run, podsByUid, now);
    if (pollAt !== undefined) wakeTimes.push(pollAt);
    if (this.#gates.notBefore > now && this.#queue.size > 0) wakeTimes.push(this.#gates.notBefore);
    return { events, ...(wakeTimes.length > 0 ? { nextWakeAt: Math.min(...wakeTimes) } : {}) };
  }

  /**
   * The Pod's gate was written True and the cache does not show it yet. Warming members (plan.ts)
   * are switched to traffic on this, so nothing reaches them before the write succeeded.
   */
  gateOpened(uid: string): boolean {
    return this.#written.get(uid)?.startsWith('True/') === true;
  }

  /** Drops what is not sent yet and waits for the writes under way (shutdown). */
  async close(): Promise<void> {
    this.#queue.clear();
    await this.idle();
  }

  /** Resolves once no gate write is queued or in flight (tests). */
  idle(): Promise<void> {
    if (this.#queue.size === 0 && this.#inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * Starts queued writes up to the bound. A True unblocks a Pod's traffic, a False only tells:
   * every True goes before any False, the longest-waiting first (the queue is rebuilt in Pod
   * order each run, which would let Pods decided later overtake it), and False writes hold at
   * most half the slots, so a True decided amid a burst of them finds one free.
   */
  #pump(): void {
    const limit = this.#o.concurrency ?? GATE_WRITE_CONCURRENCY;
    const falseSlots = Math.max(1, Math.floor(limit / 2));
    while (this.#inFlight.size < limit && this.#queue.size > 0) {
      // The server asked to wait: nothing is sent until a run after its time.
      if (this.#gates.notBefore > this.#now) break;
      const falsesInFlight = [...this.#inFlight.values()].filter((k) => k.startsWith('False/')).length;
      let next: Queued | undefined;
      for (const q of this.#queue.values()) {
        // A Pod with a write in flight: its next write waits for that answer.
        if (this.#inFlight.has(q.d.pod.uid)) continue;
        if (q.d.status === 'False' && falsesInFlight >= falseSlots) continue;
        if (!next || rank(q) < rank(next)) next = q;
      }
      if (!next) break;
      this.#queue.delete(next.d.pod.uid);
      this.#inFlight.set(next.d.pod.uid, next.key);
      void this.#write(next, this.#now);
    }
    if (this.#queue.size === 0 && this.#inFlight.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  async #write({ pod, d, key, decidedAt }: Queued, now: number): Promise<void> {
    const { log, metrics } = this.#o;
    const sentAt = performance.now();
    try {
      await this.#gates.write(pod, d, now);
      this.#written.set(d.pod.uid, key);
      this.#retryAt.delete(d.pod.uid);
      this.lastWritten.push(d);
      metrics.gateWrites.inc({ status: d.status, reason: d.reason });
      if (d.status === 'True') this.#observeReadiness(d);
      // How long the write waited for a slot and how long the server took: a gate's latency, split.
      const timing = { queuedMs: Math.round(sentAt - decidedAt), patchMs: Math.round(performance.now() - sentAt) };
      log.info({ pod: `${d.pod.namespace}/${d.pod.name}`, status: d.status, reason: d.reason, ...timing }, 'readiness gate set');
      if (d.event)
        this.#settledEvents.push({ object: { apiVersion: 'v1', kind: 'Pod', namespace: d.pod.namespace, name: d.pod.name, uid: d.pod.uid }, ...d.event });
    } catch (err) {
      const retryAt = this.#gates.retryAt(err, now);
      this.#retryAt.set(d.pod.uid, retryAt);
      this.#retryTimes.push(retryAt);
      // The 429 that started the wait was warned about and counted; what waits behind it is not news.
      if (err instanceof GateWriteHeldBack) {
        log.debug({ pod: `${d.pod.namespace}/${d.pod.name}`, err }, 'readiness gate write held back');
      } else {
        log.warn({ pod: `${d.pod.namespace}/${d.pod.name}`, err }, 'could not patch readiness gate');
        metrics.reconcileErrors.inc({ component: 'gates', code: errorCode(err) });
      }
    } finally {
      this.#inFlight.delete(d.pod.uid);
    }
    // A failure needs a run to plan its retry; a True lets warming members take traffic at once,
    // without waiting for the Pod watch to bring it back; other successes come with that watch.
    if (this.#retryTimes.length > 0 || this.gateOpened(d.pod.uid) || (this.#settledEvents.length > 0 && this.#queue.size === 0 && this.#inFlight.size === 0))
      this.#o.wake?.();
    this.#pump();
  }

  #observeReadiness(d: GateDecision): void {
    const run = this.#o.members.current;
    const added = (run?.plan.members ?? [])
      .filter((m) => m.pod.uid === d.pod.uid)
      .map((m) => this.#o.members.addedAt(memberKey(m.backend, m.name)))
      .filter((t): t is number => t !== undefined);
    if (added.length === 0) return;
    // A pre-registered member was added while the app started: its wait is counted from
    // ContainersReady, so the figure stays the load balancer's part, with or without it.
    const since = Math.max(Math.min(...added), this.#o.members.containersReadyAt(d.pod.uid) ?? 0);
    this.#o.metrics.readinessSeconds.observe((performance.now() - since) / 1000);
  }

  /** Poll only while some gated Pod waits for its member, at the cadence poll.ts derives from its check. */
  #nextPoll(run: NonNullable<LbMembersReconciler['current']>, podsByUid: ReadonlyMap<string, Pod>, now: number): number | undefined {
    const polledAt = performance.now();
    const waiting: PendingMember[] = [];
    for (const m of run.plan.members) {
      if (!isLive(m) || m.keepOnly) continue;
      const pod = podsByUid.get(m.pod.uid);
      if (!pod || !hasOurGate(pod)) continue;
      const gate = pod.status?.conditions?.find((c) => c.type === READINESS_GATE);
      if (gate?.status === 'True' || this.#written.get(m.pod.uid)?.startsWith('True') || this.#inFlight.get(m.pod.uid)?.startsWith('True')) continue;
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
