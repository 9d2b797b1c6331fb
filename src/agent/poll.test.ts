import { describe, expect, it } from 'vitest';
import { nextPendingPollMs, pendingPollDelayMs } from './poll.js';

describe('pendingPollDelayMs: reads just after HAProxy can decide, inter / 4 otherwise', () => {
  const hc500 = { intervalMs: 500, rise: 2 };
  const hc1s = { intervalMs: 1000, rise: 2 };
  // random 1 → jitter factor 1 (the upper end): the table shows the undisturbed cadence.
  it.each<{ name: string; hc?: { intervalMs: number; rise: number }; since?: number; want: number }>([
    { name: 'no health check: the fallback cadence', since: 0, want: 1000 },
    { name: 'adopted member (add time unknown): inter / 4', hc: hc500, want: 125 },
    { name: 'just added: sleep until (rise - 1) × inter + step (step = inter / 100, at least 5 ms)', hc: hc500, since: 0, want: 505 },
    { name: 'after that read: straight to rise × inter + step, when HAProxy decides', hc: hc500, since: 505, want: 500 },
    { name: 'inter 1 s: step 10 ms', hc: hc1s, since: 0, want: 1010 },
    { name: 'inter 10 s: step capped at 25 ms', hc: { intervalMs: 10_000, rise: 3 }, since: 19_000, want: 1025 },
    { name: 'result not there at the decision read: again after one step', hc: hc500, since: 1005, want: 5 },
    { name: '… after a lateness that doubles', hc: hc500, since: 1010, want: 10 },
    { name: '… and doubles', hc: hc500, since: 1040, want: 40 },
    { name: 'late by more than inter / 4: the steady cadence', hc: hc500, since: 1130, want: 125 },
    { name: 'long failing: the steady cadence', hc: hc500, since: 60_000, want: 125 },
    { name: 'rise 1: a read right after the add, then at inter + step', hc: { intervalMs: 200, rise: 1 }, since: 0, want: 5 },
    { name: 'tiny inter: never below 5 ms', hc: { intervalMs: 8, rise: 2 }, since: 100, want: 5 },
  ])('$name', ({ hc, since, want }) => {
    expect(pendingPollDelayMs(hc, since, 1000, () => 1)).toBe(want);
  });

  it('the steady cadence is jittered early, within [0.8, 1] × inter / 4', () => {
    expect(pendingPollDelayMs(hc500, undefined, 1000, () => 0)).toBe(100);
    expect(pendingPollDelayMs(hc500, 60_000, 1000, () => 0.5)).toBe(112.5);
  });

  it('the decision read is not jittered (an early read is wasted, a late one delays the gate)', () => {
    expect(pendingPollDelayMs(hc500, 505, 1000, () => 0)).toBe(500);
  });

  it('a result d ms after the decision is seen within max(step, d) of it', () => {
    for (const d of [1, 4, 7, 20, 60, 110]) {
      let t = 0;
      while (t < 1000 + d) t += pendingPollDelayMs(hc500, t, 1000, () => 1);
      expect(t - (1000 + d)).toBeLessThanOrEqual(Math.max(5, d) + 5);
    }
  });

  it('reads per member from add to a healthy decision at rise × inter: 2 (the old rule took ~42)', () => {
    let t = 0;
    let reads = 0;
    while (t < 1001) {
      t += pendingPollDelayMs(hc500, t, 1000, () => 1);
      reads++;
    }
    expect(reads).toBe(2);
  });
});

describe('nextPendingPollMs', () => {
  it('is the soonest member’s read; undefined when nothing waits', () => {
    const hc = { intervalMs: 500, rise: 2 };
    expect(nextPendingPollMs([], 1000, () => 1)).toBeUndefined();
    expect(
      nextPendingPollMs(
        [
          { healthCheck: hc, sinceAddedMs: 0 },
          { healthCheck: hc, sinceAddedMs: 1003 },
        ],
        1000,
        () => 1,
      ),
    ).toBe(2);
  });
});
