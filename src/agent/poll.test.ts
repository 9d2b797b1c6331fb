import { describe, expect, it } from 'vitest';
import { pendingPollDelayMs } from './poll.js';

describe('pendingPollDelayMs: reads cluster around when HAProxy can decide', () => {
  const hc200 = { intervalMs: 200, rise: 2 };
  const hc1s = { intervalMs: 1000, rise: 2 };
  it.each<{ name: string; hc?: { intervalMs: number; rise: number }; since?: number; want: number }>([
    { name: 'no health check: base cadence', since: 0, want: 25 },
    { name: 'adopted member (add time unknown): base cadence', hc: hc200, want: 25 },
    { name: 'just added, rise 2 × 200 ms: sleep until the first check could have passed', hc: hc200, since: 0, want: 190 },
    { name: 'inside the decision window: inter / 40, at least 5 ms', hc: hc200, since: 250, want: 5 },
    { name: 'inter 1 s: inter / 40 = 25 ms', hc: hc1s, since: 1500, want: 25 },
    { name: 'rise 1: the window opens at once', hc: { intervalMs: 200, rise: 1 }, since: 0, want: 5 },
    { name: 'well past the decision: back to the base cadence', hc: hc200, since: 700, want: 25 },
  ])('$name', ({ hc, since, want }) => {
    expect(pendingPollDelayMs(hc, since, 25)).toBe(want);
  });
});
