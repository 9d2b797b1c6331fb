// A controller replica as the controller suites run one: the webhook on an ephemeral loopback
// port and a lease short enough that a failover happens within a test's patience.
import { Controller, type ControllerOptions } from '../src/controller/controller.js';

/** Lease timing for tests: a lost leader is replaced within about a second. */
export const FAST_LEASE = { leaseDurationSeconds: 1, renewDeadlineMs: 700, retryPeriodMs: 100 } as const;

export function testController(o: Pick<ControllerOptions, 'kubeConfig' | 'log' | 'identity'> & Partial<ControllerOptions>): Controller {
  return new Controller({ webhookPort: 0, webhookHost: '127.0.0.1', ...FAST_LEASE, ...o });
}
