// HTTP client for Keystone v3 and the Octavia v2 API: one token per client, cached and
// refreshed before it expires and once on a 401; the load-balancer endpoint from the
// token's service catalog; 409 "immutable" (the LB is PENDING_*) retried with jittered
// backoff inside a bounded time; every failure a typed error; every call counted.
//
// Octavia has no microversion header: its minor versions (2.0 … 2.x) are additive on the
// same /v2 path, so this client sends none and uses only fields every 2.x has (`tags` since
// 2.5). Pagination `links` are built by Octavia from its own idea of its URL (wrong behind
// some proxies), so only the `marker` is taken from them; the URL stays the catalog's.
import { KeystoneAuthError, OctaviaApiError, OctaviaPendingError } from './octavia-errors.js';
import type { OctaviaCredentials } from './octavia-credentials.js';
import { UnreachableError } from '../util/errors.js';
import { backoff } from '../util/backoff.js';

export type FetchLike = (input: string, init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal }) => Promise<Response>;

export interface OctaviaClientOptions {
  /** Keystone URL, e.g. https://keystone.example.com:5000/v3 (a URL without a version gets /v3). */
  authURL: string;
  /** Catalog region; required when the catalog offers load-balancer endpoints in several. */
  region?: string;
  /** Catalog interface. Default public. */
  interface?: 'public' | 'internal';
  credentials: OctaviaCredentials;
  fetch?: FetchLike;
  now?: () => number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Per HTTP request. Default 10 s. */
  requestTimeoutMs?: number;
  /** 409 while PENDING_*: delays double from baseMs up to maxMs (each drawn in [d/2, d)), for at most budgetMs. */
  pendingRetry?: { baseMs?: number; maxMs?: number; budgetMs?: number };
  /** Re-authenticate this long before the token expires (at most a quarter of its lifetime). Default 5 min. */
  refreshMarginMs?: number;
}

export interface OctaviaCounters {
  /** HTTP requests sent to Octavia (retries included). */
  octaviaCalls: number;
  /** POST /v3/auth/tokens requests. */
  keystoneCalls: number;
  /** 409-while-pending replies that were retried. */
  pendingRetries: number;
  /** Tokens dropped because Octavia answered 401. */
  unauthorizedRefreshes: number;
}

/**
 * The parts of an OpenStack (Octavia or Keystone) JSON reply that are read, all unknown: a reply is
 * untrusted, so every use checks the type it needs. Collections are read by key (`pools`, `members`).
 */
export interface OpenStackReplyBody {
  [field: string]: unknown;
  faultstring?: unknown;
  error?: { message?: unknown };
  member?: { id?: unknown };
  loadbalancer?: { provisioning_status?: unknown };
  token?: { catalog?: unknown; expires_at?: unknown; issued_at?: unknown };
}

export interface OctaviaReply {
  status: number;
  body: OpenStackReplyBody | undefined;
  fault: string;
}

interface Token {
  value: string;
  expiresAt: number;
  refreshAt: number;
  endpoint: string;
}

const RETRYABLE_FAULT = /immutable/i;
const QUOTA_FAULT = /quota/i;

export function keystoneTokensUrl(authURL: string): string {
  const u = authURL.replace(/\/+$/, '');
  if (/\/v3$/.test(u)) return `${u}/auth/tokens`;
  if (/\/v2(\.0)?$/.test(u)) throw new KeystoneAuthError('KEYSTONE_UNSUPPORTED_VERSION', `authURL ${authURL}: Keystone v2 is not supported; use the v3 URL`, 0);
  return `${u}/v3/auth/tokens`;
}

export class OctaviaClient {
  readonly counters: OctaviaCounters = { octaviaCalls: 0, keystoneCalls: 0, pendingRetries: 0, unauthorizedRefreshes: 0 };
  readonly #opts: OctaviaClientOptions;
  readonly #fetch: FetchLike;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  #token?: Token;
  #authInFlight?: Promise<Token>;

  constructor(opts: OctaviaClientOptions) {
    this.#opts = opts;
    keystoneTokensUrl(opts.authURL); // fail early on a v2 URL
    this.#fetch = opts.fetch ?? ((input, init) => fetch(input, init));
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
    this.#sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** The load-balancer endpoint in use (authenticates if needed). */
  async endpoint(): Promise<string> {
    return (await this.#validToken()).endpoint;
  }

  /**
   * One Octavia call. 2xx and the statuses in `accept` are returned; 401 re-authenticates once;
   * 409 "immutable" is retried (when `retryPending`) until the budget is spent; the rest throw.
   */
  async request(
    method: string,
    path: string,
    opts: {
      query?: URLSearchParams;
      body?: unknown;
      accept?: number[];
      retryPending?: boolean;
      /** Called on the first 409 "immutable"; it may throw to stop the retries (the LB is in ERROR). */
      onImmutable?: () => Promise<void>;
    } = {},
  ): Promise<OctaviaReply> {
    const { baseMs = 200, maxMs = 3000, budgetMs = 30_000 } = this.#opts.pendingRetry ?? {};
    const start = this.#now();
    let attempts = 0;
    for (;;) {
      const reply = await this.#authorized(method, path, opts);
      attempts += 1;
      if (reply.status === 409 && opts.retryPending && RETRYABLE_FAULT.test(reply.fault)) {
        if (attempts === 1) await opts.onImmutable?.();
        // Equal jitter (half to all of the delay): every agent's write waits at least half.
        const wait = backoff(attempts, { baseMs, maxMs, jitter: [0.5, 1] }, this.#random);
        if (this.#now() - start + wait > budgetMs) {
          throw new OctaviaPendingError(
            `Octavia ${method} ${path}: the load balancer stayed immutable (PENDING_*) for ${Math.round(this.#now() - start)} ms over ${attempts} attempts: ${reply.fault}`,
            { status: 409, method, path, fault: reply.fault },
            attempts,
          );
        }
        this.counters.pendingRetries += 1;
        await this.#sleep(wait);
        continue;
      }
      if ((reply.status >= 200 && reply.status < 300) || opts.accept?.includes(reply.status)) return reply;
      throw this.#error(method, path, reply);
    }
  }

  /** GET every page of a collection (`<key>` + `<key>_links`), following `next` markers. */
  async listAll<T>(path: string, key: string, query: URLSearchParams = new URLSearchParams(), pageSize?: number): Promise<T[]> {
    const q = new URLSearchParams(query);
    if (pageSize !== undefined) q.set('limit', String(pageSize));
    const out: T[] = [];
    const seen = new Set<string>();
    for (;;) {
      const { body } = await this.request('GET', path, { query: q });
      const page: unknown = body?.[key];
      if (!Array.isArray(page))
        throw new OctaviaApiError(
          'OCTAVIA_BAD_REPLY',
          `Octavia GET ${path}: reply has no ${key} list`,
          { status: 200, method: 'GET', path },
          { transient: true },
        );
      out.push(...(page as T[]));
      const links: unknown = body?.[`${key}_links`];
      const next = Array.isArray(links) ? (links as { rel?: string; href?: string }[]).find((l) => l.rel === 'next') : undefined;
      if (!next?.href || page.length === 0) return out;
      let marker: string | null;
      try {
        marker = new URL(next.href).searchParams.get('marker');
      } catch {
        marker = null;
      }
      if (!marker || seen.has(marker)) {
        throw new OctaviaApiError(
          'OCTAVIA_BAD_REPLY',
          `Octavia GET ${path}: unusable next link ${JSON.stringify(next.href)}`,
          { status: 200, method: 'GET', path },
          { transient: true },
        );
      }
      seen.add(marker);
      q.set('marker', marker);
    }
  }

  /** Drops the cached token (tests; a credentials Secret that changed). */
  forgetToken(): void {
    this.#token = undefined;
  }

  async #authorized(method: string, path: string, opts: { query?: URLSearchParams; body?: unknown }): Promise<OctaviaReply> {
    let token = await this.#validToken();
    let reply = await this.#send(token, method, path, opts);
    if (reply.status !== 401) return reply;
    // Revoked or expired early (a Keystone restart, a clock skew): one fresh token, one retry.
    this.counters.unauthorizedRefreshes += 1;
    if (this.#token === token) this.#token = undefined;
    token = await this.#validToken();
    reply = await this.#send(token, method, path, opts);
    if (reply.status === 401) {
      throw new OctaviaApiError(
        'OCTAVIA_UNAUTHORIZED',
        `Octavia ${method} ${path}: 401 even with a token Keystone just issued; check that the credentials' project may use the load balancer`,
        { status: 401, method, path, fault: reply.fault },
      );
    }
    return reply;
  }

  async #send(token: Token, method: string, path: string, opts: { query?: URLSearchParams; body?: unknown }): Promise<OctaviaReply> {
    const qs = opts.query && [...opts.query.keys()].length > 0 ? `?${opts.query.toString()}` : '';
    const url = `${token.endpoint}${path}${qs}`;
    this.counters.octaviaCalls += 1;
    let res: Response;
    try {
      res = await this.#fetch(url, {
        method,
        headers: { 'x-auth-token': token.value, accept: 'application/json', ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        signal: AbortSignal.timeout(this.#opts.requestTimeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new UnreachableError('OCTAVIA_UNREACHABLE', `Octavia ${method} ${path}: ${(err as Error).message ?? String(err)}`, err);
    }
    // The timeout's signal also aborts the body: a stalled or cut reply is no answer, not an empty one.
    const text = await res.text().catch((err: unknown) => {
      throw new UnreachableError(
        'OCTAVIA_UNREACHABLE',
        `Octavia ${method} ${path}: ${res.status} reply cut off: ${(err as Error).message ?? String(err)}`,
        err,
      );
    });
    let body: OpenStackReplyBody | undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
    }
    const fault = typeof body?.faultstring === 'string' ? body.faultstring : typeof body?.error?.message === 'string' ? body.error.message : text.slice(0, 200);
    if (res.ok && text && body === undefined) {
      throw new OctaviaApiError(
        'OCTAVIA_BAD_REPLY',
        `Octavia ${method} ${path}: ${res.status} with a body that is not JSON`,
        { status: res.status, method, path },
        { transient: true },
      );
    }
    return { status: res.status, body, fault };
  }

  #error(method: string, path: string, r: OctaviaReply): Error {
    const req = { status: r.status, method, path, fault: r.fault };
    const what = `Octavia ${method} ${path}: ${r.status}${r.fault ? ` ${r.fault}` : ''}`;
    if (r.status >= 500 || r.status === 429) return new UnreachableError('OCTAVIA_UNAVAILABLE', what);
    if (r.status === 400) return new OctaviaApiError('OCTAVIA_BAD_REQUEST', what, req);
    // Octavia answers a quota hit with 403 too (QuotaException, octavia/common/exceptions.py:314-316).
    if (r.status === 403 && QUOTA_FAULT.test(r.fault))
      return new OctaviaApiError('OCTAVIA_QUOTA', `${what} (the project's Octavia quota is used up; raise it or remove members)`, req);
    if (r.status === 403)
      return new OctaviaApiError(
        'OCTAVIA_FORBIDDEN',
        `${what} (the credentials' roles do not allow this; they need load-balancer_member on the LB's project)`,
        req,
      );
    if (r.status === 404) return new OctaviaApiError('OCTAVIA_NOT_FOUND', what, req);
    if (r.status === 409) return new OctaviaApiError('OCTAVIA_CONFLICT', what, req);
    return new OctaviaApiError('OCTAVIA_API_ERROR', what, req);
  }

  async #validToken(): Promise<Token> {
    const t = this.#token;
    if (t && this.#now() < t.refreshAt) return t;
    // Single flight: concurrent callers share one POST /v3/auth/tokens.
    this.#authInFlight ??= this.#authenticate().finally(() => {
      this.#authInFlight = undefined;
    });
    const fresh = await this.#authInFlight;
    this.#token = fresh;
    return fresh;
  }

  async #authenticate(): Promise<Token> {
    const c = this.#opts.credentials;
    const url = keystoneTokensUrl(this.#opts.authURL);
    const identity =
      c.type === 'password'
        ? { methods: ['password'], password: { user: { name: c.username, domain: { name: c.userDomainName ?? 'Default' }, password: c.password } } }
        : { methods: ['application_credential'], application_credential: { id: c.id, secret: c.secret } };
    // An application credential is bound to its project: Keystone refuses a scope with it.
    const scope =
      c.type === 'password' && (c.projectId || c.projectName)
        ? { project: c.projectId ? { id: c.projectId } : { name: c.projectName, domain: { name: c.projectDomainName ?? 'Default' } } }
        : undefined;
    const who = c.type === 'password' ? `user ${c.username} (domain ${c.userDomainName ?? 'Default'})` : `application credential ${c.id}`;
    this.counters.keystoneCalls += 1;
    const sentAt = this.#now();
    let res: Response;
    try {
      res = await this.#fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ auth: { identity, ...(scope ? { scope } : {}) } }),
        signal: AbortSignal.timeout(this.#opts.requestTimeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new UnreachableError('KEYSTONE_UNREACHABLE', `Keystone ${url}: ${(err as Error).message ?? String(err)}`, err);
    }
    const text = await res.text().catch((err: unknown) => {
      throw new UnreachableError('KEYSTONE_UNREACHABLE', `Keystone ${url}: ${res.status} reply cut off: ${(err as Error).message ?? String(err)}`, err);
    });
    let body: OpenStackReplyBody | undefined;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    const kmsg = typeof body?.error?.message === 'string' ? `: ${body.error.message}` : '';
    if (res.status >= 500 || res.status === 429) throw new UnreachableError('KEYSTONE_UNAVAILABLE', `Keystone ${url}: ${res.status}${kmsg}`);
    if (res.status === 401) {
      throw new KeystoneAuthError(
        'KEYSTONE_AUTH_FAILED',
        `Keystone ${url} rejected ${who}${scope ? ` for project ${c.type === 'password' ? (c.projectId ?? c.projectName) : ''}` : ''} (401): check the credentials Secret of the LoadBalancerClass`,
        401,
      );
    }
    if (res.status !== 201 && res.status !== 200) {
      throw new KeystoneAuthError(
        res.status === 404 ? 'KEYSTONE_NOT_FOUND' : 'KEYSTONE_AUTH_FAILED',
        `Keystone ${url} answered ${res.status}${kmsg} for ${who}: check spec.octavia.authURL and the credentials Secret`,
        res.status,
      );
    }
    const value = res.headers.get('x-subject-token');
    const expiresAt = Date.parse(String(body?.token?.expires_at ?? ''));
    if (!value || !Number.isFinite(expiresAt)) {
      throw new KeystoneAuthError('KEYSTONE_BAD_REPLY', `Keystone ${url}: reply without X-Subject-Token or token.expires_at`, res.status, { transient: true });
    }
    const endpoint = this.#pickEndpoint(body?.token?.catalog);
    // Keystone's clock may differ from ours: trust the lifetime, not the absolute time.
    const issuedAt = Date.parse(String(body?.token?.issued_at ?? ''));
    const lifetime = Number.isFinite(issuedAt) ? expiresAt - issuedAt : expiresAt - Date.now();
    const localExpiry = sentAt + Math.max(0, lifetime);
    const margin = Math.min(this.#opts.refreshMarginMs ?? 300_000, lifetime / 4);
    return { value, expiresAt: localExpiry, refreshAt: localExpiry - margin, endpoint };
  }

  #pickEndpoint(catalog: unknown): string {
    const iface = this.#opts.interface ?? 'public';
    const region = this.#opts.region;
    if (!Array.isArray(catalog)) {
      throw new KeystoneAuthError(
        'OCTAVIA_ENDPOINT_NOT_FOUND',
        'Keystone token has no service catalog (an unscoped token): set projectName or projectId in the credentials',
        201,
      );
    }
    const services = (catalog as { type?: string; endpoints?: { interface?: string; region?: string; region_id?: string; url?: string }[] }[]).filter(
      (s) => s.type === 'load-balancer',
    );
    const all = services.flatMap((s) => s.endpoints ?? []);
    const matching = all.filter(
      (e) => e.interface === iface && (region === undefined || e.region === region || e.region_id === region) && typeof e.url === 'string',
    );
    const regions = [...new Set(matching.map((e) => e.region_id ?? e.region))];
    if (matching.length === 0 || (region === undefined && regions.length > 1)) {
      const offered = all.map((e) => `${e.region_id ?? e.region}/${e.interface}`).join(', ') || 'none';
      const why =
        matching.length === 0
          ? `no ${iface} load-balancer endpoint${region ? ` in region ${region}` : ''}`
          : `load-balancer endpoints in several regions (${regions.join(', ')}): set spec.octavia.region`;
      throw new KeystoneAuthError('OCTAVIA_ENDPOINT_NOT_FOUND', `Keystone catalog: ${why} (offered: ${offered})`, 201);
    }
    // http://host:9876/ and http://host/load-balancer are both seen; calls go to <url>/v2/lbaas/...
    return matching[0]!.url!.replace(/\/+$/, '').replace(/\/v2(\.0)?$/, '');
  }
}
