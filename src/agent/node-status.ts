// The PodLBNode status reconciler: it programs nothing, it only gathers what the other
// reconcilers last contributed (BGP, kernel routes, members) and writes it through
// NodeStatusWriter. A contributor that failed or was skipped keeps its last contribution, so a
// blip in one concern never blanks another's part of status.
import type { Condition } from '../api/types.js';
import type { Reconciler, ReconcileResult } from '../reconcile/reconciler.js';
import type { AgentMetrics } from './metrics.js';
import { mergeConditions } from '../api/conditions.js';
import { errorCode } from '../util/errors.js';
import type { NodeStatusWriter, PodLBNodeStatus, StatusWriteResult } from './status.js';
import type { AgentSnapshot } from './snapshot.js';

/** One reconciler's part of PodLBNode status. */
export interface NodeStatusContribution {
  fields?: Partial<Omit<PodLBNodeStatus, 'conditions'>>;
  conditions?: readonly Omit<Condition, 'lastTransitionTime'>[];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Status from contributions, in order: top-level fields of later ones win, except objects
 * (e.g. `bgp`), which two reconcilers may fill in part, merged one level deep.
 */
export function buildNodeStatus(
  previous: PodLBNodeStatus | undefined,
  parts: readonly (NodeStatusContribution | undefined)[],
  nowIso: string,
): PodLBNodeStatus {
  const out: Record<string, unknown> = {};
  const conditions: Omit<Condition, 'lastTransitionTime'>[] = [];
  for (const part of parts) {
    if (!part) continue;
    for (const [k, v] of Object.entries(part.fields ?? {})) out[k] = isPlainObject(out[k]) && isPlainObject(v) ? { ...out[k], ...v } : v;
    conditions.push(...(part.conditions ?? []));
  }
  return { ...(out as PodLBNodeStatus), conditions: mergeConditions(previous?.conditions, conditions, nowIso) };
}

/**
 * Writes status beside the loop: a status PATCH listing 200 members can take seconds on a busy
 * API server, and a run that waited for it would leave the next poll (the one that sees those
 * members healthy) and their gate writes waiting too. At most one write is in flight; the runs
 * that come meanwhile fold into one more write of the latest contributions.
 */
export class NodeStatusReconciler implements Reconciler<AgentSnapshot, NodeStatusContribution> {
  readonly name = 'status';
  readonly #writer: NodeStatusWriter;
  readonly #parts: () => readonly (NodeStatusContribution | undefined)[];
  readonly #metrics: AgentMetrics;
  readonly #wake: () => void;
  #writing: Promise<void> | undefined;
  #next: { node: AgentSnapshot['node']; now: number } | undefined;
  /** What the writes since the last run reported, for that run to return. */
  #finished: StatusWriteResult | undefined;

  constructor(o: {
    writer: NodeStatusWriter;
    contributions: () => readonly (NodeStatusContribution | undefined)[];
    metrics: AgentMetrics;
    /** Asks the loop for a run: a failed write's Event and retry time reach it through one. */
    wake?: () => void;
  }) {
    this.#writer = o.writer;
    this.#parts = o.contributions;
    this.#metrics = o.metrics;
    this.#wake = o.wake ?? (() => {});
  }

  async reconcile(s: AgentSnapshot, now: number): Promise<ReconcileResult<NodeStatusContribution>> {
    const done = this.#finished;
    this.#finished = undefined;
    this.#next = { node: s.node, now };
    this.#writing ??= this.#drain();
    // The writer keeps its own backoff (long after a refusal, short after a 5xx): its retryAt is
    // a wake-up, not a loop failure, so the other reconcilers' status keeps being offered.
    return {
      ...(done?.event ? { events: [done.event] } : {}),
      ...(done?.retryAt !== undefined && done.retryAt > now ? { nextWakeAt: done.retryAt } : {}),
    };
  }

  /** Resolves once no write is in flight (shutdown, tests). */
  async settled(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#next) {
        const { node, now } = this.#next;
        this.#next = undefined;
        const nowIso = new Date(now).toISOString();
        const written = await this.#writer.write(node, (prev) => buildNodeStatus(prev, this.#parts(), nowIso));
        if (written.failed) this.#metrics.reconcileErrors.inc({ component: 'status', code: errorCode(written.failed.err) });
        if (written.event || written.retryAt !== undefined) {
          this.#finished = { ...(this.#finished?.event ? { event: this.#finished.event } : {}), ...written };
        }
        // Only a failure needs a run of its own (to record its Event and schedule the retry); a
        // write held back by backoff is already what the last run's wake time covers.
        if (written.failed) this.#wake();
      }
    } finally {
      this.#writing = undefined;
    }
  }
}
