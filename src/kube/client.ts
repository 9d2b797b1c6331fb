// A thin raw-JSON client over client-node's KubeConfig (auth, TLS, proxies all come from it).
//
// Why not client-node's typed APIs: they deserialise timestamps into Date objects, while its
// Watch (and so every informer update) yields the raw JSON. Mixing the two shapes in one cache
// breaks comparisons and patches. We use client-node for what it does well (KubeConfig, Watch,
// ListWatch) and send requests over the same stack as its Watch: undici, with the headers and
// dispatcher (TLS, client certificate, proxy) its applySecurityAuthentication puts in a
// RequestContext. undici's `request` rather than its `fetch`: fetch joins a repeated header
// into one comma-separated line, which the API server would read as one impersonated group.
import { type HttpMethod, type KubeConfig, RequestContext } from '@kubernetes/client-node';
import { request as undiciRequest } from 'undici';
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

export class KubeClient {
  readonly #kc: KubeConfig;
  readonly #server: string;
  readonly #timeoutMs: number;
  readonly #extraHeaders: readonly (readonly [string, string])[];

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

  async request<T>(method: string, path: string, opts: { query?: Record<string, string | undefined>; body?: unknown; contentType?: string } = {}): Promise<T> {
    let res = await this.#send(method, path, opts);
    // client-go's rule for a token read from a file (a projected ServiceAccount token): after a
    // 401 the cached token may be one the kubelet has since rotated, so re-read it and retry once.
    if (res.status === 401 && forgetCachedFileToken(this.#kc)) res = await this.#send(method, path, opts);
    const { status, text } = res;
    if (status < 200 || status > 299) {
      let reason = '';
      let message = text.slice(0, 500);
      try {
        const parsed = JSON.parse(text) as { reason?: string; message?: string };
        reason = parsed.reason ?? '';
        message = parsed.message ?? message;
      } catch {
        /* not a Status */
      }
      throw new KubeApiError(status, reason, `${method} ${path}: ${status} ${message}`, parseRetryAfterMs(res.retryAfter, Date.now()));
    }
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** One request, its body read within the timeout. */
  async #send(
    method: string,
    path: string,
    opts: { query?: Record<string, string | undefined>; body?: unknown; contentType?: string },
  ): Promise<{ status: number; text: string; retryAfter: string | undefined }> {
    const url = new URL(this.#server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, v);
    const ctx = new RequestContext(url.toString(), method as HttpMethod);
    await this.#kc.applySecurityAuthentication(ctx);
    // A flat name/value list: undici sends every pair as its own header line.
    const headers: string[] = [];
    for (const [k, v] of Object.entries(ctx.getHeaders())) headers.push(k, v);
    headers.push('Accept', 'application/json');
    if (opts.body !== undefined) headers.push('Content-Type', opts.contentType ?? 'application/json');
    for (const [k, v] of this.#extraHeaders) headers.push(k, v);
    // client-node builds a fresh undici Agent per call; closing it once the body is read keeps
    // idle TLS connections from piling up (a kubeconfig without TLS settings gets none: undici's
    // global dispatcher, left alone).
    const dispatcher = ctx.getDispatcher();
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let headersIn = false;
    try {
      const res = await undiciRequest(url, {
        method: method as HttpMethod,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        ...(dispatcher ? { dispatcher } : {}),
        signal,
      });
      headersIn = true;
      const retryAfter = res.headers['retry-after'];
      return { status: res.statusCode, text: await res.body.text(), retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter };
    } catch (err) {
      // Headers then a stalled body is told apart: the server is up but holding the reply.
      const why = signal.aborted ? `${headersIn ? 'no complete answer' : 'no answer'} within ${this.#timeoutMs} ms` : (err as Error).message;
      throw new KubeApiError(0, 'Unreachable', `${method} ${path}: ${why}`);
    } finally {
      void dispatcher?.close().catch(() => undefined);
    }
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
