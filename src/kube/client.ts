// A thin raw-JSON client over client-node's KubeConfig (auth, TLS, proxies all come from it).
//
// Why not client-node's typed APIs: they deserialise timestamps into Date objects, while its
// Watch (and so every informer update) yields the raw JSON. Mixing the two shapes in one cache
// breaks comparisons and patches. We use client-node for what it does well (KubeConfig, Watch,
// ListWatch) and send requests the same way its Watch does: node-fetch + applyToFetchOptions.
import type { KubeConfig } from '@kubernetes/client-node';
import fetch from 'node-fetch';
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
  ) {
    super(`KUBE_${reason ? reason.toUpperCase() : status}`, message, { transient: status >= 500 || status === 429 || status === 0 });
  }
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
    const url = new URL(this.#server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, v);
    const init = (await this.#kc.applyToFetchOptions({})) as Record<string, unknown>;
    const headers: Record<string, string> = { ...((init.headers as Record<string, string>) ?? {}), Accept: 'application/json' };
    if (opts.body !== undefined) headers['Content-Type'] = opts.contentType ?? 'application/json';
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#timeoutMs);
    let res;
    try {
      res = await fetch(url.toString(), {
        ...init,
        method,
        headers: [...Object.entries(headers), ...this.#extraHeaders],
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: controller.signal as never,
      } as never);
    } catch (err) {
      throw new KubeApiError(0, 'Unreachable', `${method} ${path}: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
    const text = await res.text();
    if (!res.ok) {
      let reason = '';
      let message = text.slice(0, 500);
      try {
        const status = JSON.parse(text) as { reason?: string; message?: string };
        reason = status.reason ?? '';
        message = status.message ?? message;
      } catch {
        /* not a Status */
      }
      throw new KubeApiError(res.status, reason, `${method} ${path}: ${res.status} ${message}`);
    }
    return (text ? JSON.parse(text) : {}) as T;
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

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404;
}

export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 409;
}
