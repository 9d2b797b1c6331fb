// The one retry-delay shape in podlb: capped exponential growth, then jitter, so N agents that
// failed together do not retry together. Delays are computed from a failure count and an
// injected random source, never slept here, so callers test their schedules without timers.

export interface BackoffPolicy {
  /** Delay after the first failure, before jitter. */
  baseMs: number;
  /** Cap on the delay before jitter. */
  maxMs: number;
  /** The delay is multiplied by a uniform factor in [low, high); default ±20%. */
  jitter?: readonly [low: number, high: number];
}

export const DEFAULT_JITTER: readonly [number, number] = [0.8, 1.2];

/** `ms` scaled by a uniform factor in [low, high). */
export function jitter(ms: number, [low, high]: readonly [number, number] = DEFAULT_JITTER, random: () => number = Math.random): number {
  return ms * (low + (high - low) * random());
}

/** Delay before the next attempt after `failures` consecutive failures (1 = the first). */
export function backoff(failures: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  return jitter(Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, failures - 1)), policy.jitter, random);
}
