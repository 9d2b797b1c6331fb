// One root class for every error podlb raises on purpose. `code` is stable (metrics, Events,
// tests match on it); `transient` tells the loop whether retrying can help without anyone
// changing an object.
export class PodlbError extends Error {
  readonly code: string;
  readonly transient: boolean;

  constructor(code: string, message: string, options: { cause?: unknown; transient?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.transient = options.transient ?? false;
  }
}

/**
 * Invalid user input: names the object and the field so the Event tells the user what to fix.
 * Never transient: it clears when the object changes.
 */
export class InvalidObjectError extends PodlbError {
  readonly kind: string;
  readonly objectName: string;
  readonly field: string;

  constructor(kind: string, objectName: string, field: string, problem: string) {
    super('INVALID_OBJECT', `${kind} ${objectName}: ${field}: ${problem}`);
    this.kind = kind;
    this.objectName = objectName;
    this.field = field;
  }
}

/** A component (BIRD socket, HAProxy instance, API server) did not answer; retry with backoff. */
export class UnreachableError extends PodlbError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, message, { cause, transient: true });
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// Metric label values must stay a small set: our own codes and Node's (ECONNREFUSED,
// UND_ERR_SOCKET) look like this; anything else (a message, an errno text) is "Other".
const CODE_SHAPE = /^[A-Z][A-Z0-9_]{0,39}$/;

/**
 * The stable code of an error, bounded for a metric label: a PodlbError's `code`, a Node
 * system error's `code`, else the first code along its `cause` chain; "Unknown" when none.
 */
export function errorCode(err: unknown): string {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth += 1) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return CODE_SHAPE.test(code) ? code : 'Other';
  }
  return 'Unknown';
}
