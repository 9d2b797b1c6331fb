// The PodLBNode status reconciler: it programs nothing, it only gathers what the other
// reconcilers last contributed (BGP, kernel routes, members) and writes it through
// NodeStatusWriter. A contributor that failed or was skipped keeps its last contribution, so a
// blip in one concern never blanks another's part of status.
import type { Condition } from '../api/types.js';
import type { Reconciler, ReconcileResult } from '../reconcile/reconciler.js';
import type { AgentMetrics } from './metrics.js';
import { mergeConditions } from '../api/conditions.js';
import { errorCode } from '../util/errors.js';
import type { NodeStatusWriter, PodLBNodeStatus } from './status.js';
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

export class NodeStatusReconciler implements Reconciler<AgentSnapshot, NodeStatusContribution> {
  readonly name = 'status';
  readonly #writer: NodeStatusWriter;
  readonly #parts: () => readonly (NodeStatusContribution | undefined)[];
  readonly #metrics: AgentMetrics;

  constructor(o: { writer: NodeStatusWriter; contributions: () => readonly (NodeStatusContribution | undefined)[]; metrics: AgentMetrics }) {
    this.#writer = o.writer;
    this.#parts = o.contributions;
    this.#metrics = o.metrics;
  }

  async reconcile(s: AgentSnapshot, now: number): Promise<ReconcileResult<NodeStatusContribution>> {
    const nowIso = new Date(now).toISOString();
    const written = await this.#writer.write(s.node, (prev) => buildNodeStatus(prev, this.#parts(), nowIso));
    // The writer keeps its own backoff (long after a refusal, short after a 5xx): its retryAt is
    // a wake-up, not a loop failure, so the other reconcilers' status keeps being offered.
    if (written.failed) this.#metrics.reconcileErrors.inc({ component: 'status', code: errorCode(written.failed.err) });
    return {
      ...(written.event ? { events: [written.event] } : {}),
      ...(written.retryAt !== undefined ? { nextWakeAt: written.retryAt } : {}),
    };
  }
}
