// Suite-wide check that a run leaves nothing on the machine (src/lab/leak-check.ts): the
// teardown fails the run, naming each leftover and how to remove it.
import { formatLeaks, formatPreexisting, startLeakWatch } from '../src/lab/leak-check.js';

export default async function setup(): Promise<() => Promise<void>> {
  const watch = await startLeakWatch();
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
