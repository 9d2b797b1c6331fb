import { describe, expect, it } from 'vitest';
import { backoff, jitter } from './backoff.js';

describe('backoff', () => {
  const policy = { baseMs: 250, maxMs: 30_000 };

  it.each([
    [1, 250],
    [2, 500],
    [3, 1000],
    [8, 30_000],
    [40, 30_000],
  ])('after %i failure(s) waits %i ms before jitter', (failures, ms) => {
    expect(backoff(failures, policy, () => 0.5)).toBeCloseTo(ms);
  });

  it('spreads ±20% by default, the bounds included', () => {
    expect(backoff(1, policy, () => 0)).toBeCloseTo(200);
    expect(backoff(1, policy, () => 0.999999)).toBeCloseTo(300);
  });

  it('takes a policy jitter range (equal jitter: half to full)', () => {
    expect(backoff(3, { baseMs: 200, maxMs: 3000, jitter: [0.5, 1] }, () => 0)).toBeCloseTo(400);
    expect(backoff(3, { baseMs: 200, maxMs: 3000, jitter: [0.5, 1] }, () => 1)).toBeCloseTo(800);
  });

  it('treats zero failures like the first', () => {
    expect(backoff(0, policy, () => 0.5)).toBeCloseTo(250);
  });

  it('jitters a plain interval within its range', () => {
    expect(jitter(1000, [1, 1.2], () => 0.5)).toBeCloseTo(1100);
    expect(jitter(25, [0.8, 1], () => 0)).toBeCloseTo(20);
  });
});
