import { describe, expect, it } from 'vitest';
import { limiter, mapLimit } from './concurrency.js';

describe('mapLimit', () => {
  it('keeps order and never exceeds the limit', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 0, 6], 3, async (x) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, x * 3));
      inFlight -= 1;
      return x * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0, 60]);
    expect(peak).toBe(3);
  });

  it('handles empty input', async () => {
    expect(await mapLimit([], 4, async () => 1)).toEqual([]);
  });
});

describe('limiter', () => {
  it('runs calls arriving over time at most `limit` at once, in arrival order, and goes on after a failure', async () => {
    const limit = limiter(2);
    let inFlight = 0;
    let peak = 0;
    const started: number[] = [];
    const job = (x: number) =>
      limit(async () => {
        started.push(x);
        inFlight += 1;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight -= 1;
        if (x === 1) throw new Error('one failed');
        return x;
      });
    const first = [job(0), job(1), job(2)];
    await new Promise((r) => setTimeout(r, 1));
    const later = [job(3), job(4)];
    const results = await Promise.allSettled([...first, ...later]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'failed'))).toEqual([0, 'failed', 2, 3, 4]);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(peak).toBe(2);
  });
});
