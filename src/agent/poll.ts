// When to read the load balancers again while a member waits for its first passing check
// (design §4.5: a cadence derived from the check's inter). HAProxy decides after `rise`
// passing checks `inter` apart, so a member cannot turn healthy before (rise - 1) × inter
// after it was added: no read before that, fast reads (inter / 40, within [5 ms, maxMs])
// around the moment the decision is due, and the base cadence once that moment is well past
// (a member failing its checks turns healthy at some later check, not soon).
import type { HealthCheck } from '../lb/provider.js';

export const MIN_POLL_MS = 5;

/**
 * Milliseconds until the next read for one pending member. `sinceAddedMs` is undefined for a
 * member this agent did not add (adopted after a restart): then the base cadence.
 */
export function pendingPollDelayMs(hc: Pick<HealthCheck, 'intervalMs' | 'rise'> | undefined, sinceAddedMs: number | undefined, baseMs: number): number {
  if (!hc || sinceAddedMs === undefined) return baseMs;
  const fast = Math.min(baseMs, Math.max(MIN_POLL_MS, hc.intervalMs / 40));
  const windowStart = (hc.rise - 1) * hc.intervalMs - 2 * fast;
  const windowEnd = (hc.rise + 1) * hc.intervalMs;
  if (sinceAddedMs < windowStart) return windowStart - sinceAddedMs;
  if (sinceAddedMs <= windowEnd) return fast;
  return baseMs;
}
