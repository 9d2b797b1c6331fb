// One job per reconciler (Cilium's `{name, reconcile}`): each looks at a snapshot of the whole
// world and says what it did, when it wants to run again, and what it contributes to status.
// The loop (loop.ts) owns everything around that: ordering, isolation, backoff, Events.
import type { Problem } from '../api/problem.js';
import type { EventToRecord } from '../kube/events.js';
import type { BackoffPolicy } from '../util/backoff.js';

export interface ReconcileResult<C = never> {
  /** Earliest time (ms since epoch) this reconciler must run again; undefined: when signalled. */
  nextWakeAt?: number;
  /** Recorded as Kubernetes Events after the run. */
  events?: readonly EventToRecord[];
  /** Problems with user input or components, recorded as Events. */
  problems?: readonly Problem[];
  /** What this reconciler adds to the status the loop's owner writes; the last one is kept. */
  status?: C;
  /**
   * The job could not be done (a component away, writes refused). The loop backs off and does
   * not run this reconciler again before the backoff ends, however often it is signalled.
   */
  failed?: {
    error: string;
    /** The Error behind it, when there is one: logged as `err` (type, stack, fields); its code labels the failure. */
    err?: unknown;
  };
}

export interface Reconciler<S, C = never> {
  /** Stable: a log field, a metric label, the key of its status contribution. */
  readonly name: string;
  /** Overrides the loop's backoff for this reconciler's failures. */
  readonly backoff?: BackoffPolicy;
  reconcile(snapshot: S, now: number): Promise<ReconcileResult<C>>;
}
