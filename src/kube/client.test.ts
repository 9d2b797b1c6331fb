// KubeClient takes client-node's request options as they come: 1.4's applyToFetchOptions gives a
// WHATWG Headers object, whose own properties are empty (spreading it lost Authorization).
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpStub, tooManyRequests, type HttpStub } from '../../test/http-stub.js';
import { headerRecord, KubeApiError, KubeClient, parseRetryAfterMs, retryDelayMs } from './client.js';

describe('headerRecord', () => {
  it('keeps the Authorization client-node 1.4 puts in a Headers object', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', skipTLSVerify: false }],
      users: [{ name: 'u', token: 'abc' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const init = await kc.applyToFetchOptions({});
    expect(Object.keys({ ...(init.headers as object) })).toEqual([]); // what the old spread passed on
    expect(headerRecord(init.headers)).toEqual({ authorization: 'Bearer abc' });
  });

  it.each([
    ['a record', { A: 'x', B: ['y', 'z'] }, { A: 'x', B: 'y, z' }],
    ['pairs', [['A', 'x']], { A: 'x' }],
    ['nothing', undefined, {}],
  ])('accepts %s', (_n, input, want) => {
    expect(headerRecord(input)).toEqual(want);
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
