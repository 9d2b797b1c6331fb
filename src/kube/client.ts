// A thin raw client over client-node's KubeConfig (auth, TLS, proxies all come from it).
//
// Why not client-node's typed APIs: they deserialise timestamps into Date objects, while the
// informers (informer.ts) cache the raw JSON shape. Mixing the two shapes in one cache breaks
// comparisons and patches. We use client-node for what it does well (KubeConfig, its
// authenticators) and send requests over undici, with the headers and dispatcher (TLS, client
// certificate, proxy) its applySecurityAuthentication puts in a RequestContext. undici's
// `request` rather than its `fetch`: fetch joins a repeated header into one comma-separated
// line, which the API server would read as one impersonated group.
import { createHash } from 'node:crypto';
import { type HttpMethod, type KubeConfig, RequestContext } from '@kubernetes/client-node';
import { type Dispatcher, request as undiciRequest } from 'undici';
import { PodlbError } from '../util/errors.js';

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
  readonly #kc: KubeConfig;
  readonly #server: string;
  readonly #timeoutMs: number;
  readonly #extraHeaders: readonly (readonly [string, string])[];
  /**
   * The one connection pool of this client's credential. client-node builds a new undici Agent
   * on every applySecurityAuthentication (one TLS handshake per API call, per node); requests
   * and watches share this one instead, and it is replaced only when the TLS material it was
   * built from (CA, client certificate and key, proxy, server name) changes, as a rotated
   * certificate file does.
   */
  #pool: { key: string; dispatcher: Dispatcher } | undefined;

  /**
   * `headers`: sent with every request after the kubeconfig's, as pairs so a name may repeat
   * (kubectl's --as-group sends one Impersonate-Group header per group).
   */
  constructor(kc: KubeConfig, opts: { timeoutMs?: number; headers?: readonly (readonly [string, string])[] } = {}) {
    this.#kc = kc;
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new PodlbError('NO_CLUSTER', 'the kubeconfig has no current cluster');
    this.#server = cluster.server.replace(/\/+$/, '');
    this.#timeoutMs = opts.timeoutMs ?? 15_000;
    this.#extraHeaders = opts.headers ?? [];
  }

  get kubeConfig(): KubeConfig {
    return this.#kc;
  }

  async request<T>(method: string, path: string, opts: { query?: Query; body?: unknown; contentType?: string } = {}): Promise<T> {
    const res = await this.#send(method, path, opts);
    const text = await res.body.text();
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** A GET whose body comes back unparsed, in whichever encoding the server chose from `accept`. */
  async getBytes(path: string, query: Query, accept: string, signal?: AbortSignal): Promise<{ contentType: string; body: Uint8Array }> {
    const res = await this.#send('GET', path, { query, accept, ...(signal ? { signal } : {}) });
    return { contentType: headerValue(res.headers['content-type']), body: new Uint8Array(await res.body.arrayBuffer()) };
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
    if (res.statusCode === 401 && forgetCachedFileToken(this.#kc)) {
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
    const ctx = new RequestContext(url.toString(), method as HttpMethod);
    await this.#kc.applySecurityAuthentication(ctx);
    // A flat name/value list: undici sends every pair as its own header line.
    const headers: string[] = [];
    for (const [k, v] of Object.entries(ctx.getHeaders())) headers.push(k, v);
    headers.push('Accept', opts.accept ?? 'application/json');
    if (opts.body !== undefined) headers.push('Content-Type', opts.contentType ?? 'application/json');
    for (const [k, v] of this.#extraHeaders) headers.push(k, v);
    const dispatcher = this.#dispatcher(ctx.getDispatcher());
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
      const bytes = Buffer.from(await res.body.arrayBuffer());
      return { ...res, body: bufferedBody(bytes) } as unknown as Dispatcher.ResponseData;
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      // Headers then a stalled body is told apart: the server is up but holding the reply.
      const why = timeout.aborted ? `${headersIn ? 'no complete answer' : 'no answer'} within ${this.#timeoutMs} ms` : (err as Error).message;
      throw new KubeApiError(0, 'Unreachable', `${method} ${path}: ${why}`);
    }
  }

  /**
   * The pooled dispatcher for the TLS material `fresh` was just built from. A kubeconfig
   * without TLS settings gets none from client-node: undici's global dispatcher, pooled already.
   */
  #dispatcher(fresh: Dispatcher | undefined): Dispatcher | undefined {
    if (!fresh) return undefined;
    const key = tlsKey(this.#kc);
    if (this.#pool?.key === key) {
      // Never connected: closing it costs nothing.
      void fresh.close().catch(() => undefined);
      return this.#pool.dispatcher;
    }
    const old = this.#pool;
    this.#pool = { key, dispatcher: fresh };
    // In-flight requests and open watches on the old credential finish on their connections.
    void old?.dispatcher.close().catch(() => undefined);
    return fresh;
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
    dump: () => Promise.resolve(),
    async *[Symbol.asyncIterator]() {
      yield bytes;
    },
  };
  return body as unknown as Dispatcher.ResponseData['body'];
}

/**
 * What the pool's connections were built from: the TLS material as client-node reads it for
 * every request (files are re-read, so a rotated client certificate changes the key), the
 * proxy and the server. applyHTTPSOptions is private in client-node's typings only.
 */
function tlsKey(kc: KubeConfig): string {
  const o: Record<string, unknown> = {};
  (kc as unknown as { applyHTTPSOptions(o: Record<string, unknown>): void }).applyHTTPSOptions(o);
  const cluster = kc.getCurrentCluster();
  const h = createHash('sha256');
  for (const k of ['ca', 'cert', 'key', 'rejectUnauthorized', 'servername']) h.update(`${k}=${String(o[k] ?? '')}\n`);
  h.update(`proxy=${cluster?.proxyUrl ?? ''}\nserver=${cluster?.server ?? ''}\n`);
  return h.digest('hex');
}

/**
 * Drops client-node's cached token-file token (its FileAuth re-reads only every 60 s), so the
 * next request, and the next watch on the same KubeConfig, reads the file again. Returns
 * whether the current user authenticates with a token file at all. The authenticator list is
 * private in client-node's typings; it is the only place the cache lives.
 */
export function forgetCachedFileToken(kc: KubeConfig): boolean {
  const tokenFile = (kc.getCurrentUser()?.authProvider as { config?: { tokenFile?: string } } | undefined)?.config?.tokenFile;
  if (!tokenFile) return false;
  const auths = (kc as unknown as { authenticators?: unknown[] }).authenticators ?? [];
  for (const a of auths) {
    const fa = a as { token?: unknown; lastRead?: unknown; refreshToken?: unknown };
    if (typeof fa.refreshToken === 'function' && 'lastRead' in fa) {
      fa.token = null;
      fa.lastRead = null;
    }
  }
  return true;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404;
}

export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 409;
}
