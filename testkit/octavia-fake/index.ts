// An in-process Keystone v3 + Octavia v2 on 127.0.0.1, for tests and the bench. One HTTP
// server serves both:
//   <url>                                  Keystone (`POST <url>/auth/tokens`), url = http://127.0.0.1:P/identity/v3
//   http://127.0.0.1:P/octavia/<region>/<interface>    the load-balancer endpoint of each catalog entry
// Every region and interface serves the SAME state: the path prefix only shows, in
// `requestLog`, which catalog endpoint a client picked.
//
// What it follows (Keystone v3 and Octavia v2 API references, Octavia source for details):
// - POST /v3/auth/tokens with the `password` (user by name+domain or id; project scope by id
//   or name+domain; unscoped → the user's default project) and `application_credential` (id
//   + secret; a scope is refused) methods; 201 + X-Subject-Token + token.expires_at + catalog;
//   401 for bad credentials, 400 for a malformed request.
// - Octavia: X-Auth-Token checked on every call (401 when missing, unknown or expired);
//   wsme-style errors {faultcode, faultstring, debuginfo}; 404 for unknown ids; 400 for
//   validation and unknown attributes/filters; 409 while the LB is PENDING_* (see state.ts)
//   and for a duplicate address/port; 201 create, 200 update, 204 delete, 202 batch update.
// - List filters on attributes, `tags` / `tags-any` / `not-tags` / `not-tags-any`
//   (comma-separated), `fields`, and pagination as octavia/api/common/pagination.py: pages of
//   at most `paginationMaxLimit` (api_settings.pagination_max_limit, default 1000,
//   octavia/common/config.py:64-68 and constants.py:755); a `limit` below 1 means no limit
//   (:69-73); a `next` link on every FULL page, even when nothing follows (:165-173), and
//   the links carry only limit, marker (and sort): every filter of the query is dropped (:150-172).
// - A token without a project scope is valid but no policy rule matches it: 403 "Policy does
//   not allow this request to be performed." (octavia/common/exceptions.py:77-79).
// Deliberately not modelled: RBAC roles (any project-scoped token sees every project), listener
// and L7 objects (a pool just has a listener or not), `page_reverse`/`sort` (400).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { MEMBER_POST_KEYS, MEMBER_PUT_KEYS, RESERVED_QUERY, keystoneTime, parseJson, parseMember, pick, readBody, validateMemberFields } from './requests.js';
import { DEFAULT_PROJECT_ID, FakeApiError, OctaviaFakeState } from './state.js';
import type { FakeApplicationCredential, FakeProject, FakeToken, FakeUser, OctaviaFake, OctaviaFakeOptions, RequestLogEntry, RequestMatch } from './types.js';

export * from './health.js';
export * from './state.js';
export * from './types.js';

interface Fault {
  status: number;
  remaining: number;
  match?: RequestMatch;
}

export async function startOctaviaFake(opts: OctaviaFakeOptions = {}): Promise<OctaviaFake> {
  const regions = opts.regions ?? ['RegionOne', 'RegionTwo'];
  const state = new OctaviaFakeState({ ...(opts.pendingMs !== undefined ? { pendingMs: opts.pendingMs } : {}), heartbeatMs: opts.heartbeatMs ?? null });
  const maxLimit = opts.paginationMaxLimit ?? 1000;
  let tokenTtlMs = opts.tokenTtlMs ?? 3_600_000;
  let latencyMs = 0;
  let linkBase: string | null = null;
  const faults: Fault[] = [];
  const requestLog: RequestLogEntry[] = [];

  const project: FakeProject = { id: DEFAULT_PROJECT_ID, name: 'k8s', domain: 'Default' };
  const user: FakeUser = { id: 'a1b2c3d4e5f60718293a4b5c6d7e8f90', name: 'podlb', domain: 'Default', password: 'correct horse', projects: [project.id] };
  const appCred: FakeApplicationCredential = { id: 'b4d2a0e8c6f1437a9e5d3c1b0a9f8e7d', secret: 'app-cred-secret', userId: user.id, projectId: project.id };
  const identity = { projects: [project], users: [user], applicationCredentials: [appCred], tokens: new Map<string, FakeToken>() };

  let base = '';
  const endpoint = (region: string, iface: string): string => `${base}/octavia/${region}/${iface}`;

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, req, 500, { faultcode: 'Server', faultstring: String(err), debuginfo: null });
    });
  });

  function send(res: http.ServerResponse, req: http.IncomingMessage, status: number, body?: unknown, headers: Record<string, string> = {}): void {
    requestLog.push({ method: req.method ?? '', path: req.url ?? '', status });
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { ...(text ? { 'content-type': 'application/json' } : {}), ...headers });
    res.end(text);
  }

  function takeFault(method: string, path: string): Fault | undefined {
    const f = faults.find((x) => {
      if (x.remaining <= 0) return false;
      const m = x.match;
      if (!m) return true;
      if (typeof m === 'function') return m({ method, path });
      if (m.method && m.method !== method) return false;
      if (m.path !== undefined && !(typeof m.path === 'string' ? path.includes(m.path) : m.path.test(path))) return false;
      return true;
    });
    if (f) f.remaining -= 1;
    return f;
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const raw = await readBody(req);
    if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://fake');
    const fault = takeFault(method, url.pathname);
    if (fault) {
      if (fault.status === 0) {
        requestLog.push({ method, path: req.url ?? '', status: 0 });
        req.socket.destroy();
        return;
      }
      const body =
        fault.status === 409
          ? {
              faultcode: 'Client',
              faultstring: `Load Balancer ${[...state.loadBalancers.keys()][0] ?? 'x'} is immutable and cannot be updated.`,
              debuginfo: null,
            }
          : fault.status === 401
            ? { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } }
            : { faultcode: fault.status >= 500 ? 'Server' : 'Client', faultstring: `injected fault ${fault.status}`, debuginfo: null };
      send(res, req, fault.status, body);
      return;
    }
    if (url.pathname.startsWith('/identity/v3/')) return keystone(req, res, method, url.pathname.slice('/identity/v3'.length), raw);
    const m = /^\/octavia\/([^/]+)\/(public|internal|admin)(\/.*)?$/.exec(url.pathname);
    if (m && regions.includes(m[1]!)) return octavia(req, res, method, m[3] ?? '/', url.searchParams, raw);
    send(res, req, 404, { faultcode: 'Client', faultstring: 'The resource could not be found.', debuginfo: null });
  }

  // ---------------- Keystone ----------------

  function keystoneError(res: http.ServerResponse, req: http.IncomingMessage, code: number, message: string): void {
    const title = code === 401 ? 'Unauthorized' : code === 400 ? 'Bad Request' : 'Not Found';
    send(res, req, code, { error: { code, title, message } });
  }

  function keystone(req: http.IncomingMessage, res: http.ServerResponse, method: string, path: string, raw: string): void {
    if (path !== '/auth/tokens' || method !== 'POST') return keystoneError(res, req, 404, 'Could not find the requested resource.');
    let body: any;
    try {
      body = JSON.parse(raw);
    } catch {
      return keystoneError(res, req, 400, 'Expecting to find valid JSON in request body.');
    }
    const ident = body?.auth?.identity;
    const methods: unknown = ident?.methods;
    if (!Array.isArray(methods) || methods.length !== 1)
      return keystoneError(res, req, 400, "Invalid input for field 'identity': 'methods' is a required property");
    const unauthorized = (): void => keystoneError(res, req, 401, 'The request you have made requires authentication.');
    let u: FakeUser | undefined;
    let projectId: string | null = null;
    const kind = methods[0] as string;
    if (kind === 'password') {
      const pu = ident.password?.user;
      if (!pu || typeof pu.password !== 'string')
        return keystoneError(res, req, 400, "Invalid input for field 'identity/password/user': 'password' is a required property");
      if (pu.id) u = identity.users.find((x) => x.id === pu.id);
      else if (pu.name) {
        const dom = pu.domain?.name ?? pu.domain?.id;
        if (!dom)
          return keystoneError(
            res,
            req,
            400,
            'Expecting to find domain in user. The server could not comply with the request since it is either malformed or otherwise incorrect.',
          );
        u = identity.users.find((x) => x.name === pu.name && (x.domain === dom || (dom === 'default' && x.domain === 'Default')));
      } else return keystoneError(res, req, 400, "Invalid input for field 'identity/password/user': 'id' or 'name' is required");
      if (!u || u.password !== pu.password) return unauthorized();
      const sp = body.auth.scope?.project;
      if (sp) {
        const p = sp.id
          ? identity.projects.find((x) => x.id === sp.id)
          : identity.projects.find((x) => x.name === sp.name && x.domain === (sp.domain?.name ?? sp.domain?.id));
        if (!p || !u.projects.includes(p.id)) return unauthorized();
        projectId = p.id;
      } else projectId = u.defaultProjectId ?? null;
    } else if (kind === 'application_credential') {
      const ac = ident.application_credential;
      if (!ac || typeof ac.secret !== 'string' || typeof ac.id !== 'string')
        return keystoneError(res, req, 400, "Invalid input for field 'identity/application_credential': 'id' and 'secret' are required");
      if (body.auth.scope) return unauthorized(); // "Application credentials cannot request a scope."
      const c = identity.applicationCredentials.find((x) => x.id === ac.id);
      if (!c || c.secret !== ac.secret) return unauthorized();
      u = identity.users.find((x) => x.id === c.userId);
      if (!u) return unauthorized();
      projectId = c.projectId;
    } else return unauthorized();

    const token = `gAAAAA${randomBytes(24).toString('base64url')}`;
    const expiresAt = Date.now() + tokenTtlMs;
    identity.tokens.set(token, { token, userId: u.id, projectId, expiresAt, method: kind as FakeToken['method'] });
    const p = identity.projects.find((x) => x.id === projectId);
    const catalog = projectId
      ? [
          {
            type: 'identity',
            name: 'keystone',
            id: 'c0',
            endpoints: regions.map((r) => ({ id: `id-${r}`, interface: 'public', region: r, region_id: r, url: `${base}/identity` })),
          },
          {
            type: 'load-balancer',
            name: 'octavia',
            id: 'c1',
            endpoints: regions.flatMap((r) =>
              (['public', 'internal', 'admin'] as const).map((i) => ({ id: `lb-${r}-${i}`, interface: i, region: r, region_id: r, url: `${endpoint(r, i)}/` })),
            ),
          },
        ]
      : undefined;
    send(
      res,
      req,
      201,
      {
        token: {
          methods: [kind],
          user: { id: u.id, name: u.name, domain: { id: u.domain.toLowerCase(), name: u.domain } },
          ...(p
            ? {
                project: { id: p.id, name: p.name, domain: { id: p.domain.toLowerCase(), name: p.domain } },
                roles: [{ id: 'r1', name: 'load-balancer_member' }],
              }
            : {}),
          ...(catalog ? { catalog } : {}),
          audit_ids: [randomBytes(8).toString('base64url')],
          issued_at: keystoneTime(Date.now()),
          expires_at: keystoneTime(expiresAt),
        },
      },
      { 'x-subject-token': token },
    );
  }

  // ---------------- Octavia ----------------

  function fault(res: http.ServerResponse, req: http.IncomingMessage, status: number, message: string): void {
    send(res, req, status, { faultcode: status >= 500 ? 'Server' : 'Client', faultstring: message, debuginfo: null });
  }

  function octavia(req: http.IncomingMessage, res: http.ServerResponse, method: string, path: string, query: URLSearchParams, raw: string): void {
    if (path === '/' && method === 'GET') {
      send(res, req, 200, {
        versions: [
          { id: 'v2.0', status: 'SUPPORTED', updated: '2016-12-11T00:00:00Z', links: [{ href: `${base}/v2`, rel: 'self' }] },
          { id: 'v2.27', status: 'CURRENT', updated: '2023-05-05T00:00:00Z', links: [{ href: `${base}/v2`, rel: 'self' }] },
        ],
      });
      return;
    }
    const tokenHeader = req.headers['x-auth-token'];
    const tok = typeof tokenHeader === 'string' ? identity.tokens.get(tokenHeader) : undefined;
    if (!tok || tok.expiresAt <= Date.now()) {
      send(res, req, 401, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
      return;
    }
    if (!tok.projectId) return fault(res, req, 403, 'Policy does not allow this request to be performed.');
    const api = /^\/v2(?:\.0)?\/lbaas(\/.*)$/.exec(path)?.[1];
    if (!api) return fault(res, req, 404, 'The resource could not be found.');
    const seg = api.split('/').filter(Boolean);
    const pathOnly = (req.url ?? '').split('?')[0]!;
    try {
      if (seg[0] === 'loadbalancers') {
        if (method !== 'GET') return fault(res, req, 405, 'Method not allowed in the fake.');
        if (seg.length === 1) return send(res, req, 200, list('loadbalancers', [...state.loadBalancers.values()], query, pathOnly));
        const lb = state.loadBalancers.get(seg[1]!);
        if (!lb || seg.length > 2) return fault(res, req, 404, `Load Balancer ${seg[1]} not found.`);
        return send(res, req, 200, { loadbalancer: pick(lb, query) });
      }
      if (seg[0] === 'healthmonitors' && seg.length === 2 && method === 'GET') {
        const hm = state.healthMonitors.get(seg[1]!);
        if (!hm) return fault(res, req, 404, `Health Monitor ${seg[1]} not found.`);
        return send(res, req, 200, { healthmonitor: pick(hm, query) });
      }
      if (seg[0] !== 'pools') return fault(res, req, 404, 'The resource could not be found.');
      if (seg.length === 1) {
        if (method !== 'GET') return fault(res, req, 405, 'Method not allowed in the fake.');
        const pools = [...state.pools.values()].map((p) => ({
          ...p,
          loadbalancers: [{ id: p.loadbalancer_id }],
          members: state.membersOf(p.id).map((m) => ({ id: m.id })),
        }));
        return send(res, req, 200, list('pools', pools, query, pathOnly, ['loadbalancer_id']));
      }
      const pool = state.getPool(seg[1]!);
      if (seg.length === 2) {
        if (method !== 'GET') return fault(res, req, 405, 'Method not allowed in the fake.');
        return send(res, req, 200, {
          pool: pick({ ...pool, loadbalancers: [{ id: pool.loadbalancer_id }], members: state.membersOf(pool.id).map((m) => ({ id: m.id })) }, query),
        });
      }
      if (seg[2] !== 'members' || seg.length > 4) return fault(res, req, 404, 'The resource could not be found.');
      if (seg.length === 3) {
        if (method === 'GET') return send(res, req, 200, list('members', state.membersOf(pool.id), query, pathOnly));
        if (method === 'POST') {
          const input = parseMember(parseJson(raw), 'member', MEMBER_POST_KEYS, true);
          return send(res, req, 201, { member: state.createMember(pool.id, input) });
        }
        if (method === 'PUT') {
          const body = parseJson(raw);
          const arr = (body as { members?: unknown })?.members;
          if (!Array.isArray(arr)) throw new FakeApiError(400, "Invalid input for field/attribute members. Value: 'None'. Mandatory field missing.");
          const inputs = arr.map((x) => parseMember({ member: x }, 'member', MEMBER_POST_KEYS, true));
          state.batchUpdate(pool.id, inputs, /^(1|true|yes|on)$/i.test(query.get('additive_only') ?? ''));
          return send(res, req, 202);
        }
        return fault(res, req, 405, 'Method not allowed.');
      }
      const memberId = seg[3]!;
      if (method === 'GET') return send(res, req, 200, { member: pick(state.getMember(pool.id, memberId), query) });
      if (method === 'PUT') {
        const body = parseJson(raw) as { member?: Record<string, unknown> };
        const mm = body?.member;
        if (!mm || typeof mm !== 'object') throw new FakeApiError(400, "Invalid input for field/attribute member. Value: 'None'. Mandatory field missing.");
        for (const k of Object.keys(mm))
          if (!MEMBER_PUT_KEYS.has(k)) throw new FakeApiError(400, `Invalid input for field/attribute member. Unknown attribute for argument member_: ${k}`);
        const patch = validateMemberFields(mm);
        return send(res, req, 200, { member: state.updateMember(pool.id, memberId, patch) });
      }
      if (method === 'DELETE') {
        state.deleteMember(pool.id, memberId);
        return send(res, req, 204);
      }
      return fault(res, req, 405, 'Method not allowed.');
    } catch (err) {
      if (err instanceof FakeApiError) return fault(res, req, err.status, err.message);
      throw err;
    }
  }

  /** Filtering, tags and pagination of a collection, as Octavia's pagination helper. */
  function list<T extends { id: string; tags: string[] }>(
    key: string,
    all: T[],
    query: URLSearchParams,
    pathOnly: string,
    extraFilters: string[] = [],
  ): Record<string, unknown> {
    for (const k of ['page_reverse', 'sort', 'sort_key', 'sort_dir']) if (query.has(k)) throw new FakeApiError(400, `${k} is not supported by the fake`);
    let items = all.filter((item) => {
      for (const [k, v] of query) {
        if (RESERVED_QUERY.has(k)) continue;
        if (!(k in item) && !extraFilters.includes(k)) throw new FakeApiError(400, 'One or more arguments are either duplicate or invalid.');
        const actual = (item as Record<string, unknown>)[k];
        if (String(actual).toLowerCase() !== v.toLowerCase()) return false;
      }
      return true;
    });
    const tagList = (k: string): string[] | undefined =>
      query.has(k)
        ? query
            .getAll(k)
            .flatMap((v) => v.split(','))
            .filter(Boolean)
        : undefined;
    const all_ = tagList('tags');
    const any = tagList('tags-any');
    const notAll = tagList('not-tags');
    const notAny = tagList('not-tags-any');
    items = items.filter(
      (i) =>
        (!all_ || all_.every((t) => i.tags.includes(t))) &&
        (!any || any.some((t) => i.tags.includes(t))) &&
        !notAll?.every((t) => i.tags.includes(t)) &&
        !notAny?.some((t) => i.tags.includes(t)),
    );
    const limitText = query.get('limit');
    let limit: number | null = maxLimit;
    if (limitText !== null) {
      const n = Number(limitText);
      if (!Number.isInteger(n)) throw new FakeApiError(400, `Supplied pagination limit '${limitText}' is not valid.`);
      limit = n < 1 ? null : Math.min(n, maxLimit);
    }
    let start = 0;
    const marker = query.get('marker');
    if (marker !== null) {
      const i = items.findIndex((x) => x.id === marker);
      if (i < 0) throw new FakeApiError(400, `Invalid marker ${marker}.`);
      start = i + 1;
    }
    const page = limit === null ? items.slice(start) : items.slice(start, start + limit);
    const links: { href: string; rel: string }[] = [];
    const href = (params: string[]): string => `${linkBase ?? base}${pathOnly}?${params.join('&')}`;
    if (page.length > 0) {
      if (marker !== null) links.push({ href: href([`limit=${limit ?? 'None'}`, `marker=${page[0]!.id}`, 'page_reverse=True']), rel: 'previous' });
      if (limit === null || page.length >= limit) links.push({ href: href([`limit=${limit ?? 'None'}`, `marker=${page[page.length - 1]!.id}`]), rel: 'next' });
    }
    return { [key]: page.map((x) => pick(x, query)), [`${key}_links`]: links };
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: `${base}/identity/v3`,
    octaviaUrl: endpoint(regions[0]!, 'public'),
    endpoint,
    state,
    identity,
    credentials: {
      password: {
        type: 'password',
        username: user.name,
        password: user.password,
        projectName: project.name,
        userDomainName: 'Default',
        projectDomainName: 'Default',
      },
      applicationCredential: { type: 'applicationCredential', id: appCred.id, secret: appCred.secret },
    },
    faults: {
      failNext(status, count = 1, match) {
        faults.push({ status, remaining: count, ...(match ? { match } : {}) });
      },
      setPendingMs(ms) {
        state.pendingMs = ms;
      },
      setHeartbeatMs(ms) {
        state.health.setHeartbeatMs(ms);
      },
      failProvisioning(count = 1) {
        state.failProvisioning += count;
      },
      setMemberQuota(n) {
        state.memberQuota = n;
      },
      expireTokens() {
        const now = Date.now();
        for (const t of identity.tokens.values()) t.expiresAt = Math.min(t.expiresAt, now);
      },
      setTokenTtlMs(ms) {
        tokenTtlMs = ms;
      },
      setLatencyMs(ms) {
        latencyMs = ms;
      },
      setLinkBase(b) {
        linkBase = b;
      },
    },
    requestLog,
    async close() {
      state.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A v4 UUID, for tests that need ids the fake did not make. */
export const fakeUuid = (): string => randomUUID();
