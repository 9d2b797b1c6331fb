// What the in-process API server answered when it refused a call, for tests that expect a refusal.
import { ApiError, type Status } from '../src/apiserver/errors.js';

/** The Status of the ApiError `fn` throws; any other throw passes through, success fails the test. */
export function refusal(fn: () => unknown): Status {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return e.status;
    throw e;
  }
  throw new Error('the call was accepted, not refused');
}
