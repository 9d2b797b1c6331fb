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
