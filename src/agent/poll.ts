// When to read the load balancers again while a member waits for its first passing check
// (design §4.5: a cadence derived from the check's inter, jittered).
//
// HAProxy 2.6, measured for a server added by the safe add line (inter 1 s and 300 ms, rise 2):
// the first check runs one `inter` after the add, the next ones every `inter`, and the server
// is UP after `rise` passing checks, i.e. rise × inter after the add (1002 ms → DOWN 1/2,
// 2003 ms → UP). So a member this agent added can turn healthy at (about) rise × inter and at
// each `inter` after, never before. The rule:
// - steady cadence inter / 4, jittered early ([0.8, 1]): a result is seen within inter / 4 of
//   when it happens, and 1,000 agents do not poll in step;
// - a member this agent added is read just after the moments a first decision can fall on:
//   (rise - 1) × inter + step (once, in case a version checks at once after the add) and
//   rise × inter + step, step = inter / 100 within [5, 25] ms; then after a lateness that
//   doubles (step, 2 step, 4 step, … up to inter / 4): a result d ms late is seen within
//   about d ms, so the gate's latency stays within a few % of the LB's own decision time.
//   These reads are not jittered: they are tied to each member's add time, which already
//   spreads agents, and an early read is wasted while a late one adds to every gate.
// Numbers (inter 500 ms, rise 2, the burst bench): the earlier rule read every inter / 40 =
// 12.5 ms from 475 ms after the add, ~42 reads per member turning healthy at ~1000 ms, and
// every 25 ms for as long as a member failed; this one reads 2 times (505 and 1005 ms) when
// the check answers within 5 ms, about 8 per second per agent while a member fails, and sees
// the result as soon (within 5 ms instead of 12.5 ms).
import type { HealthCheck } from '../lb/provider.js';
import { jitter } from '../util/backoff.js';

export const MIN_POLL_MS = 5;
const MAX_STEP_MS = 25;

type Check = Pick<HealthCheck, 'intervalMs' | 'rise'>;

/**
 * Milliseconds until the next read for one pending member. `sinceAddedMs` is undefined for a
 * member this agent did not add (adopted after a restart): then the steady cadence.
 * `fallbackMs`: the cadence of a member without health check.
 */
export function pendingPollDelayMs(hc: Check | undefined, sinceAddedMs: number | undefined, fallbackMs: number, random: () => number): number {
  if (!hc) return fallbackMs;
  const quarter = Math.max(MIN_POLL_MS, hc.intervalMs / 4);
  const steady = jitter(quarter, [0.8, 1], random);
  if (sinceAddedMs === undefined) return steady;
  const step = Math.min(MAX_STEP_MS, Math.max(MIN_POLL_MS, hc.intervalMs / 100));
  const early = (hc.rise - 1) * hc.intervalMs + step;
  const decision = hc.rise * hc.intervalMs + step;
  if (sinceAddedMs < early) return early - sinceAddedMs;
  if (sinceAddedMs < decision) return decision - sinceAddedMs;
  const late = sinceAddedMs - decision + step;
  return late < quarter ? late : steady;
}

/** One waiting member: its check, and how long ago this agent added it (undefined: adopted). */
export interface PendingMember {
  healthCheck?: Check;
  sinceAddedMs?: number;
}

/** Milliseconds until the next read for a node's waiting members; undefined when none waits. */
export function nextPendingPollMs(waiting: Iterable<PendingMember>, fallbackMs: number, random: () => number): number | undefined {
  let next: number | undefined;
  for (const m of waiting) {
    const d = pendingPollDelayMs(m.healthCheck, m.sinceAddedMs, fallbackMs, random);
    next = next === undefined ? d : Math.min(next, d);
  }
  return next;
}
