/** Capped exponential backoff with ±20% jitter, the shape every retry loop in podlb uses. */
export function backoffDelayMs(failures: number, { baseMs, maxMs }: { baseMs: number; maxMs: number }, random: () => number = Math.random): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1)) * (0.8 + 0.4 * random());
}
