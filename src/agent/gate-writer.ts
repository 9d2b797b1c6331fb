// Readiness-gate writes (design §4.3) go to pods/status. A 429 or 503 with Retry-After is the
// API server shedding load (API Priority and Fairness): every gate write from this agent shares
// the same flow, so until the server's time has passed none is sent, whatever wakes the loop.
import { transitionTime } from '../api/conditions.js';
import { READINESS_GATE, type Pod } from '../api/types.js';
import { KubeApiError, retryDelayMs, type KubeClient } from '../kube/client.js';
import type { GateDecision } from '../members/gates.js';

/** After an error without Retry-After: the next run tries again this soon (it also re-plans). */
export const GATE_RETRY_MS = 1000;

/** A write not sent because the server's Retry-After has not passed: expected, not a new failure. */
export class GateWriteHeldBack extends KubeApiError {}

export class GateWriter {
  readonly #client: Pick<KubeClient, 'patch'>;
  /** No gate write before this time (ms since epoch): the server asked us to wait. */
  #notBefore = 0;

  constructor(client: Pick<KubeClient, 'patch'>) {
    this.#client = client;
  }

  async write(pod: Pod, d: GateDecision, now: number): Promise<void> {
    if (now < this.#notBefore) {
      throw new GateWriteHeldBack(
        429,
        'TooManyRequests',
        `readiness gate of ${d.pod.namespace}/${d.pod.name}: held back, the API server asked to wait until ${new Date(this.#notBefore).toISOString()}`,
        this.#notBefore - now,
      );
    }
    const lastTransitionTime = transitionTime(pod.status?.conditions, READINESS_GATE, d.status, new Date(now).toISOString());
    try {
      await this.#client.patch(
        `/api/v1/namespaces/${d.pod.namespace}/pods/${d.pod.name}/status`,
        { status: { conditions: [{ type: READINESS_GATE, status: d.status, reason: d.reason, message: d.message, lastTransitionTime }] } },
        'strategic',
      );
    } catch (err) {
      if (err instanceof KubeApiError && err.retryAfterMs !== undefined) this.#notBefore = Math.max(this.#notBefore, now + err.retryAfterMs);
      throw err;
    }
  }

  /** No gate write before this time (ms since epoch). */
  get notBefore(): number {
    return this.#notBefore;
  }

  /** When the loop should try a failed write again. */
  retryAt(err: unknown, now: number): number {
    return Math.max(now + retryDelayMs(err, GATE_RETRY_MS), this.#notBefore);
  }
}
