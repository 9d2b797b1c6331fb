// Polling for a condition in tests: `probe` returns the awaited value, or undefined/false for
// "not yet". Unlike the lab's waitFor (src/lab/netns.ts), false counts as "not yet", so plain
// predicates read naturally, and a throwing probe fails at once.
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
  intervalMs = 20,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
