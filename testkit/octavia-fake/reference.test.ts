// The fake against the Octavia reference (openstack/octavia at 0e6ea11c, August 2026): the
// behaviour that decides whether podlb works on a real cloud. Each test cites what it follows.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REALISTIC_PENDING_MS, startOctaviaFake, type FakePool, type OctaviaFake } from './index.js';

let fake: OctaviaFake;
let pool: FakePool;
let token: string;

async function issue(scoped = true): Promise<{ token: string; body: any }> {
  const p = fake.credentials.password;
  const res = await fetch(`${fake.url}/auth/tokens`, {
    method: 'POST',
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: p.username, domain: { name: 'Default' }, password: p.password } } },
        ...(scoped ? { scope: { project: { name: p.projectName, domain: { name: 'Default' } } } } : {}),
      },
    }),
  });
  expect(res.status).toBe(201);
  return { token: res.headers.get('x-subject-token')!, body: await res.json() };
}

async function call(method: string, path: string, body?: unknown, tok = token): Promise<{ status: number; body: any }> {
  const url = path.startsWith('http') ? path : `${fake.octaviaUrl}${path}`;
  const res = await fetch(url, {
    method,
    headers: { 'x-auth-token': tok, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const member = (address: string, extra: Record<string, unknown> = {}) => ({ member: { address, protocol_port: 80, ...extra } });
const lbStatus = (): string => [...fake.state.loadBalancers.values()][0]!.provisioning_status;
const status = (id: string): string => fake.state.members.get(id)!.operating_status;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function start(opts: Parameters<typeof startOctaviaFake>[0] = { pendingMs: 0 }): Promise<void> {
  fake = await startOctaviaFake(opts);
  const lb = fake.state.createLoadBalancer();
  pool = fake.state.createPool(lb.id, { name: 'web', healthMonitor: { delay: 5, max_retries: 2, max_retries_down: 3 } });
  token = (await issue()).token;
}

afterEach(async () => {
  await fake.close();
});

describe('1. the pending window', () => {
  beforeEach(() => start({}));

  // member.py:112-129: every member write test-and-sets the LB to PENDING_UPDATE, or raises
  // ImmutableObject (409, exceptions.py:187-189); the amphora reload takes seconds.
  it('defaults to seconds: the LB stays locked (409 for everyone) until the provider is done', async () => {
    expect(REALISTIC_PENDING_MS).toBeGreaterThanOrEqual(1_000);
    expect(fake.state.pendingMs).toBe(REALISTIC_PENDING_MS);
    const t0 = Date.now();
    expect((await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.1'))).status).toBe(201);
    await sleep(REALISTIC_PENDING_MS / 2);
    expect(lbStatus()).toBe('PENDING_UPDATE');
    expect((await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.2'))).status).toBe(409);
    while (lbStatus() !== 'ACTIVE') await sleep(20);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(REALISTIC_PENDING_MS - 20);
  });
});

describe('2. provisioning ERROR', () => {
  beforeEach(() => start());

  // lifecycle_tasks.py:184-207 MemberToErrorOnRevertTask: the member ERROR, pool and LB ACTIVE.
  it('a failed write leaves the member in ERROR and the LB ACTIVE; the member can be deleted and made again', async () => {
    fake.faults.failProvisioning(1);
    const c = await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.1'));
    expect(c.status).toBe(201);
    expect(fake.state.members.get(c.body.member.id)!.provisioning_status).toBe('ERROR');
    expect(lbStatus()).toBe('ACTIVE');
    // An amphora never got it: the heartbeat does not report it (heartbeat_udp.py:592-594).
    fake.state.health.heartbeat();
    expect(status(c.body.member.id)).toBe('OFFLINE');
    expect((await call('DELETE', `/v2/lbaas/pools/${pool.id}/members/${c.body.member.id}`)).status).toBe(204);
    const again = await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.1'));
    expect(fake.state.members.get(again.body.member.id)!.provisioning_status).toBe('ACTIVE');
  });

  // member.py:438-456 and :509-510: a listed member in ERROR is an update like any other;
  // member_flows.py:175-185 and :206: the pool is sent to the amphorae again, the member ACTIVE.
  it('a batch that lists a member in ERROR again updates it in place: same id, ACTIVE, on the amphora', async () => {
    fake.faults.failProvisioning(1);
    const c = await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.1'));
    expect(fake.state.members.get(c.body.member.id)!.provisioning_status).toBe('ERROR');
    expect((await call('PUT', `/v2/lbaas/pools/${pool.id}/members`, { members: [{ address: '10.0.0.1', protocol_port: 80 }] })).status).toBe(202);
    expect(fake.state.membersOf(pool.id).map((m) => [m.id, m.provisioning_status])).toEqual([[c.body.member.id, 'ACTIVE']]);
    fake.state.health.heartbeat();
    expect(status(c.body.member.id)).not.toBe('OFFLINE');
  });

  // constants.py:247 MUTABLE_STATUSES = (ACTIVE,): an LB in ERROR refuses every change for good.
  it('a load balancer in ERROR answers 409 "immutable" to every write, however long one waits', async () => {
    const c = await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.1'));
    const lb = [...fake.state.loadBalancers.values()][0]!;
    fake.state.setLoadBalancerStatus(lb.id, 'ERROR');
    const writes = [
      () => call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.2')),
      () => call('PUT', `/v2/lbaas/pools/${pool.id}/members/${c.body.member.id}`, { member: { weight: 0 } }),
      () => call('DELETE', `/v2/lbaas/pools/${pool.id}/members/${c.body.member.id}`),
      () => call('PUT', `/v2/lbaas/pools/${pool.id}/members`, { members: [] }),
    ];
    for (const w of writes)
      expect(await w()).toMatchObject({ status: 409, body: { faultstring: `Load Balancer ${lb.id} is immutable and cannot be updated.` } });
    await sleep(50);
    expect((await writes[0]!()).status).toBe(409);
    expect(lbStatus()).toBe('ERROR');
  });
});

describe('3. health', () => {
  beforeEach(() => start());
  const at = (ms: number): number => Date.now() + ms;

  // prepare.py:171-179: OFFLINE with a monitor, NO_MONITOR without.
  it('a new member is OFFLINE with a monitor and NO_MONITOR without, until a heartbeat', async () => {
    const nomon = fake.state.createPool(pool.loadbalancer_id, { name: 'nomon' });
    const a = await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.1'));
    const b = await call('POST', `/v2/lbaas/pools/${nomon.id}/members`, member('10.0.0.1'));
    expect([a.body.member.operating_status, b.body.member.operating_status]).toEqual(['OFFLINE', 'NO_MONITOR']);
    fake.state.health.heartbeat();
    expect([status(a.body.member.id), status(b.body.member.id)]).toEqual(['ONLINE', 'NO_MONITOR']);
  });

  // HAProxy starts a new server UP; heartbeat_udp.py:600-605 maps UP → ONLINE, DOWN → ERROR,
  // and DOWN needs max_retries_down failed checks `delay` apart.
  it('ONLINE before any check ran, then ERROR once max_retries_down checks failed (delay 5 s × 3)', async () => {
    const id = (await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.1'))).body.member.id as string;
    fake.state.setCheckResult(id, 'fail');
    fake.state.health.heartbeat(at(1_000));
    expect(status(id)).toBe('ONLINE');
    fake.state.health.heartbeat(at(14_000));
    expect(status(id)).toBe('ONLINE');
    fake.state.health.heartbeat(at(15_100));
    expect(status(id)).toBe('ERROR');
    expect([...fake.state.members.values()].map((m) => m.operating_status)).not.toContain('DEGRADED');
  });

  // haproxy_query.py:141-142: UP at weight 0 is DRAIN → DRAINING (heartbeat_udp.py:610-611); a
  // DOWN server at weight 0 stays DOWN → ERROR. MAINT (admin down) → OFFLINE (:612-613).
  it('a weight-0 member is still checked: DRAINING while it passes, ERROR when it fails; admin down is OFFLINE', async () => {
    const ok = (await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.1', { weight: 0 }))).body.member.id as string;
    const bad = (await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.2', { weight: 0 }))).body.member.id as string;
    const off = (await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.3', { admin_state_up: false }))).body.member.id as string;
    fake.state.setCheckResult(bad, 'fail');
    fake.state.health.heartbeat(at(1_000));
    expect([status(ok), status(bad), status(off)]).toEqual(['DRAINING', 'DRAINING', 'OFFLINE']);
    fake.state.health.heartbeat(at(20_000));
    expect([status(ok), status(bad), status(off)]).toEqual(['DRAINING', 'ERROR', 'OFFLINE']);
  });

  // heartbeat_udp.py:557-565: a pool no listener uses is in no heartbeat; its members keep OFFLINE.
  it('a pool without a listener never gets health', async () => {
    const lonely = fake.state.createPool(pool.loadbalancer_id, { name: 'lonely', healthMonitor: true, listener: false });
    const id = (await call('POST', `/v2/lbaas/pools/${lonely.id}/members`, member('10.0.0.1'))).body.member.id as string;
    fake.state.health.heartbeat(at(60_000));
    expect(status(id)).toBe('OFFLINE');
  });

  // config.py:319-322: heartbeat_interval, 10 s by default; the fake's runs on a timer when set.
  it('heartbeatMs runs the health manager by itself; the monitor is readable with its timing', async () => {
    fake.faults.setHeartbeatMs(20);
    const id = (await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.1'))).body.member.id as string;
    while (status(id) !== 'ONLINE') await sleep(10);
    const hm = await call('GET', `/v2/lbaas/healthmonitors/${pool.healthmonitor_id}`);
    expect(hm.body.healthmonitor).toMatchObject({ delay: 5, max_retries: 2, max_retries_down: 3, pools: [{ id: pool.id }] });
  });
});

describe('4. batch update', () => {
  beforeEach(() => start());

  // types/member.py:63-83 (MemberPOST defaults) and member.py:509-521 (to_dict(render_unsets=False)).
  it('omitted fields of a matched member are reset to their defaults; name and tags are kept', async () => {
    const m = fake.state.insertMember(pool.id, {
      name: 'drained',
      address: '10.0.0.1',
      protocol_port: 80,
      weight: 0,
      admin_state_up: false,
      backup: true,
      tags: ['podlb'],
    });
    expect((await call('PUT', `/v2/lbaas/pools/${pool.id}/members`, { members: [{ address: '10.0.0.1', protocol_port: 80 }] })).status).toBe(202);
    expect(fake.state.members.get(m.id)).toMatchObject({ weight: 1, admin_state_up: true, backup: false, name: 'drained', tags: ['podlb'] });
  });

  // member.py:436-468: every matched member is "updated", changed or not; only nothing at all is a no-op.
  it('a batch that repeats the pool as it is still locks; only an empty batch on an empty pool does not', async () => {
    fake.faults.setPendingMs(200);
    fake.state.insertMember(pool.id, { address: '10.0.0.1', protocol_port: 80 });
    const empty = fake.state.createPool(pool.loadbalancer_id, { name: 'empty' });
    expect((await call('PUT', `/v2/lbaas/pools/${empty.id}/members`, { members: [] })).status).toBe(202);
    expect(lbStatus()).toBe('ACTIVE');
    expect((await call('PUT', `/v2/lbaas/pools/${pool.id}/members`, { members: [{ address: '10.0.0.1', protocol_port: 80 }] })).status).toBe(202);
    expect(lbStatus()).toBe('PENDING_UPDATE');
    // member.py:426: the lock is tested before the no-op check, so even a no-op gets 409 now.
    expect((await call('PUT', `/v2/lbaas/pools/${empty.id}/members`, { members: [] })).status).toBe(409);
  });

  // member.py:526-540: unlisted members are deleted unless additive_only; :441-453 one update per member.
  it('additive_only skips the deletes; a member listed twice is 400', async () => {
    fake.state.insertMember(pool.id, { address: '10.0.0.1', protocol_port: 80 });
    await call('PUT', `/v2/lbaas/pools/${pool.id}/members?additive_only=true`, { members: [{ address: '10.0.0.2', protocol_port: 80 }] });
    expect(
      fake.state
        .membersOf(pool.id)
        .map((m) => m.address)
        .sort(),
    ).toEqual(['10.0.0.1', '10.0.0.2']);
    await call('PUT', `/v2/lbaas/pools/${pool.id}/members`, { members: [{ address: '10.0.0.2', protocol_port: 80 }] });
    expect(fake.state.membersOf(pool.id).map((m) => m.address)).toEqual(['10.0.0.2']);
    const twice = await call('PUT', `/v2/lbaas/pools/${pool.id}/members`, {
      members: [
        { address: '10.0.0.2', protocol_port: 80 },
        { address: '10.0.0.2', protocol_port: 80 },
      ],
    });
    expect(twice).toMatchObject({ status: 400, body: { faultstring: 'Member must be updated only once in the same request.' } });
  });
});

describe('5. pagination', () => {
  beforeEach(() => start());

  // config.py:64-68 + constants.py:755: pagination_max_limit 1000; pagination.py:165-173: a
  // next link on every full page; :150-160 the link holds limit and marker only.
  it('pages of at most 1,000; a next link on every full page, without the query’s filters', async () => {
    for (let i = 0; i < 1000; i++) fake.state.insertMember(pool.id, { address: `10.1.${i >> 8}.${i & 255}`, protocol_port: 80, tags: ['podlb'] });
    fake.state.insertMember(pool.id, { address: '10.9.9.9', protocol_port: 80 });
    const p1 = await call('GET', `/v2/lbaas/pools/${pool.id}/members?tags=podlb&limit=5000`);
    expect(p1.body.members).toHaveLength(1000);
    const next = p1.body.members_links.find((l: any) => l.rel === 'next').href as string;
    expect([...new URL(next).searchParams.keys()]).toEqual(['limit', 'marker']);
    // Followed as given, the link lists what the filter excluded.
    const p2 = await call('GET', next);
    expect(p2.body.members.map((m: any) => m.address)).toEqual(['10.9.9.9']);
    expect(p2.body.members_links.map((l: any) => l.rel)).toEqual(['previous']);
    // The filtered query's last page is full: it has a next link, and that page is empty.
    const p2f = await call('GET', `/v2/lbaas/pools/${pool.id}/members?tags=podlb&marker=${new URL(next).searchParams.get('marker')}`);
    expect(p2f.body.members).toEqual([]);
    expect(p2f.body.members_links).toEqual([]);
  });
});

describe('6. Keystone scopes and quota', () => {
  beforeEach(() => start());

  // exceptions.py:77-79 PolicyForbidden: a valid token no policy rule matches (no project).
  it('project-scoped tokens live 3,600 s; an unscoped token gets 403', async () => {
    const scoped = await issue();
    expect(Date.parse(scoped.body.token.expires_at) - Date.parse(scoped.body.token.issued_at)).toBe(3_600_000);
    const unscoped = await issue(false);
    expect(unscoped.body.token.project).toBeUndefined();
    expect(await call('GET', `/v2/lbaas/pools/${pool.id}/members`, undefined, unscoped.token)).toMatchObject({
      status: 403,
      body: { faultstring: 'Policy does not allow this request to be performed.' },
    });
  });

  // exceptions.py:314-316 QuotaException (403); member.py:197-201 checks it before the lock,
  // :470-478 counts new minus deleted members in a batch.
  it('a quota hit is 403 "Quota has been met", before the lock; a batch counts new minus deleted', async () => {
    fake.faults.setMemberQuota(1);
    expect((await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.1'))).status).toBe(201);
    const over = await call('POST', `/v2/lbaas/pools/${pool.id}/members`, member('10.0.0.2'));
    expect(over).toMatchObject({ status: 403, body: { faultstring: 'Quota has been met for resources: Member' } });
    expect(lbStatus()).toBe('ACTIVE');
    expect((await call('PUT', `/v2/lbaas/pools/${pool.id}/members`, { members: [{ address: '10.0.0.2', protocol_port: 80 }] })).status).toBe(202);
    expect((await call('PUT', `/v2/lbaas/pools/${pool.id}/members?additive_only=true`, { members: [{ address: '10.0.0.3', protocol_port: 80 }] })).status).toBe(
      403,
    );
    expect(lbStatus()).toBe('ACTIVE');
  });
});
