// Typed errors of the Octavia provider. Permanent ones need someone to change an object (a
// Secret, the LoadBalancerClass, the Octavia configuration); transient ones clear by retrying.
// Network failures and 5xx are UnreachableError (transient) so the member reconciler backs
// off and keeps what it registered.
import { PodlbError } from '../util/errors.js';

/** Keystone refused or could not parse our request: wrong credentials, wrong domain/project, wrong auth URL. */
export class KeystoneAuthError extends PodlbError {
  readonly status: number;
  constructor(code: string, message: string, status: number, options: { transient?: boolean; cause?: unknown } = {}) {
    super(code, message, options);
    this.status = status;
  }
}

/** An Octavia reply that is not what we asked for. `fault` is Octavia's faultstring. */
export class OctaviaApiError extends PodlbError {
  readonly status: number;
  readonly method: string;
  readonly path: string;
  readonly fault: string;
  constructor(
    code: string,
    message: string,
    req: { status: number; method: string; path: string; fault?: string },
    options: { transient?: boolean; cause?: unknown } = {},
  ) {
    super(code, message, options);
    this.status = req.status;
    this.method = req.method;
    this.path = req.path;
    this.fault = req.fault ?? '';
  }
}

/** The load balancer stayed PENDING_* (409 "immutable") for the whole retry budget. Transient. */
export class OctaviaPendingError extends OctaviaApiError {
  readonly attempts: number;
  constructor(message: string, req: { status: number; method: string; path: string; fault?: string }, attempts: number) {
    super('OCTAVIA_LB_PENDING', message, req, { transient: true });
    this.attempts = attempts;
  }
}
