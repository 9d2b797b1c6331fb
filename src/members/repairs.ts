// Members a load balancer failed to program (ObservedMember.failed) are removed and added again
// by the reconciler; this remembers, per instance, how often each was repaired, so a member
// that keeps failing is retried with a growing delay instead of on every run.
import { backoff, type BackoffPolicy } from '../util/backoff.js';

/** A provider that failed once may fail again at once (a broken amphora): start at 5 s, cap at 5 min. */
export const REPAIR_BACKOFF: BackoffPolicy = { baseMs: 5_000, maxMs: 300_000 };

export class MemberRepairs {
  /** instance id → member key → repairs so far and the earliest next one */
  readonly #byInstance = new Map<string, Map<string, { attempts: number; notBefore: number }>>();
  readonly #policy: BackoffPolicy;
  readonly #random: (() => number) | undefined;

  constructor(policy: BackoffPolicy = REPAIR_BACKOFF, random?: () => number) {
    this.#policy = policy;
    this.#random = random;
  }

  /** Member key → the earliest time of its next repair, for the diff. */
  notBefore(instanceId: string): Map<string, number> {
    return new Map([...(this.#byInstance.get(instanceId) ?? [])].map(([k, v]) => [k, v.notBefore]));
  }

  /** A repair was done now; returns how many this member has had. */
  repaired(instanceId: string, key: string, now: number): number {
    const book = this.#byInstance.get(instanceId) ?? new Map<string, { attempts: number; notBefore: number }>();
    this.#byInstance.set(instanceId, book);
    const attempts = (book.get(key)?.attempts ?? 0) + 1;
    book.set(key, { attempts, notBefore: now + backoff(attempts, this.#policy, this.#random) });
    return attempts;
  }

  /** A member seen programmed again starts from scratch next time it fails. */
  observed(instanceId: string, observed: ReadonlyMap<string, { failed?: boolean }>): void {
    const book = this.#byInstance.get(instanceId);
    if (!book) return;
    for (const [k, o] of observed) if (!o.failed) book.delete(k);
  }
}
