// The HTTPS face of the store: authentication and RBAC on every request (as the real server's
// filter chain, before routing), the REST paths, the review APIs, discovery, chunked watch
// streams, and the fault hooks the tests use (failNext, latency, closing every watch).
import type { IncomingMessage, ServerResponse, Server } from 'node:http';
import { createServer } from 'node:https';
import type { Socket } from 'node:net';
import { ApiError, badRequest, failure, methodNotAllowed, statusForCode, unsupportedMediaType } from './errors.js';
import type { Obj } from './resource-type.js';
import type { Authenticator } from './authn.js';
import { forbiddenFor, type RbacAuthorizer } from './rbac.js';
import { impersonatedUser } from './impersonation.js';
import { requestAttributes } from './request-info.js';
import { handleReview, isReviewRequest } from './reviews.js';
import { discovery } from './discovery.js';
import { drain, readBody, readJson, readText, resetConnection } from './http-io.js';
import { route, type Target } from './routing.js';
import { encodeBody, type Media, negotiate, notAcceptable, watchEncoder } from './media.js';
import type { ResourceType } from './resource-type.js';
import type { DeleteOptions, ObjectStore, PatchType, WatchHandle } from './store.js';
import type { UserInfo } from './user.js';

export interface FailRule {
  count: number;
  status: number;
  match?: (method: string, path: string) => boolean;
}

export interface DeniedRequest {
  username: string;
  method: string;
  path: string;
  message: string;
}

/** A response as its head went out: what the client asked for and what it was given. */
export interface ServedResponse {
  method: string;
  /** Path and query, as requested. */
  path: string;
  /** The request's Accept header ('' without one). */
  accept: string;
  code: number;
  contentType: string;
}

export interface HttpOptions {
  bookmarkIntervalMs: number;
  /** Serving certificate and key; `clientCaPem` verifies client certificates. */
  tls: { certPem: string; keyPem: string; clientCaPem: string };
  authn: Authenticator;
  authz: RbacAuthorizer;
  /** Told of every API response (a watch's at its start), so a test sees what was negotiated. */
  onResponse?: (r: ServedResponse) => void;
}

interface Negotiated {
  /** undefined: nothing acceptable was offered (406 for a resource request). */
  media: Media | undefined;
  /** The resource addressed, once routed. */
  rt: ResourceType | undefined;
}

interface ActiveWatch {
  handle: WatchHandle;
  res: ServerResponse;
  end(abrupt: boolean): void;
}

export class ApiHttpServer {
  readonly server: Server;
  #store: ObjectStore;
  #opts: HttpOptions;
  #watches = new Set<ActiveWatch>();
  #sockets = new Set<Socket>();
  #failRules: FailRule[] = [];
  latencyMs = 0;
  /** Every request RBAC refused (an audit log's Forbidden entries), oldest first. */
  readonly denied: DeniedRequest[] = [];
  /** Paths of stored fields the protobuf schema could not carry (the first 100): a test of fidelity asserts none. */
  readonly protobufDropped: string[] = [];

  constructor(store: ObjectStore, opts: HttpOptions) {
    this.#store = store;
    this.#opts = opts;
    // A client certificate is optional (requestCert without rejectUnauthorized): one that does
    // not chain to the client CA authenticates nobody, as on the real server.
    this.server = createServer(
      { cert: opts.tls.certPem, key: opts.tls.keyPem, ca: opts.tls.clientCaPem, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        void this.#handle(req, res);
      },
    );
    this.server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  failNext(rule: FailRule): void {
    if (rule.count > 0) this.#failRules.push({ ...rule });
  }

  /** End every open watch stream. `abrupt` resets the connection (what a crashed apiserver or a dropped LB connection looks like to the client); otherwise the chunked response ends cleanly, as at a watch timeout. */
  closeAllWatches(abrupt = true): void {
    for (const w of [...this.#watches]) w.end(abrupt);
  }

  get openWatchCount(): number {
    return this.#watches.size;
  }

  async close(): Promise<void> {
    this.closeAllWatches(true);
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.#sockets) s.destroy();
    });
  }

  #send(res: ServerResponse, code: number, body: unknown, m: Negotiated): void {
    if (res.headersSent) {
      res.end();
      return;
    }
    const dropped: string[] = [];
    const out = encodeBody(m.media ?? 'json', code, body as Obj, m.rt, dropped);
    if (dropped.length > 0) this.protobufDropped.push(...dropped.slice(0, Math.max(0, 100 - this.protobufDropped.length)));
    res.writeHead(out.code, { 'Content-Type': out.contentType, 'Content-Length': out.bytes.length, 'Cache-Control': 'no-cache, private' });
    res.end(out.bytes);
    this.#served(res, out.code, out.contentType);
  }

  #served(res: ServerResponse, code: number, contentType: string): void {
    const req = res.req;
    this.#opts.onResponse?.({ method: req.method ?? 'GET', path: req.url ?? '/', accept: req.headers.accept ?? '', code, contentType });
  }

  #sendError(res: ServerResponse, err: unknown, m: Negotiated): void {
    const e = err instanceof ApiError ? err : failure(500, 'InternalError', `Internal error occurred: ${err instanceof Error ? err.message : String(err)}`);
    this.#send(res, e.status.code, e.status, m);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // errors negotiate too: a client that asked for protobuf reads its Status as protobuf
    const m: Negotiated = { media: negotiate(req.headers.accept), rt: undefined };
    try {
      const method = req.method ?? 'GET';
      const rawUrl = req.url ?? '/';
      if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
      const rule = this.#failRules.find((r) => r.count > 0 && (!r.match || r.match(method, rawUrl)));
      if (rule) {
        rule.count--;
        if (rule.count === 0) this.#failRules.splice(this.#failRules.indexOf(rule), 1);
        await drain(req);
        const e = statusForCode(rule.status);
        if (e.status.details?.retryAfterSeconds) res.setHeader('Retry-After', String(e.status.details.retryAfterSeconds));
        this.#send(res, rule.status, e.status, m);
        return;
      }
      const url = new URL(rawUrl, 'http://localhost');
      const path = url.pathname.replace(/\/+$/, '') || '/';
      const authn = this.#opts.authn.authenticate(req);
      if (!authn.ok) {
        await drain(req);
        throw failure(401, 'Unauthorized', 'Unauthorized');
      }
      let user: UserInfo;
      try {
        user = impersonatedUser(req, authn.user, (a) => this.#opts.authz.allows(a));
      } catch (err) {
        await drain(req);
        if (err instanceof ApiError && err.status.code === 403)
          this.denied.push({ username: authn.user.username, method, path: rawUrl, message: err.status.message ?? '' });
        throw err;
      }
      const attrs = requestAttributes(user, method, url.pathname, url.searchParams);
      if (!this.#opts.authz.allows(attrs)) {
        await drain(req);
        const e = forbiddenFor(attrs);
        this.denied.push({ username: user.username, method, path: rawUrl, message: e.status.message ?? '' });
        throw e;
      }
      if (method === 'POST' && isReviewRequest(attrs)) {
        const out = handleReview(attrs, (await readBody(req)) as Obj, { store: this.#store, authn: this.#opts.authn, authz: this.#opts.authz, user });
        this.#send(res, 201, out, { media: 'json', rt: undefined });
        return;
      }
      if (method === 'GET' && (path === '/healthz' || path === '/readyz' || path === '/livez')) {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('ok');
        return;
      }
      if (method === 'GET') {
        const d = discovery(path, this.#store.resources(), req);
        if (d !== undefined) {
          this.#send(res, 200, d, { media: 'json', rt: undefined });
          return;
        }
      }
      const target = route(path, this.#store.resources());
      if (!target) throw failure(404, 'NotFound', 'the server could not find the requested resource');
      m.rt = target.rt;
      await this.#dispatch(method, target, url.searchParams, req, res, user, m);
    } catch (err) {
      this.#sendError(res, err, m);
    }
  }

  async #dispatch(method: string, t: Target, q: URLSearchParams, req: IncomingMessage, res: ServerResponse, user: UserInfo, m: Negotiated): Promise<void> {
    const store = this.#store;
    if (m.media === undefined) {
      await drain(req);
      throw notAcceptable();
    }
    const media = m.media;
    const res_ = `${t.rt.group}/${t.rt.version}/${t.rt.plural}`;
    const dryRun = q.getAll('dryRun').includes('All');
    if (t.subresource !== undefined && t.subresource !== 'status') throw failure(404, 'NotFound', 'the server could not find the requested resource');
    if (t.subresource === 'status' && !t.rt.statusSubresource) throw failure(404, 'NotFound', 'the server could not find the requested resource');
    if (t.name === undefined) {
      if (method === 'GET') {
        const watch = q.get('watch');
        if (watch === 'true' || watch === '1') {
          this.#watch(t, q, req, res, media);
          return;
        }
        const limit = q.get('limit');
        const rvm = q.get('resourceVersionMatch');
        const list = store.list(res_, {
          ...(t.namespace !== undefined ? { namespace: t.namespace } : {}),
          ...(q.get('labelSelector') ? { labelSelector: q.get('labelSelector')! } : {}),
          ...(q.get('fieldSelector') ? { fieldSelector: q.get('fieldSelector')! } : {}),
          ...(limit ? { limit: Number(limit) } : {}),
          ...(q.get('continue') ? { continue: q.get('continue')! } : {}),
          ...(q.get('resourceVersion') !== null ? { resourceVersion: q.get('resourceVersion')! } : {}),
          ...(rvm === 'Exact' || rvm === 'NotOlderThan' ? { resourceVersionMatch: rvm } : {}),
        });
        this.#send(res, 200, list, m);
        return;
      }
      if (method === 'POST') {
        if (t.rt.namespaced && t.namespace === undefined) throw methodNotAllowed();
        const body = await readBody(req);
        const created = store.create(res_, body as Obj, { ...(t.namespace !== undefined ? { namespace: t.namespace } : {}), dryRun, user, shareResult: true });
        this.#send(res, 201, created, m);
        return;
      }
      throw methodNotAllowed();
    }
    const ns = t.namespace;
    if (method === 'GET') {
      this.#send(res, 200, store.get(res_, t.name, ns), m);
      return;
    }
    if (method === 'PUT') {
      const body = (await readBody(req)) as Obj;
      const opts = { name: t.name, ...(ns !== undefined ? { namespace: ns } : {}), dryRun, user, shareResult: true };
      const out = t.subresource === 'status' ? store.updateStatus(res_, body, opts) : store.update(res_, body, opts);
      this.#send(res, 200, out, m);
      return;
    }
    if (method === 'PATCH') {
      const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
      const known = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];
      if (!known.includes(ct)) {
        await drain(req);
        throw unsupportedMediaType(ct, t.rt.custom ? known.filter((k) => !k.startsWith('application/strategic')) : known);
      }
      const body = ct === 'application/apply-patch+yaml' ? await drain(req).then(() => ({})) : await readJson(req);
      const out = store.patch(res_, t.name, ns, ct as PatchType, body, {
        ...(t.subresource === 'status' ? { subresource: 'status' as const } : {}),
        dryRun,
        user,
        shareResult: true,
      });
      this.#send(res, 200, out, m);
      return;
    }
    if (method === 'DELETE') {
      if (t.subresource) throw methodNotAllowed();
      const text = await readText(req);
      let opts: DeleteOptions = { user };
      if (text.trim() !== '') {
        try {
          const b = JSON.parse(text) as Obj;
          opts = {
            user,
            ...(typeof b.gracePeriodSeconds === 'number' ? { gracePeriodSeconds: b.gracePeriodSeconds } : {}),
            ...(b.preconditions ? { preconditions: b.preconditions } : {}),
            ...(b.propagationPolicy ? { propagationPolicy: b.propagationPolicy } : {}),
            ...(Array.isArray(b.dryRun) && b.dryRun.includes('All') ? { dryRun: true } : {}),
          };
        } catch (e) {
          throw badRequest(`json: ${(e as Error).message}`);
        }
      }
      const g = q.get('gracePeriodSeconds');
      if (g !== null && opts.gracePeriodSeconds === undefined) {
        if (!/^-?\d+$/.test(g)) throw badRequest(`invalid gracePeriodSeconds: ${g}`);
        opts.gracePeriodSeconds = Number(g);
      }
      const pp = q.get('propagationPolicy');
      if (pp && !opts.propagationPolicy) opts.propagationPolicy = pp as DeleteOptions['propagationPolicy'] & string;
      if (dryRun) opts.dryRun = true;
      this.#send(res, 200, store.delete(res_, t.name, ns, opts), m);
      return;
    }
    throw methodNotAllowed();
  }

  // ---------------- watch ----------------

  #watch(t: Target, q: URLSearchParams, req: IncomingMessage, res: ServerResponse, media: Media): void {
    const res_ = `${t.rt.group}/${t.rt.version}/${t.rt.plural}`;
    const dropped: string[] = [];
    const enc = watchEncoder(media, t.rt, dropped);
    const timeoutParam = q.get('timeoutSeconds');
    // without timeoutSeconds the real server picks a random timeout in [minRequestTimeout, 2x) = 30..60 min
    const timeoutMs = timeoutParam !== null && /^\d+$/.test(timeoutParam) ? Number(timeoutParam) * 1000 : (1800 + Math.random() * 1800) * 1000;
    const bookmarks = q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1';
    let timers: NodeJS.Timeout[] = [];
    let ended = false;
    const active: ActiveWatch = {
      handle: undefined as unknown as WatchHandle,
      res,
      end: (abrupt: boolean) => {
        if (ended) return;
        ended = true;
        for (const x of timers) clearTimeout(x);
        timers = [];
        this.#watches.delete(active);
        active.handle?.close();
        if (abrupt) resetConnection(res.socket);
        else res.end();
      },
    };
    // open the store watch first: a bad selector or resourceVersion answers as a plain error
    const handle = this.#store.openWatch(
      res_,
      {
        ...(t.namespace !== undefined ? { namespace: t.namespace } : {}),
        ...(q.get('labelSelector') ? { labelSelector: q.get('labelSelector')! } : {}),
        ...(q.get('fieldSelector') ? { fieldSelector: q.get('fieldSelector')! } : {}),
        ...(q.get('resourceVersion') !== null ? { resourceVersion: q.get('resourceVersion')! } : {}),
        // each event is only encoded onto the stream
        shared: true,
      },
      (ev) => {
        if (ended) return;
        const bytes = enc.encode(ev.type, ev.object);
        if (dropped.length > 0) this.protobufDropped.push(...dropped.splice(0).slice(0, Math.max(0, 100 - this.protobufDropped.length)));
        // an event the negotiated encoding cannot carry ends the stream, as the real server's encode error does
        if (bytes === undefined) active.end(false);
        else res.write(bytes);
      },
      () => active.end(false),
    );
    active.handle = handle;
    res.writeHead(200, { 'Content-Type': enc.contentType, 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    this.#served(res, 200, enc.contentType);
    this.#watches.add(active);
    timers.push(setTimeout(() => active.end(false), timeoutMs));
    if (bookmarks) {
      const tick = (): void => {
        handle.bookmark();
        timers.push(setTimeout(tick, this.#opts.bookmarkIntervalMs));
      };
      timers.push(setTimeout(tick, this.#opts.bookmarkIntervalMs));
    }
    req.on('close', () => active.end(false));
    res.on('close', () => active.end(false));
  }
}
