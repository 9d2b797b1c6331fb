// One summary for every bench, so figures printed side by side mean the same thing:
// nearest-rank percentiles over the sorted samples, in milliseconds.
export interface Summary {
  n: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
}

export function summarize(samples: readonly number[], digits = 3): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const round = (x: number): number => Number(x.toFixed(digits));
  const at = (q: number): number => round(s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN);
  return {
    n: s.length,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    meanMs: round(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)),
    maxMs: round(s[s.length - 1] ?? NaN),
  };
}

/** Wall time of `n` sequential calls, one sample each. */
export async function timeEach(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}
