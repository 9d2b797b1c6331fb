// Suite-wide check that a run leaves nothing on the machine (src/lab/leak-check.ts): the
// teardown fails the run, naming each leftover and how to remove it.
import { formatLeaks, formatPreexisting, startLeakWatch, type LeakWatch } from '../src/lab/leak-check.js';

export default async function setup(): Promise<() => Promise<void>> {
  let watch: LeakWatch;
  try {
    watch = await startLeakWatch();
  } catch (err) {
    // Not Linux, or no iproute2: the real-component suites cannot run here either.
    if (process.env.PODLB_REQUIRE_REAL === '1') throw err;
    process.stderr.write(`warning: cannot check what this run leaves behind: ${err instanceof Error ? err.message : String(err)}\n`);
    return async () => undefined;
  }
  // Reported, not failed: a leak from an earlier run must not be blamed on this one.
  if (watch.preexisting.length > 0) process.stderr.write(formatPreexisting(watch.preexisting));
  return async () => {
    const leaks = await watch.finish();
    if (leaks.length > 0) {
      // Vitest logs an error thrown here but still exits 0; the exit code is what CI reads.
      process.exitCode = 1;
      throw new Error(formatLeaks(leaks, 'this test run'));
    }
  };
}
