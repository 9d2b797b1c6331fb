// The fake's own contract, with plain fetch: the status codes and shapes the Octavia v2 and
// Keystone v3 references give, so provider tests exercise the real semantics.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startOctaviaFake, type FakePool, type OctaviaFake } from './index.js';

let fake: OctaviaFake;
let pool: FakePool;
let nomon: FakePool;
let token: string;

async function call(method: string, path: string, body?: unknown, tok = token): Promise<{ status: number; body: any }> {
  const res = await fetch(`${fake.octaviaUrl}${path}`, {
    method,
    headers: { 'x-auth-token': tok, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

beforeEach(async () => {
  fake = await startOctaviaFake({ pendingMs: 0 }); // the window has its own test
  const lb = fake.state.createLoadBalancer();
  pool = fake.state.createPool(lb.id, { name: 'web', healthMonitor: true });
  nomon = fake.state.createPool(lb.id, { name: 'nomon' });
  const p = fake.credentials.password;
  const res = await fetch(`${fake.url}/auth/tokens`, {
    method: 'POST',
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: p.username, domain: { name: 'Default' }, password: p.password } } },
        scope: { project: { name: p.projectName, domain: { name: 'Default' } } },
      },
    }),
  });
  expect(res.status).toBe(201);
  token = res.headers.get('x-subject-token')!;
  const body = (await res.json()) as any;
  expect(body.token.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  expect(body.token.catalog.find((s: any) => s.type === 'load-balancer').endpoints).toContainEqual(
    expect.objectContaining({ interface: 'public', region_id: 'RegionOne' }),
  );
});
afterEach(async () => {
  await fake.close();
});

describe('Keystone', () => {
  it('401 for a wrong password, 400 for a malformed request, application credentials refuse a scope', async () => {
    const post = (auth: unknown): Promise<Response> => fetch(`${fake.url}/auth/tokens`, { method: 'POST', body: JSON.stringify({ auth }) });
    expect(
      (await post({ identity: { methods: ['password'], password: { user: { name: 'podlb', domain: { name: 'Default' }, password: 'x' } } } })).status,
    ).toBe(401);
    expect((await post({ identity: {} })).status).toBe(400);
    const ac = fake.credentials.applicationCredential;
    expect(
      (
        await post({
          identity: { methods: ['application_credential'], application_credential: { id: ac.id, secret: ac.secret } },
          scope: { project: { id: 'x' } },
        })
      ).status,
    ).toBe(401);
    expect((await post({ identity: { methods: ['application_credential'], application_credential: { id: ac.id, secret: ac.secret } } })).status).toBe(201);
  });

  it('Octavia: 401 without, with an unknown and with an expired token', async () => {
    expect((await call('GET', '/v2/lbaas/pools', undefined, '')).status).toBe(401);
    expect((await call('GET', '/v2/lbaas/pools', undefined, 'nope')).status).toBe(401);
    expect((await call('GET', '/v2/lbaas/pools')).status).toBe(200);
    fake.faults.expireTokens();
    expect((await call('GET', '/v2/lbaas/pools')).status).toBe(401);
  });
});

describe('members', () => {
  const member = (address: string, extra: Record<string, unknown> = {}): unknown => ({ member: { address, protocol_port: 80, ...extra } });

  it('201 create (OFFLINE with a monitor, NO_MONITOR without), 200 update, 204 delete, 404 after', async () => {
    const c = await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.1', { name: 'm1', tags: ['t'] }));
    expect(c.status).toBe(201);
    expect(c.body.member).toMatchObject({
      name: 'm1',
      weight: 1,
      admin_state_up: true,
      operating_status: 'OFFLINE',
      provisioning_status: 'PENDING_CREATE',
      tags: ['t'],
    });
    const n = await call('POST', `/v2/lbaas/pools/${nomon.id}/members`, member('10.0.0.1'));
    expect(n.body.member.operating_status).toBe('NO_MONITOR');
    const u = await call('PUT', `/v2/lbaas/pools/${pool.id}/members/${c.body.member.id}`, { member: { weight: 0 } });
    expect(u.status).toBe(200);
    expect(u.body.member.weight).toBe(0);
    expect((await call('DELETE', `/v2/lbaas/pools/${pool.id}/members/${c.body.member.id}`)).status).toBe(204);
    expect((await call('DELETE', `/v2/lbaas/pools/${pool.id}/members/${c.body.member.id}`)).status).toBe(404);
    expect((await call('GET', `/v2/lbaas/pools/${pool.id}/members/${c.body.member.id}`)).body.faultstring).toMatch(/^Member .* not found\.$/);
  });

  it('409 while the LB is PENDING_UPDATE, ACTIVE again after pendingMs', async () => {
    fake.faults.setPendingMs(80);
    expect((await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.1'))).status).toBe(201);
    const lb = [...fake.state.loadBalancers.values()][0]!;
    expect(lb.provisioning_status).toBe('PENDING_UPDATE');
    const busy = await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.2'));
    expect(busy).toMatchObject({ status: 409, body: { faultstring: `Load Balancer ${lb.id} is immutable and cannot be updated.` } });
    await new Promise((r) => setTimeout(r, 120));
    expect(lb.provisioning_status).toBe('ACTIVE');
    expect(fake.state.membersOf(pool.id)[0]!.provisioning_status).toBe('ACTIVE');
    expect((await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.2'))).status).toBe(201);
  });

  it('409 for a duplicate address/port; 400 for bad input and unknown attributes', async () => {
    await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.1'));
    expect((await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.1'))).body.faultstring).toMatch(
      /already using ip 10\.0\.0\.1 on protocol_port 80/,
    );
    expect((await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.300'))).status).toBe(400);
    expect((await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.2', { weight: 257 }))).status).toBe(400);
    expect((await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.2', { colour: 'red' }))).status).toBe(400);
    expect((await call('POST', `/v2/lbaas/pools/${pool.id}/members`, { address: '10.0.0.2' })).status).toBe(400);
    expect((await call('POST', `/v2/lbaas/pools/nope/members`, member('10.0.0.2'))).status).toBe(404);
  });

  it('tags filters (all, any, not) and attribute filters; unknown filters are 400', async () => {
    fake.state.insertMember(pool.id, { name: 'a', address: '10.0.0.1', protocol_port: 80, tags: ['podlb', 'podlb-node:a'] });
    fake.state.insertMember(pool.id, { name: 'b', address: '10.0.0.2', protocol_port: 80, tags: ['podlb', 'podlb-node:b'] });
    fake.state.insertMember(pool.id, { name: 'c', address: '10.0.0.3', protocol_port: 80 });
    const names = async (q: string): Promise<string[]> => (await call('GET', `/v2/lbaas/pools/${pool.id}/members?${q}`)).body.members.map((m: any) => m.name);
    expect(await names('tags=podlb,podlb-node:a')).toEqual(['a']);
    expect(await names('tags-any=podlb-node:a,podlb-node:b')).toEqual(['a', 'b']);
    expect(await names('not-tags-any=podlb')).toEqual(['c']);
    expect(await names('not-tags=podlb,podlb-node:a')).toEqual(['b', 'c']);
    expect(await names('address=10.0.0.2&protocol_port=80')).toEqual(['b']);
    expect((await call('GET', `/v2/lbaas/pools/${pool.id}/members?colour=red`)).status).toBe(400);
  });

  it('pagination: limit + marker, next/previous links, the last page has no next', async () => {
    for (let i = 1; i <= 5; i++) fake.state.insertMember(pool.id, { name: `m${i}`, address: `10.0.0.${i}`, protocol_port: 80 });
    const p1 = await call('GET', `/v2/lbaas/pools/${pool.id}/members?limit=2`);
    expect(p1.body.members.map((m: any) => m.name)).toEqual(['m1', 'm2']);
    const next = p1.body.members_links.find((l: any) => l.rel === 'next').href as string;
    expect(new URL(next).searchParams.get('marker')).toBe(p1.body.members[1].id);
    const p3 = await call('GET', `/v2/lbaas/pools/${pool.id}/members?limit=2&marker=${fake.state.memberByName(pool.id, 'm4')!.id}`);
    expect(p3.body.members.map((m: any) => m.name)).toEqual(['m5']);
    expect(p3.body.members_links.map((l: any) => l.rel)).toEqual(['previous']);
  });

  it('batch update replaces the member list (matched by address/port), 202; additive_only keeps the rest', async () => {
    fake.state.insertMember(pool.id, { name: 'keep', address: '10.0.0.1', protocol_port: 80 });
    fake.state.insertMember(pool.id, { name: 'other', address: '10.0.0.2', protocol_port: 80 });
    const r = await call('PUT', `/v2/lbaas/pools/${pool.id}/members`, {
      members: [
        { address: '10.0.0.1', protocol_port: 80, weight: 5 },
        { address: '10.0.0.3', protocol_port: 80, name: 'new' },
      ],
    });
    expect(r.status).toBe(202);
    expect(
      fake.state
        .membersOf(pool.id)
        .map((m) => [m.address, m.weight])
        .sort(),
    ).toEqual([
      ['10.0.0.1', 5],
      ['10.0.0.3', 1],
    ]);
    await call('PUT', `/v2/lbaas/pools/${pool.id}/members?additive_only=true`, { members: [{ address: '10.0.0.4', protocol_port: 80 }] });
    expect(fake.state.membersOf(pool.id)).toHaveLength(3);
  });

  it('health: heartbeats report ONLINE for a passing member; weight 0 reports DRAINING', async () => {
    const c = await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.1'));
    const id = c.body.member.id as string;
    expect(fake.state.members.get(id)!.operating_status).toBe('OFFLINE');
    fake.state.health.heartbeat();
    expect(fake.state.members.get(id)!.operating_status).toBe('ONLINE');
    await call('PUT', `/v2/lbaas/pools/${pool.id}/members/${id}`, { member: { weight: 0 } });
    fake.state.health.heartbeat();
    expect(fake.state.members.get(id)!.operating_status).toBe('DRAINING');
  });

  it('failNext injects statuses (0 = connection reset) and the request log records them', async () => {
    fake.faults.failNext(503, 1, { path: '/members' });
    expect((await call('GET', `/v2/lbaas/pools/${pool.id}/members`)).status).toBe(503);
    fake.faults.failNext(0, 1);
    await expect(call('GET', `/v2/lbaas/pools/${pool.id}/members`)).rejects.toThrow();
    expect(fake.requestLog.slice(-2).map((r) => r.status)).toEqual([503, 0]);
  });
});
