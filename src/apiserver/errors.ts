// Kubernetes `Status` objects and the errors that carry them. Messages, reasons and details
// follow k8s.io/apimachinery/pkg/api/errors so clients that match on them behave as against a
// real API server.

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, unknown>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** An error the API answers with: `status` is the Status body sent to the client. */
export class ApiError extends Error {
  readonly status: Status;
  constructor(status: Status) {
    super(status.message ?? status.reason ?? `HTTP ${status.code}`);
    this.name = 'ApiError';
    this.status = status;
  }
  get code(): number {
    return this.status.code;
  }
  get reason(): string | undefined {
    return this.status.reason;
  }
}

export function failure(code: number, reason: string, message: string, details?: StatusDetails): ApiError {
  const status: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (details !== undefined) status.details = details;
  return new ApiError(status);
}

/** A group-qualified resource as the real API prints it: `pods`, `endpointslices.discovery.k8s.io`. */
export interface GroupResource {
  group: string;
  resource: string;
}

function qualified(gr: GroupResource): string {
  return gr.group === '' ? gr.resource : `${gr.resource}.${gr.group}`;
}

function grDetails(gr: GroupResource, name: string): StatusDetails {
  const d: StatusDetails = { name, kind: gr.resource };
  if (gr.group !== '') d.group = gr.group;
  return d;
}

export const notFound = (gr: GroupResource, name: string): ApiError => failure(404, 'NotFound', `${qualified(gr)} "${name}" not found`, grDetails(gr, name));

export const alreadyExists = (gr: GroupResource, name: string): ApiError =>
  failure(409, 'AlreadyExists', `${qualified(gr)} "${name}" already exists`, grDetails(gr, name));

export const conflict = (gr: GroupResource, name: string, why: string): ApiError =>
  failure(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(gr)} "${name}": ${why}`, grDetails(gr, name));

export const staleConflict = (gr: GroupResource, name: string): ApiError =>
  conflict(gr, name, 'the object has been modified; please apply your changes to the latest version and try again');

export const badRequest = (message: string): ApiError => failure(400, 'BadRequest', message);

export const forbidden = (gr: GroupResource, name: string, why: string): ApiError =>
  failure(403, 'Forbidden', `${qualified(gr)} "${name}" is forbidden: ${why}`, grDetails(gr, name));

export const methodNotAllowed = (message = 'the server does not allow this method on the requested resource'): ApiError =>
  failure(405, 'MethodNotAllowed', message);

export const unsupportedMediaType = (contentType: string, accepted: string[]): ApiError =>
  failure(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`, {
    causes: [{ reason: 'UnexpectedHeader', message: `unsupported media type: ${contentType}`, field: 'Content-Type' }],
  });

export const expired = (message: string): ApiError => failure(410, 'Expired', message);

export const tooOldResourceVersion = (requested: number, oldest: number): ApiError => expired(`too old resource version: ${requested} (${oldest})`);

export const timeout = (message: string, retryAfterSeconds = 1): ApiError => failure(504, 'Timeout', message, { retryAfterSeconds });

export const internalError = (message: string): ApiError =>
  failure(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ reason: '', message }] });

/** A field.Error from k8s.io/apimachinery/pkg/util/validation/field. */
export interface FieldError {
  type:
    | 'FieldValueRequired'
    | 'FieldValueInvalid'
    | 'FieldValueTypeInvalid'
    | 'FieldValueForbidden'
    | 'FieldValueNotSupported'
    | 'FieldValueDuplicate'
    | 'FieldValueTooLong'
    | 'FieldValueTooMany';
  field: string;
  value?: unknown;
  detail?: string;
}

const typeText: Record<FieldError['type'], string> = {
  FieldValueRequired: 'Required value',
  FieldValueInvalid: 'Invalid value',
  FieldValueTypeInvalid: 'Invalid value',
  FieldValueForbidden: 'Forbidden',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueDuplicate: 'Duplicate value',
  FieldValueTooLong: 'Too long',
  FieldValueTooMany: 'Too many',
};

const showsValue = new Set<FieldError['type']>(['FieldValueInvalid', 'FieldValueTypeInvalid', 'FieldValueNotSupported', 'FieldValueDuplicate']);

/** A field error as field.Error.Error() prints it: `spec.x: Invalid value: "v": detail`. */
export function fieldErrorText(e: FieldError): string {
  return `${e.field}: ${errorBody(e)}`;
}

function errorBody(e: FieldError): string {
  let s = typeText[e.type];
  if (showsValue.has(e.type)) s += `: ${JSON.stringify(e.value ?? null)}`;
  if (e.detail) s += `: ${e.detail}`;
  return s;
}

export const required = (field: string, detail?: string): FieldError => ({ type: 'FieldValueRequired', field, ...(detail ? { detail } : {}) });
export const invalid = (field: string, value: unknown, detail: string): FieldError => ({ type: 'FieldValueInvalid', field, value, detail });
export const forbiddenField = (field: string, detail: string): FieldError => ({ type: 'FieldValueForbidden', field, detail });
export const notSupported = (field: string, value: unknown, allowed: string[]): FieldError => ({
  type: 'FieldValueNotSupported',
  field,
  value,
  detail: `supported values: ${allowed.map((a) => JSON.stringify(a)).join(', ')}`,
});
export const duplicate = (field: string, value: unknown): FieldError => ({ type: 'FieldValueDuplicate', field, value });

/** 422 Invalid, as errors.NewInvalid builds it: `Kind "name" is invalid: [f: msg, ...]`. */
export function invalidError(group: string, kind: string, name: string, errs: FieldError[]): ApiError {
  const parts = errs.map((e) => `${e.field}: ${errorBody(e)}`);
  const joined = parts.length === 1 ? parts[0]! : `[${parts.join(', ')}]`;
  const details: StatusDetails = {
    name,
    kind,
    causes: errs.map((e) => ({ reason: e.type, message: errorBody(e), field: e.field })),
  };
  if (group !== '') details.group = group;
  const qualifiedKind = group === '' ? kind : `${kind}.${group}`;
  return failure(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${joined}`, details);
}

export function statusForCode(code: number, message?: string): ApiError {
  const reasons: Record<number, string> = {
    400: 'BadRequest',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'NotFound',
    405: 'MethodNotAllowed',
    409: 'Conflict',
    410: 'Expired',
    415: 'UnsupportedMediaType',
    422: 'Invalid',
    429: 'TooManyRequests',
    500: 'InternalError',
    503: 'ServiceUnavailable',
    504: 'Timeout',
  };
  const reason = reasons[code] ?? (code >= 500 ? 'InternalError' : 'BadRequest');
  const details: StatusDetails | undefined = code === 429 || code === 503 || code === 504 ? { retryAfterSeconds: 1 } : undefined;
  return failure(code, reason, message ?? `injected failure: ${reason}`, details);
}
