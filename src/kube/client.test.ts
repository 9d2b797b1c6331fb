// What KubeClient puts on the wire, seen by a plain HTTP server: the kubeconfig's credentials
// (client-node's applySecurityAuthentication), and extra headers line by line, so a repeated
// name (kubectl's --as-group) stays repeated instead of being joined into one value.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpStub, tooManyRequests, type HttpStub } from '../../testkit/http-stub.js';
import { KubeApiError, KubeClient, parseRetryAfterMs, retryDelayMs } from './client.js';

let server: Server | undefined;
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

async function serve(handler: (req: IncomingMessage, body: string) => { status: number; body: unknown } | undefined): Promise<string> {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const answer = handler(req, body);
      if (!answer) return; // never answers
      res.writeHead(answer.status, { 'Content-Type': 'application/json' }).end(JSON.stringify(answer.body));
    });
  });
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function kubeConfig(url: string, user: Record<string, unknown>): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // client-node 2.x talks plain HTTP only with skipTLSVerify set.
    clusters: [{ name: 'c', server: url, skipTLSVerify: true }],
    users: [{ name: 'u', ...user }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

/** Header lines as received, names lower-cased, in order. */
function lines(req: IncomingMessage): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) out.push([req.rawHeaders[i]!.toLowerCase(), req.rawHeaders[i + 1]!]);
  return out;
}

describe('KubeClient requests', () => {
  it("send the kubeconfig's bearer token and impersonated user, and every extra header as its own line", async () => {
    let seen: [string, string][] = [];
    const url = await serve((req) => {
      seen = lines(req);
      return { status: 200, body: { kind: 'ConfigMapList', metadata: {}, items: [] } };
    });
    const kc = kubeConfig(url, { token: 'abc', impersonateUser: 'alice' });
    const client = new KubeClient(kc, {
      headers: [
        ['Impersonate-Group', 'podlb:network-team'],
        ['Impersonate-Group', 'auditors'],
      ],
    });
    await client.list('/api/v1/configmaps');
    expect(seen.filter(([k]) => k === 'authorization')).toEqual([['authorization', 'Bearer abc']]);
    expect(seen.filter(([k]) => k === 'impersonate-user')).toEqual([['impersonate-user', 'alice']]);
    expect(seen.filter(([k]) => k === 'impersonate-group')).toEqual([
      ['impersonate-group', 'podlb:network-team'],
      ['impersonate-group', 'auditors'],
    ]);
    expect(seen.filter(([k]) => k === 'accept')).toEqual([['accept', 'application/json']]);
  });

  it('send the body with the patch type as Content-Type, and read the answer', async () => {
    let got: { method?: string; type?: string; body?: string } = {};
    const url = await serve((req, body) => {
      got = { method: req.method, type: req.headers['content-type'], body };
      return { status: 200, body: { metadata: { name: 'one', resourceVersion: '7' } } };
    });
    const client = new KubeClient(kubeConfig(url, { token: 't' }));
    const res = await client.patch<{ metadata: { resourceVersion: string } }>('/api/v1/namespaces/default/configmaps/one', { data: { a: 'b' } }, 'strategic');
    expect(got).toEqual({ method: 'PATCH', type: 'application/strategic-merge-patch+json', body: '{"data":{"a":"b"}}' });
    expect(res.metadata.resourceVersion).toBe('7');
  });

  it("turn a Status answer into a KubeApiError with the Status's reason and message", async () => {
    const url = await serve(() => ({ status: 404, body: { kind: 'Status', reason: 'NotFound', message: 'configmaps "x" not found' } }));
    const err = await new KubeClient(kubeConfig(url, { token: 't' })).get('/api/v1/namespaces/default/configmaps/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({ status: 404, reason: 'NotFound' });
    expect((err as Error).message).toBe('GET /api/v1/namespaces/default/configmaps/x: 404 configmaps "x" not found');
  });

  it('give up on a server that does not answer after timeoutMs, as Unreachable', async () => {
    const url = await serve(() => undefined);
    const t0 = Date.now();
    const err = await new KubeClient(kubeConfig(url, { token: 't' }), { timeoutMs: 300 }).get('/api/v1/namespaces').catch((e: unknown) => e);
    const took = Date.now() - t0;
    expect(err).toMatchObject({ status: 0, reason: 'Unreachable' });
    expect((err as Error).message).toBe('GET /api/v1/namespaces: no answer within 300 ms');
    expect(took).toBeGreaterThanOrEqual(280);
    expect(took).toBeLessThan(3000);
  });
});

describe('KubeClient against a misbehaving server', () => {
  const stubs: HttpStub[] = [];
  afterEach(async () => {
    for (const s of stubs.splice(0)) await s.close();
  });

  it('gives up on a reply whose body stalls after the headers', async () => {
    const stub = await startHttpStub((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"kind":'); // and nothing more, ever
    });
    stubs.push(stub);
    const client = new KubeClient(stub.kubeConfig(), { timeoutMs: 300 });
    const started = Date.now();
    const err = await client.get('/api/v1/namespaces/default/pods/p').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).status).toBe(0);
    expect((err as KubeApiError).message).toContain('no complete answer within 300 ms');
    expect(Date.now() - started).toBeLessThan(2000);
  }, 5000);

  it.each([
    ['delay-seconds', () => '7', 7000],
    ['an HTTP-date', () => new Date(Date.now() + 9000).toUTCString(), 8000],
  ])("carries the server's Retry-After given as %s", async (_n, header, atLeast) => {
    const stub = await startHttpStub((_req, res) => tooManyRequests(res, header()));
    stubs.push(stub);
    const err = (await new KubeClient(stub.kubeConfig()).patch('/api/v1/namespaces/d/pods/p/status', {}, 'strategic').catch((e: unknown) => e)) as KubeApiError;
    expect(err.status).toBe(429);
    expect(err.retryAfterMs).toBeGreaterThanOrEqual(atLeast);
    expect(err.retryAfterMs).toBeLessThanOrEqual(9000);
    expect(retryDelayMs(err, 1000)).toBe(err.retryAfterMs);
    expect(retryDelayMs(new KubeApiError(500, '', 'x'), 1000)).toBe(1000);
  });

  it.each([
    [null, undefined],
    ['soon', undefined],
    ['0', 0],
    ['120', 120_000],
  ])('parses Retry-After %s', (value, want) => expect(parseRetryAfterMs(value, 0)).toBe(want));
});
