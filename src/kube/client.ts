// A thin raw client over undici, authenticated by Credentials: our own loader's (credentials.ts,
// the agent) or a client-node KubeConfig's (kubeconfig-credentials.ts, everyone else).
//
// Why not client-node's typed APIs: they deserialise timestamps into Date objects, while the
// informers (informer.ts) cache the raw JSON shape. Mixing the two shapes in one cache breaks
// comparisons and patches. client-node stays a type import here: loading it costs a per-node
// agent about 88 MB. undici's `request` rather than its `fetch`: fetch joins a repeated header
// into one comma-separated line, which the API server would read as one impersonated group.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Dispatcher } from 'undici';
import { PodlbError } from '../util/errors.js';
import type { Credentials } from './credentials.js';
import { credentialsOf, isKubeConfig } from './kubeconfig-credentials.js';
import { request as undiciRequest } from './undici-core.js';

type HttpMethod = Dispatcher.HttpMethod;

export type PatchType = 'merge' | 'strategic' | 'json';
const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
};

export class KubeApiError extends PodlbError {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    /** The server's Retry-After (429, 503): no retry may come sooner. */
    readonly retryAfterMs?: number,
  ) {
    super(`KUBE_${reason ? reason.toUpperCase() : status}`, message, { transient: status >= 500 || status === 429 || status === 0 });
  }
}

/** Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent or malformed. */
export function parseRetryAfterMs(value: string | null | undefined, now: number): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d{1,9}$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A retry delay that honours the server's Retry-After when it asks for more. */
export function retryDelayMs(err: unknown, delayMs: number): number {
  return err instanceof KubeApiError && err.retryAfterMs !== undefined ? Math.max(delayMs, err.retryAfterMs) : delayMs;
}

export interface ListResult<T> {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

type Query = Record<string, string | undefined>;

interface SendOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
  accept?: string;
  /** Ends the request (and a streaming body); without it, the client's timeout applies to headers and body. */
  signal?: AbortSignal;
  /** The body is a stream the caller reads for as long as it wants (a watch). */
  streaming?: boolean;
}

/** A response whose body the caller reads: bytes of a list, or a watch stream. */
export interface RawResponse {
  contentType: string;
  body: AsyncIterable<Uint8Array> & { arrayBuffer(): Promise<ArrayBuffer> };
}

export class KubeClient {
  readonly #creds: Credentials;
  readonly #server: string;
  readonly #timeoutMs: number;
  readonly #extraHeaders: readonly (readonly [string, string])[];
  /**
   * The one connection pool of this client's credential. Credentials offer a new undici Agent
   * for every request (client-node's would mean one TLS handshake per API call, per node);
   * requests and watches share this one instead, and it is replaced only when the TLS material
   * it was built from (CA, client certificate and key, proxy, server name) changes, as a
   * rotated certificate file does.
   */
  #pool: { key: string; dispatcher: Dispatcher } | undefined;

  /**
   * `headers`: sent with every request after the kubeconfig's, as pairs so a name may repeat
   * (kubectl's --as-group sends one Impersonate-Group header per group).
   */
  constructor(credentials: KubeConfig | Credentials, opts: { timeoutMs?: number; headers?: readonly (readonly [string, string])[] } = {}) {
    this.#creds = isKubeConfig(credentials) ? credentialsOf(credentials) : credentials;
    this.#server = this.#creds.server.replace(/\/+$/, '');
    this.#timeoutMs = opts.timeoutMs ?? 15_000;
    this.#extraHeaders = opts.headers ?? [];
  }

  async request<T>(method: string, path: string, opts: { query?: Query; body?: unknown; contentType?: string } = {}): Promise<T> {
    const res = await this.#send(method, path, opts);
    const text = await res.body.text();
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** A GET whose body comes back unparsed, in whichever encoding the server chose from `accept`. */
  async getBytes(path: string, query: Query, accept: string, signal?: AbortSignal): Promise<{ contentType: string; body: Uint8Array }> {
    const res = await this.#send('GET', path, { query, accept, ...(signal ? { signal } : {}) });
    return { contentType: headerValue(res.headers['content-type']), body: await res.body.bytes() };
  }

  /**
   * A GET whose body the caller reads as it arrives (a watch): no timeout once the headers are
   * in, so the caller's signal (and its own liveness check) decides when it ends.
   */
  async stream(path: string, query: Query, accept: string, signal: AbortSignal): Promise<RawResponse> {
    const res = await this.#send('GET', path, { query, accept, signal, streaming: true });
    return { contentType: headerValue(res.headers['content-type']), body: res.body };
  }

  /** Closes the connection pool; open watches end. */
  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.dispatcher.destroy().catch(() => undefined);
  }

  /** One request with the token-file retry rule; a non-2xx answer is thrown as a KubeApiError. */
  async #send(method: string, path: string, opts: SendOptions): Promise<Dispatcher.ResponseData> {
    let res = await this.#once(method, path, opts);
    // client-go's rule for a token read from a file (a projected ServiceAccount token): after a
    // 401 the cached token may be one the kubelet has since rotated, so re-read it and retry once.
    if (res.statusCode === 401 && this.#creds.forgetToken()) {
      await res.body.dump().catch(() => undefined);
      res = await this.#once(method, path, opts);
    }
    const status = res.statusCode;
    if (status >= 200 && status <= 299) return res;
    const text = await res.body.text().catch(() => '');
    let reason = '';
    let message = text.slice(0, 500);
    try {
      const parsed = JSON.parse(text) as { reason?: string; message?: string };
      reason = parsed.reason ?? '';
      message = parsed.message ?? message;
    } catch {
      /* not a JSON Status (a protobuf one, or a proxy's page): the code says enough */
    }
    throw new KubeApiError(status, reason, `${method} ${path}: ${status} ${message}`, parseRetryAfterMs(headerValue(res.headers['retry-after']), Date.now()));
  }

  /** One request; for a non-streaming one the body is buffered within the timeout. */
  async #once(method: string, path: string, opts: SendOptions): Promise<Dispatcher.ResponseData> {
    const url = new URL(this.#server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, v);
    const auth = await this.#creds.authenticate();
    // A flat name/value list: undici sends every pair as its own header line.
    const headers: string[] = [];
    for (const [k, v] of Object.entries(auth.headers)) headers.push(k, v);
    headers.push('Accept', opts.accept ?? 'application/json');
    if (opts.body !== undefined) headers.push('Content-Type', opts.contentType ?? 'application/json');
    for (const [k, v] of this.#extraHeaders) headers.push(k, v);
    const dispatcher = this.#dispatcher(auth.tls);
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    // A stream outlives the timeout: only its headers must arrive within it.
    const signal = opts.streaming ? (opts.signal ?? new AbortController().signal) : opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    let headersIn = false;
    try {
      const res = await undiciRequest(url, {
        method: method as HttpMethod,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        ...(dispatcher ? { dispatcher } : {}),
        signal,
        headersTimeout: this.#timeoutMs,
        // A watch is quiet between events; the informer's watchdog judges its silence.
        ...(opts.streaming ? { bodyTimeout: 0 } : {}),
      });
      headersIn = true;
      if (opts.streaming) return res;
      // Buffered here so that the timeout covers the body too.
      const read = await res.body.bytes();
      const bytes = Buffer.from(read.buffer, read.byteOffset, read.byteLength);
      return { ...res, body: bufferedBody(bytes) } as unknown as Dispatcher.ResponseData;
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      // Headers then a stalled body is told apart: the server is up but holding the reply.
      const why = timeout.aborted ? `${headersIn ? 'no complete answer' : 'no answer'} within ${this.#timeoutMs} ms` : (err as Error).message;
      throw new KubeApiError(0, 'Unreachable', `${method} ${path}: ${why}`);
    }
  }

  /**
   * The pooled dispatcher for the TLS material of this request. Credentials without TLS
   * settings get none: undici's global dispatcher, pooled already.
   */
  #dispatcher(tls: { key: string; dispatcher(): Dispatcher } | undefined): Dispatcher | undefined {
    if (!tls) return undefined;
    if (this.#pool?.key === tls.key) return this.#pool.dispatcher;
    const old = this.#pool;
    this.#pool = { key: tls.key, dispatcher: tls.dispatcher() };
    // In-flight requests and open watches on the old credential finish on their connections.
    void old?.dispatcher.close().catch(() => undefined);
    return this.#pool.dispatcher;
  }

  list<T>(path: string, query: { labelSelector?: string; fieldSelector?: string } = {}): Promise<ListResult<T>> {
    return this.request<ListResult<T>>('GET', path, { query });
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  create<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, { body });
  }

  patch<T>(path: string, body: unknown, type: PatchType): Promise<T> {
    return this.request<T>('PATCH', path, { body, contentType: PATCH_CONTENT_TYPE[type] });
  }
}

function headerValue(v: string | string[] | undefined): string {
  return (Array.isArray(v) ? v[0] : v) ?? '';
}

function bufferedBody(bytes: Buffer): Dispatcher.ResponseData['body'] {
  const body = {
    text: () => Promise.resolve(bytes.toString('utf8')),
    arrayBuffer: () => Promise.resolve(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)),
    // The buffer itself, not a copy: a list page can be megabytes.
    bytes: () => Promise.resolve(bytes),
    dump: () => Promise.resolve(),
    async *[Symbol.asyncIterator]() {
      yield bytes;
    },
  };
  return body as unknown as Dispatcher.ResponseData['body'];
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404;
}

export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 409;
}
