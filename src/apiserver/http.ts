// The HTTPS face of the store: authentication and RBAC on every request (as the real server's
// filter chain, before routing), the REST paths, the review APIs, discovery, chunked watch
// streams, and the fault hooks the tests use (failNext, latency, closing every watch).
import type { IncomingMessage, ServerResponse, Server } from 'node:http';
import { createServer } from 'node:https';
import type { Socket } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { ApiError, badRequest, failure, methodNotAllowed, statusForCode, unsupportedMediaType } from './errors.js';
import { type Obj, type ResourceType, apiVersionOf } from './resources.js';
import type { Authenticator } from './authn.js';
import { forbiddenFor, type RbacAuthorizer } from './rbac.js';
import { impersonatedUser } from './impersonation.js';
import { requestAttributes } from './request-info.js';
import { handleReview, isReviewRequest } from './reviews.js';
import type { DeleteOptions, ObjectStore, PatchType, WatchHandle } from './store.js';
import type { UserInfo } from './user.js';

export const SERVER_VERSION = {
  major: '1',
  minor: '34',
  gitVersion: 'v1.34.0-podlb',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2025-08-27T00:00:00Z',
  goVersion: 'go1.24.6',
  compiler: 'gc',
  platform: 'linux/amd64',
};

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

export interface HttpOptions {
  bookmarkIntervalMs: number;
  /** Serving certificate and key; `clientCaPem` verifies client certificates. */
  tls: { certPem: string; keyPem: string; clientCaPem: string };
  authn: Authenticator;
  authz: RbacAuthorizer;
}

interface ActiveWatch {
  handle: WatchHandle;
  res: ServerResponse;
  end(abrupt: boolean): void;
}

interface Target {
  rt: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

const RESOURCE_VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

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

  constructor(store: ObjectStore, opts: HttpOptions) {
    this.#store = store;
    this.#opts = opts;
    // A client certificate is optional (requestCert without rejectUnauthorized): one that does
    // not chain to the client CA authenticates nobody, as on the real server.
    this.server = createServer({ cert: opts.tls.certPem, key: opts.tls.keyPem, ca: opts.tls.clientCaPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      void this.#handle(req, res);
    });
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

  #send(res: ServerResponse, code: number, body: unknown): void {
    if (res.headersSent) {
      res.end();
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
    res.end(text);
  }

  #sendError(res: ServerResponse, err: unknown): void {
    const e = err instanceof ApiError ? err : failure(500, 'InternalError', `Internal error occurred: ${err instanceof Error ? err.message : String(err)}`);
    this.#send(res, e.status.code, e.status);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
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
        this.#send(res, rule.status, e.status);
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
        if (err instanceof ApiError && err.status.code === 403) this.denied.push({ username: authn.user.username, method, path: rawUrl, message: err.status.message ?? '' });
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
        this.#send(res, 201, out);
        return;
      }
      if (method === 'GET' && (path === '/healthz' || path === '/readyz' || path === '/livez')) {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('ok');
        return;
      }
      if (method === 'GET') {
        const d = this.#discovery(path, req);
        if (d !== undefined) {
          this.#send(res, 200, d);
          return;
        }
      }
      const target = this.#route(path);
      if (!target) throw failure(404, 'NotFound', 'the server could not find the requested resource');
      await this.#dispatch(method, target, url.searchParams, req, res, user);
    } catch (err) {
      this.#sendError(res, err);
    }
  }

  // ---------------- discovery ----------------

  #discovery(path: string, req: IncomingMessage): unknown {
    const rts = this.#store.resources();
    if (path === '/version') return SERVER_VERSION;
    if (path === '/api') {
      return {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: req.socket.localAddress ? `${req.socket.localAddress}:${req.socket.localPort}` : '127.0.0.1' }],
      };
    }
    const groups = new Map<string, string[]>();
    for (const rt of rts) {
      if (rt.group === '') continue;
      const vs = groups.get(rt.group) ?? [];
      if (!vs.includes(rt.version)) vs.push(rt.version);
      groups.set(rt.group, vs);
    }
    const groupObj = (g: string, vs: string[]): Obj => ({
      name: g,
      versions: vs.map((v) => ({ groupVersion: `${g}/${v}`, version: v })),
      preferredVersion: { groupVersion: `${g}/${vs[0]}`, version: vs[0] },
    });
    if (path === '/apis') return { kind: 'APIGroupList', apiVersion: 'v1', groups: [...groups].map(([g, vs]) => groupObj(g, vs)) };
    const m = path.match(/^\/apis\/([^/]+)$/);
    if (m) {
      const vs = groups.get(m[1]!);
      if (!vs) return undefined;
      return { kind: 'APIGroup', apiVersion: 'v1', ...groupObj(m[1]!, vs) };
    }
    let gv: { group: string; version: string } | undefined;
    if (path === '/api/v1') gv = { group: '', version: 'v1' };
    const m2 = path.match(/^\/apis\/([^/]+)\/([^/]+)$/);
    if (m2) gv = { group: m2[1]!, version: m2[2]! };
    if (!gv) return undefined;
    const list = rts.filter((rt) => rt.group === gv.group && rt.version === gv.version);
    if (list.length === 0) return undefined;
    const resources: Obj[] = [];
    for (const rt of list) {
      const r: Obj = { name: rt.plural, singularName: rt.singular, namespaced: rt.namespaced, kind: rt.kind, verbs: RESOURCE_VERBS };
      if (rt.shortNames?.length) r.shortNames = rt.shortNames;
      if (rt.custom) r.categories = ['all', 'podlb'];
      resources.push(r);
      if (rt.statusSubresource) resources.push({ name: `${rt.plural}/status`, singularName: '', namespaced: rt.namespaced, kind: rt.kind, verbs: ['get', 'patch', 'update'] });
    }
    return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv.group === '' ? 'v1' : `${gv.group}/${gv.version}`, resources };
  }

  // ---------------- routing ----------------

  #route(path: string): Target | undefined {
    const segs = path.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
    let group: string;
    let version: string;
    let rest: string[];
    if (segs[0] === 'api' && segs.length >= 3) {
      group = '';
      version = segs[1]!;
      rest = segs.slice(2);
    } else if (segs[0] === 'apis' && segs.length >= 4) {
      group = segs[1]!;
      version = segs[2]!;
      rest = segs.slice(3);
    } else return undefined;
    const find = (plural: string): ResourceType | undefined => this.#store.resources().find((r) => r.group === group && r.version === version && r.plural === plural);
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3 && !(group === '' && rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))) {
      namespace = rest[1];
      rest = rest.slice(2);
      const rt = find(rest[0]!);
      if (!rt?.namespaced) return undefined;
      if (rest.length > 3) return undefined;
      return { rt, namespace, ...(rest[1] !== undefined ? { name: rest[1] } : {}), ...(rest[2] !== undefined ? { subresource: rest[2] } : {}) };
    }
    const rt = find(rest[0]!);
    if (!rt || rest.length > 3) return undefined;
    // a namespaced resource without a namespace is only a list/watch across all namespaces
    if (rt.namespaced && rest.length > 1) return undefined;
    return { rt, ...(rest[1] !== undefined ? { name: rest[1] } : {}), ...(rest[2] !== undefined ? { subresource: rest[2] } : {}) };
  }

  async #dispatch(method: string, t: Target, q: URLSearchParams, req: IncomingMessage, res: ServerResponse, user: UserInfo): Promise<void> {
    const store = this.#store;
    const res_ = `${t.rt.group}/${t.rt.version}/${t.rt.plural}`;
    const dryRun = q.getAll('dryRun').includes('All');
    if (t.subresource !== undefined && t.subresource !== 'status') throw failure(404, 'NotFound', 'the server could not find the requested resource');
    if (t.subresource === 'status' && !t.rt.statusSubresource) throw failure(404, 'NotFound', 'the server could not find the requested resource');
    if (t.name === undefined) {
      if (method === 'GET') {
        const watch = q.get('watch');
        if (watch === 'true' || watch === '1') {
          this.#watch(t, q, req, res);
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
        this.#send(res, 200, list);
        return;
      }
      if (method === 'POST') {
        if (t.rt.namespaced && t.namespace === undefined) throw methodNotAllowed();
        const body = await readBody(req);
        const created = store.create(res_, body as Obj, { ...(t.namespace !== undefined ? { namespace: t.namespace } : {}), dryRun, user });
        this.#send(res, 201, created);
        return;
      }
      throw methodNotAllowed();
    }
    const ns = t.namespace;
    if (method === 'GET') {
      this.#send(res, 200, store.get(res_, t.name, ns));
      return;
    }
    if (method === 'PUT') {
      const body = (await readBody(req)) as Obj;
      const opts = { name: t.name, ...(ns !== undefined ? { namespace: ns } : {}), dryRun, user };
      const out = t.subresource === 'status' ? store.updateStatus(res_, body, opts) : store.update(res_, body, opts);
      this.#send(res, 200, out);
      return;
    }
    if (method === 'PATCH') {
      const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
      const known = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];
      if (!known.includes(ct)) {
        await drain(req);
        throw unsupportedMediaType(ct, t.rt.custom ? known.filter((k) => !k.startsWith('application/strategic')) : known);
      }
      const apply = ct === 'application/apply-patch+yaml';
      if (apply) await drain(req);
      const body = apply ? {} : await readJson(req);
      const out = store.patch(res_, t.name, ns, ct as PatchType, body, { ...(t.subresource === 'status' ? { subresource: 'status' as const } : {}), dryRun, user });
      this.#send(res, 200, out);
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
      this.#send(res, 200, store.delete(res_, t.name, ns, opts));
      return;
    }
    throw methodNotAllowed();
  }

  // ---------------- watch ----------------

  #watch(t: Target, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): void {
    const res_ = `${t.rt.group}/${t.rt.version}/${t.rt.plural}`;
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
      },
      (ev) => {
        if (ended) return;
        res.write(`${JSON.stringify({ type: ev.type, object: ev.object })}\n`);
      },
      () => active.end(false),
    );
    active.handle = handle;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
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

/**
 * A TCP reset, what a crashed server or a dropped LB connection looks like to a client. A plain
 * destroy() of a TLS socket reads as a clean end of the stream on the other side.
 */
function resetConnection(s: Socket | null): void {
  if (!s) return;
  const raw = (s as Socket & { _parent?: Socket })._parent ?? s;
  if (typeof raw.resetAndDestroy === 'function' && raw.readyState !== 'closed') {
    try {
      raw.resetAndDestroy();
    } catch {
      /* already closed */
    }
  }
  s.destroy();
}

async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded) return;
  await readText(req);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = await readText(req);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badRequest(`error decoding patch: ${(e as Error).message}`);
  }
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const ct = (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim();
  const text = await readText(req);
  if (ct === 'application/json' || ct === '' || ct === '*/*') {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`);
    }
  }
  if (ct === 'application/yaml') {
    try {
      return parseYaml(text);
    } catch (e) {
      throw badRequest(`error converting YAML to JSON: ${(e as Error).message}`);
    }
  }
  throw unsupportedMediaType(ct, ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf']);
}

export { apiVersionOf };
