// Status conditions as the API conventions want them: lastTransitionTime is when the status last
// changed, so a rewrite with the same status keeps the old time (a reason or message change is
// not a transition).
import type { Condition } from './types.js';

/** The lastTransitionTime for `status` of condition `type`, given the conditions written before. */
export function transitionTime(previous: readonly Condition[] | undefined, type: string, status: Condition['status'], nowIso: string): string {
  const prev = previous?.find((p) => p.type === type);
  return prev && prev.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : nowIso;
}

/** `next`, each with its lastTransitionTime taken from `previous` when its status did not change. */
export function mergeConditions(
  previous: readonly Condition[] | undefined,
  next: readonly Omit<Condition, 'lastTransitionTime'>[],
  nowIso: string,
): Condition[] {
  return next.map((c) => ({ ...c, lastTransitionTime: transitionTime(previous, c.type, c.status, nowIso) }));
}
