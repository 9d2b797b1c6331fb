// Keystone v3 authentication of the Octavia provider against the in-process fake:
// both credential types, token reuse, refresh before expiry and after a 401, catalog
// endpoint selection, and the errors a user can act on.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memberNamePrefix } from './naming.js';
import { KeystoneAuthError, OctaviaApiError } from './octavia-errors.js';
import { OctaviaInstance } from './octavia-instance.js';
import { UnreachableError } from '../util/errors.js';
import { spec, startEnv, type Env } from '../../testkit/octavia-env.js';

let env: Env;
beforeEach(async () => {
  env = await startEnv();
});
afterEach(async () => {
  await env.fake.close();
});

const keystoneCalls = (): number => env.fake.requestLog.filter((r) => r.path.startsWith('/identity/v3/auth/tokens')).length;

describe('credentials', () => {
  it('password: scoped to the project by name, token reused for every later call', async () => {
    const a = env.instance('node-a');
    await a.addMember(spec('node-a', '10.244.1.5'));
    for (let i = 0; i < 5; i++) await a.listMembers(['web'], memberNamePrefix('node-a'));
    expect(keystoneCalls()).toBe(1);
    expect(a.counters.keystoneCalls).toBe(1);
    const tok = [...env.fake.identity.tokens.values()];
    expect(tok).toHaveLength(1);
    expect(tok[0]).toMatchObject({ method: 'password', projectId: env.lb.project_id });
  });

  it('password: scoped by project id', async () => {
    const { projectName: _, ...rest } = env.fake.credentials.password;
    const a = env.instance('node-a', { credentials: { ...rest, projectId: env.lb.project_id } });
    await a.addMember(spec('node-a', '10.244.1.5'));
    expect(env.fake.state.membersOf(env.web.id)).toHaveLength(1);
  });

  it('application credential: no scope sent, project comes from the credential', async () => {
    const a = env.instance('node-a', { credentials: env.fake.credentials.applicationCredential });
    await a.addMember(spec('node-a', '10.244.1.5'));
    expect([...env.fake.identity.tokens.values()][0]).toMatchObject({ method: 'application_credential', projectId: env.lb.project_id });
    expect(env.fake.state.membersOf(env.web.id)[0]!.name).toBe(spec('node-a', '10.244.1.5').name);
  });

  it('a wrong password is a clear, permanent error that names the user and not the password', async () => {
    const a = env.instance('node-a', { credentials: { ...env.fake.credentials.password, password: 'wrong-pass-123' } });
    const err = await a.listMembers(['web'], memberNamePrefix('node-a')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeystoneAuthError);
    expect(err).toMatchObject({ code: 'KEYSTONE_AUTH_FAILED', transient: false, status: 401 });
    expect((err as Error).message).toContain('user podlb');
    expect((err as Error).message).toContain('credentials Secret');
    expect((err as Error).message).not.toContain('wrong-pass-123');
  });

  it('a wrong application credential secret is permanent too', async () => {
    const a = env.instance('node-a', { credentials: { ...env.fake.credentials.applicationCredential, secret: 'nope' } });
    await expect(a.listMembers(['web'], memberNamePrefix('node-a'))).rejects.toMatchObject({ code: 'KEYSTONE_AUTH_FAILED', transient: false });
  });

  it('a Keystone v2 auth URL is refused at construction', () => {
    expect(() => env.instance('node-a', { authURL: env.fake.url.replace(/v3$/, 'v2.0') })).toThrow(/Keystone v2 is not supported/);
  });

  it('an auth URL without a version gets /v3', async () => {
    const a = env.instance('node-a', { authURL: env.fake.url.replace(/\/v3$/, '') });
    await a.listMembers(['web'], memberNamePrefix('node-a'));
    expect(keystoneCalls()).toBe(1);
  });
});

describe('token lifetime', () => {
  it('re-authenticates before the token expires (a quarter of its lifetime ahead at most)', async () => {
    env.fake.faults.setTokenTtlMs(4_000);
    let skew = 0;
    const a = env.instance('node-a', { now: () => Date.now() + skew });
    await a.listMembers(['web'], memberNamePrefix('node-a'));
    skew = 2_000; // half the lifetime: still fine
    await a.listMembers(['web'], memberNamePrefix('node-a'));
    expect(a.counters.keystoneCalls).toBe(1);
    skew = 3_100; // inside the last quarter: refresh first, no 401 seen
    await a.listMembers(['web'], memberNamePrefix('node-a'));
    expect(a.counters.keystoneCalls).toBe(2);
    expect(a.counters.unauthorizedRefreshes).toBe(0);
    expect(env.fake.requestLog.filter((r) => r.status === 401)).toEqual([]);
  });

  it('a token Octavia rejects (revoked, expired early) is replaced once and the call retried', async () => {
    const a = env.instance('node-a');
    await a.listMembers(['web'], memberNamePrefix('node-a'));
    env.fake.faults.expireTokens();
    await a.addMember(spec('node-a', '10.244.1.5'));
    expect(a.counters).toMatchObject({ keystoneCalls: 2, unauthorizedRefreshes: 1 });
    expect(env.fake.state.membersOf(env.web.id)).toHaveLength(1);
  });

  it('401 again with a brand-new token: permanent OCTAVIA_UNAUTHORIZED, no loop', async () => {
    const a = env.instance('node-a');
    env.fake.faults.failNext(401, 5, { path: '/octavia/' });
    const err = await a.listMembers(['web'], memberNamePrefix('node-a')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OctaviaApiError);
    expect(err).toMatchObject({ code: 'OCTAVIA_UNAUTHORIZED', transient: false });
    expect(a.counters.keystoneCalls).toBe(2);
    expect(a.counters.octaviaCalls).toBe(2);
  });

  it('concurrent first calls share one authentication', async () => {
    const a = env.instance('node-a');
    await Promise.all(Array.from({ length: 8 }, () => a.listMembers(['web', 'nomon'], memberNamePrefix('node-a'))));
    expect(a.counters.keystoneCalls).toBe(1);
  });
});

describe('service catalog', () => {
  it('uses the endpoint of the configured region and interface', async () => {
    const a = env.instance('node-a', { region: 'RegionTwo', interface: 'internal' });
    await a.listMembers(['web'], memberNamePrefix('node-a'));
    const octaviaPaths = env.fake.requestLog.filter((r) => r.path.startsWith('/octavia/')).map((r) => r.path);
    expect(octaviaPaths.length).toBeGreaterThan(0);
    for (const p of octaviaPaths) expect(p.startsWith('/octavia/RegionTwo/internal/v2/lbaas/')).toBe(true);
  });

  it('several regions and none configured: a permanent error asking for spec.octavia.region', async () => {
    const a = new OctaviaInstance({ authURL: env.fake.url, credentials: env.fake.credentials.password, loadBalancerID: env.lb.id });
    await expect(a.listMembers(['web'], memberNamePrefix('node-a'))).rejects.toMatchObject({
      code: 'OCTAVIA_ENDPOINT_NOT_FOUND',
      transient: false,
      message: expect.stringMatching(/RegionOne, RegionTwo.*spec\.octavia\.region/),
    });
  });

  it('an unknown region names what the catalog offers', async () => {
    const a = env.instance('node-a', { region: 'Mars' });
    await expect(a.listMembers(['web'], memberNamePrefix('node-a'))).rejects.toMatchObject({
      code: 'OCTAVIA_ENDPOINT_NOT_FOUND',
      message: expect.stringContaining('RegionOne/public'),
    });
  });
});

describe('transient failures', () => {
  it('Keystone 5xx and a reset connection are UnreachableError (transient)', async () => {
    const a = env.instance('node-a');
    env.fake.faults.failNext(503, 1, { path: '/identity/' });
    await expect(a.listMembers(['web'], memberNamePrefix('node-a'))).rejects.toSatisfy(
      (e: unknown) => e instanceof UnreachableError && e.code === 'KEYSTONE_UNAVAILABLE' && e.transient,
    );
    env.fake.faults.failNext(0, 1, { path: '/identity/' });
    await expect(a.listMembers(['web'], memberNamePrefix('node-a'))).rejects.toSatisfy(
      (e: unknown) => e instanceof UnreachableError && e.code === 'KEYSTONE_UNREACHABLE',
    );
    await a.listMembers(['web'], memberNamePrefix('node-a')); // and it recovers
  });

  it('Octavia 5xx and a reset connection are UnreachableError (transient)', async () => {
    const a = env.instance('node-a');
    await a.listMembers(['web'], memberNamePrefix('node-a'));
    env.fake.faults.failNext(500, 1, { path: '/octavia/' });
    await expect(a.addMember(spec('node-a', '10.244.1.5'))).rejects.toSatisfy(
      (e: unknown) => e instanceof UnreachableError && e.code === 'OCTAVIA_UNAVAILABLE' && e.transient,
    );
    env.fake.faults.failNext(0, 1, { path: '/octavia/' });
    await expect(a.listMembers(['web'], memberNamePrefix('node-a'))).rejects.toSatisfy(
      (e: unknown) => e instanceof UnreachableError && e.code === 'OCTAVIA_UNREACHABLE',
    );
    await a.addMember(spec('node-a', '10.244.1.5'));
    expect(env.fake.state.membersOf(env.web.id)).toHaveLength(1);
  });

  it('a hung Octavia times out as UnreachableError', async () => {
    const a = env.instance('node-a', { requestTimeoutMs: 100 });
    await a.listMembers(['web'], memberNamePrefix('node-a'));
    env.fake.faults.setLatencyMs(400);
    await expect(a.listMembers(['web'], memberNamePrefix('node-a'))).rejects.toMatchObject({ code: 'OCTAVIA_UNREACHABLE', transient: true });
  });
});
