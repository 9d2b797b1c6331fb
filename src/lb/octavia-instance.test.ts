// OctaviaInstance member operations against the in-process fake: lifecycle, health mapping
// as observed, 409 while PENDING_UPDATE (retried with jitter, bounded), pagination, errors.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memberName, memberNamePrefix } from './naming.js';
import { OctaviaApiError, OctaviaPendingError } from './octavia-errors.js';
import type { ObservedMember } from './provider.js';
import { spec, startEnv, type Env } from '../../testkit/octavia-env.js';

const NODE = 'node-a';
const PREFIX = memberNamePrefix(NODE);
let env: Env;
beforeEach(async () => {
  env = await startEnv({ pendingMs: 0 }); // tests about the window set it themselves
});
afterEach(async () => {
  await env.fake.close();
});

async function observed(inst: ReturnType<Env['instance']>, name: string, backend = 'web'): Promise<ObservedMember | undefined> {
  return (await inst.listMembers([backend], PREFIX)).members.find((m) => m.name === name);
}

describe('member lifecycle', () => {
  it('add → pending → healthy → drain → enable → remove, with podlb tags and the podlb name', async () => {
    let clock = Date.now();
    const a = env.instance(NODE, { now: () => clock, heartbeatMs: 10_000 });
    const s = spec(NODE, '10.244.1.5');
    await a.addMember(s);
    const stored = env.fake.state.memberByName(env.web.id, s.name)!;
    expect(stored).toMatchObject({ address: '10.244.1.5', protocol_port: 8080, weight: 1, admin_state_up: true, tags: ['podlb', 'podlb-node:node-a'] });
    // Monitored pool: a new member is OFFLINE until the health manager's first report.
    expect(await observed(a, s.name)).toMatchObject({
      backend: 'web',
      address: '10.244.1.5',
      port: 8080,
      admin: 'ready',
      health: 'pending',
      detail: 'OFFLINE/ACTIVE weight=1',
    });
    // The web pool's monitor: delay 5 s × max_retries_down 3, plus a 10 s heartbeat = 25 s.
    env.fake.state.setOperatingStatus(stored.id, 'ONLINE');
    clock += 24_000;
    expect(await observed(a, s.name)).toMatchObject({ admin: 'ready', health: 'pending', detail: 'ONLINE/ACTIVE weight=1' });
    clock += 1_000;
    expect(await observed(a, s.name)).toMatchObject({ admin: 'ready', health: 'healthy' });

    await a.drainMember('web', s.name);
    expect(stored.weight).toBe(0);
    env.fake.state.health.heartbeat();
    expect(await observed(a, s.name)).toMatchObject({ admin: 'drain', health: 'healthy', detail: 'DRAINING/ACTIVE weight=0' });

    await a.enableMember('web', s.name);
    expect(stored.weight).toBe(1);
    env.fake.state.health.heartbeat();
    expect(await observed(a, s.name)).toMatchObject({ admin: 'ready', health: 'healthy' });

    await a.removeMember('web', s.name);
    expect(env.fake.state.membersOf(env.web.id)).toEqual([]);
    expect(await observed(a, s.name)).toBeUndefined();
    await a.removeMember('web', s.name); // already gone: success
    await a.drainMember('web', s.name); // absent: nothing to drain
    await expect(a.enableMember('web', s.name)).rejects.toMatchObject({ code: 'OCTAVIA_MEMBER_MISSING' });
  });

  // A weight-0 member is still checked by the amphora's HAProxy and reported DRAINING while it
  // passes (octavia/amphorae/backends/utils/haproxy_query.py:141-142, heartbeat_udp.py:610-611;
  // testkit/octavia-fake/reference.test.ts holds the fake to it).
  it('a warm member (pre-registration) is POSTed at weight 0, counts healthy once DRAINING has settled, and takes traffic at enable', async () => {
    let clock = Date.now();
    const a = env.instance(NODE, { now: () => clock, heartbeatMs: 10_000 });
    const s = { ...spec(NODE, '10.244.1.5'), warm: true as const };
    await a.addMember(s);
    const stored = env.fake.state.memberByName(env.web.id, s.name)!;
    expect(stored).toMatchObject({ weight: 0, admin_state_up: true });
    expect(await observed(a, s.name)).toMatchObject({ admin: 'drain', health: 'pending', detail: 'OFFLINE/ACTIVE weight=0' });
    env.fake.state.health.heartbeat();
    expect(stored.operating_status).toBe('DRAINING');
    clock += 24_000;
    expect(await observed(a, s.name)).toMatchObject({ admin: 'drain', health: 'pending', detail: 'DRAINING/ACTIVE weight=0' });
    clock += 1_000;
    expect(await observed(a, s.name)).toMatchObject({ admin: 'drain', health: 'healthy' });
    await a.enableMember('web', s.name);
    expect(stored.weight).toBe(1);

    // A retried warm add (an agent restart) brings our member back to weight 0, and a plain one to 1.
    const b = env.instance(NODE);
    await b.addMember(s);
    expect(stored.weight).toBe(0);
    await b.addMember(spec(NODE, '10.244.1.5'));
    expect(stored.weight).toBe(1);
    expect(env.fake.state.membersOf(env.web.id)).toHaveLength(1);
  });

  it('a pool without health monitor reports NO_MONITOR → unchecked', async () => {
    const a = env.instance(NODE);
    const s = spec(NODE, '10.244.1.6', 8080, 'nomon');
    await a.addMember(s);
    expect(await observed(a, s.name, 'nomon')).toMatchObject({ health: 'unchecked', detail: 'NO_MONITOR/ACTIVE weight=1' });
  });

  it('a member Octavia failed to program (provisioning ERROR) and a failing check are unhealthy', async () => {
    const a = env.instance(NODE);
    const s1 = spec(NODE, '10.244.1.7');
    const s2 = spec(NODE, '10.244.1.8');
    await a.addMember(s1);
    await a.addMember(s2);
    env.fake.state.memberByName(env.web.id, s1.name)!.provisioning_status = 'ERROR';
    env.fake.state.setOperatingStatus(env.fake.state.memberByName(env.web.id, s2.name)!.id, 'ERROR');
    expect((await observed(a, s1.name))?.health).toBe('unhealthy');
    expect((await observed(a, s2.name))?.health).toBe('unhealthy');
  });

  it('while the LB is still PENDING the new member is pending even in an unmonitored pool', async () => {
    env.fake.faults.setPendingMs(300);
    const a = env.instance(NODE);
    const s = spec(NODE, '10.244.1.9', 8080, 'nomon');
    await a.addMember(s);
    expect(await observed(a, s.name, 'nomon')).toMatchObject({ health: 'pending', detail: 'NO_MONITOR/PENDING_CREATE weight=1' });
  });

  it('pools are found by id as well as by name; unknown ones are missingBackends', async () => {
    const a = env.instance(NODE);
    await a.addMember(spec(NODE, '10.244.1.5', 8080, env.web.id));
    const listing = await a.listMembers([env.web.id, 'nope', 'web'], PREFIX);
    expect(listing.missingBackends).toEqual(['nope']);
    expect(listing.members.map((m) => m.backend).sort()).toEqual([env.web.id, 'web']);
    await expect(a.addMember(spec(NODE, '10.244.1.6', 8080, 'nope'))).rejects.toMatchObject({ code: 'OCTAVIA_BACKEND_MISSING', transient: false });
  });

  it('a pool created after the first listing is found once the cache may refresh', async () => {
    let clock = Date.now();
    const a = env.instance(NODE, { now: () => clock, poolRefreshMinMs: 1000 });
    expect((await a.listMembers(['late'], PREFIX)).missingBackends).toEqual(['late']);
    env.fake.state.createPool(env.lb.id, { name: 'late' });
    expect((await a.listMembers(['late'], PREFIX)).missingBackends).toEqual(['late']); // not re-read within 1 s
    clock += 1500;
    expect((await a.listMembers(['late'], PREFIX)).missingBackends).toEqual([]);
  });

  it('a load balancer that does not exist is a permanent, explained error', async () => {
    const a = env.instance(NODE, { loadBalancerID: '3f2a4c1e-9b7d-4e2a-8c1f-0a1b2c3d4e5f' });
    await expect(a.listMembers(['web'], PREFIX)).rejects.toMatchObject({ code: 'OCTAVIA_LB_NOT_FOUND', transient: false });
  });

  it('adding a member that is already ours adopts it (and undoes a drain); API calls are counted', async () => {
    const a = env.instance(NODE);
    const s = spec(NODE, '10.244.1.5');
    await a.addMember(s);
    const before = a.apiCalls;
    await a.drainMember('web', s.name);
    const b = env.instance(NODE); // a restarted agent: nothing cached
    await b.addMember(s);
    expect(env.fake.state.membersOf(env.web.id)).toHaveLength(1);
    expect(env.fake.state.memberByName(env.web.id, s.name)!.weight).toBe(1);
    expect(a.apiCalls - before).toBe(1); // the drain PUT, member id from the add's reply
    expect(a.counters.octaviaCalls + a.counters.keystoneCalls).toBe(a.apiCalls);
  });

  it("someone else's member on the same address:port is a permanent conflict and is left alone", async () => {
    const foreign = env.fake.state.insertMember(env.web.id, { name: 'hand-made', address: '10.244.1.5', protocol_port: 8080, weight: 3 });
    const a = env.instance(NODE);
    await expect(a.addMember(spec(NODE, '10.244.1.5'))).rejects.toMatchObject({ code: 'OCTAVIA_MEMBER_CONFLICT', transient: false });
    expect(env.fake.state.members.get(foreign.id)).toMatchObject({ name: 'hand-made', weight: 3 });
  });

  it('refuses names that are not podlb member names, or not this node’s', async () => {
    const a = env.instance(NODE);
    await expect(a.addMember({ backend: 'web', name: 'web-1', address: '10.244.1.5', port: 80 })).rejects.toMatchObject({ code: 'OCTAVIA_INVALID_MEMBER' });
    await expect(a.removeMember('web', memberName('node-b', '10.244.2.5', 80))).rejects.toMatchObject({ code: 'OCTAVIA_NOT_OWNER' });
    await expect(a.listMembers(['web'], memberNamePrefix('node-b'))).rejects.toMatchObject({ code: 'OCTAVIA_NOT_OWNER' });
    expect(env.fake.requestLog.filter((r) => r.method !== 'GET' && r.path.startsWith('/octavia/'))).toEqual([]);
  });

  it('IPv6 members', async () => {
    const a = env.instance(NODE);
    const s = spec(NODE, 'fd00:244:1::5');
    await a.addMember(s);
    expect(await observed(a, s.name)).toMatchObject({ address: 'fd00:244:1::5', port: 8080 });
  });

  it('400 from Octavia is a permanent OCTAVIA_BAD_REQUEST', async () => {
    const a = env.instance(NODE);
    env.fake.faults.failNext(400, 1, { method: 'POST', path: '/members' });
    await expect(a.addMember(spec(NODE, '10.244.1.5'))).rejects.toSatisfy(
      (e: unknown) => e instanceof OctaviaApiError && e.code === 'OCTAVIA_BAD_REQUEST' && !e.transient && e.status === 400,
    );
  });
});

describe('409 while the load balancer is PENDING_UPDATE', () => {
  it('parallel adds: each change waits out the previous one with jittered, growing delays', async () => {
    env.fake.faults.setPendingMs(120);
    const delays: number[] = [];
    const a = env.instance(NODE, {
      sleep: (ms) => {
        delays.push(ms);
        return new Promise((r) => setTimeout(r, ms));
      },
    });
    const specs = [1, 2, 3, 4].map((i) => spec(NODE, `10.244.1.${i}`));
    await Promise.all(specs.map((s) => a.addMember(s)));
    expect(
      env.fake.state
        .membersOf(env.web.id)
        .map((m) => m.name)
        .sort(),
    ).toEqual(specs.map((s) => s.name).sort());
    expect(a.counters.pendingRetries).toBeGreaterThan(0);
    expect(env.fake.requestLog.filter((r) => r.status === 409).length).toBe(a.counters.pendingRetries);
    // baseMs 10, maxMs 80: the n-th retry of one call waits in [d/2, d) with d = min(80, 10·2^n).
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(5);
      expect(d).toBeLessThan(80);
    }
    expect(new Set(delays.map((d) => d.toFixed(3))).size).toBeGreaterThan(1); // jittered, not lock-step
  });

  it('jitter is drawn in [d/2, d) and the delay doubles up to the cap', async () => {
    env.fake.faults.setPendingMs(10_000);
    const a = env.instance(NODE);
    await a.listMembers(['web'], PREFIX);
    env.fake.state.loadBalancers.get(env.lb.id)!.provisioning_status = 'PENDING_UPDATE';
    const delays: number[] = [];
    let t = 0;
    const rnd = [0, 0.999, 0.5, 0, 0.999, 0.5];
    let i = 0;
    const b = env.instance(NODE, {
      now: () => t,
      random: () => rnd[i++ % rnd.length]!,
      sleep: async (ms) => {
        delays.push(ms);
        t += ms;
      },
      pendingRetry: { baseMs: 100, maxMs: 400, budgetMs: 1000 },
    });
    const err = await b.addMember(spec(NODE, '10.244.1.5')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OctaviaPendingError);
    expect(err).toMatchObject({ code: 'OCTAVIA_LB_PENDING', transient: true, status: 409 });
    expect(delays.map((d) => Math.round(d))).toEqual([50, 200, 300, 200]); // d: 100, 200, 400, 400; the fifth (~400) would pass the 1000 ms budget
    expect(delays.reduce((x, y) => x + y, 0)).toBeLessThanOrEqual(1000);
  });

  // octavia/common/constants.py:247: ERROR is not a mutable status, and nothing but an
  // operator (failover, repair) takes the LB out of it: no retry budget is spent on it.
  it('a load balancer in provisioning ERROR fails the first write at once with LB_IN_ERROR', async () => {
    const a = env.instance(NODE, { pendingRetry: { baseMs: 5_000, maxMs: 5_000, budgetMs: 60_000 } });
    await a.listMembers(['web'], PREFIX);
    env.fake.state.setLoadBalancerStatus(env.lb.id, 'ERROR');
    env.fake.requestLog.length = 0;
    const t0 = Date.now();
    await expect(a.addMember(spec(NODE, '10.244.1.5'))).rejects.toMatchObject({ code: 'LB_IN_ERROR', transient: true });
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(env.fake.requestLog.map((r) => `${r.method} ${r.status}`)).toEqual(['POST 409', 'GET 200']);
    // Someone else's change (PENDING_UPDATE) is still waited out.
    env.fake.state.setLoadBalancerStatus(env.lb.id, 'PENDING_UPDATE');
    setTimeout(() => env.fake.state.setLoadBalancerStatus(env.lb.id, 'ACTIVE'), 100);
    const b = env.instance(NODE, { pendingRetry: { baseMs: 20, maxMs: 40, budgetMs: 5_000 } });
    await b.addMember(spec(NODE, '10.244.1.5'));
    expect(b.counters.pendingRetries).toBeGreaterThan(0);
  });

  it('drain and remove wait out a pending window too', async () => {
    const a = env.instance(NODE);
    const s = spec(NODE, '10.244.1.5');
    await a.addMember(s);
    env.fake.faults.setPendingMs(100);
    await a.drainMember('web', s.name); // locks for 100 ms
    await a.removeMember('web', s.name); // 409 until then
    expect(a.counters.pendingRetries).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 150));
    expect(env.fake.state.membersOf(env.web.id)).toEqual([]);
  });
});

describe('pagination', () => {
  it('follows next links until the last page (server cap 3, 10 members → 4 pages)', async () => {
    await env.fake.close();
    env = await startEnv({ pendingMs: 0, paginationMaxLimit: 3 });
    const a = env.instance(NODE);
    for (let i = 1; i <= 10; i++) await a.addMember(spec(NODE, `10.244.1.${i}`));
    env.fake.requestLog.length = 0;
    const { members } = await a.listMembers(['web'], PREFIX);
    expect(members.map((m) => m.address).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `10.244.1.${i + 1}`).sort());
    const gets = env.fake.requestLog.filter((r) => r.path.includes('/members'));
    expect(gets).toHaveLength(4);
    expect(gets.slice(1).every((r) => r.path.includes('marker='))).toBe(true);
  });

  it('uses its own page size, and only the marker of a link (not its host)', async () => {
    env.fake.faults.setLinkBase('http://127.0.0.2:1'); // a proxy-mangled link: nothing listens there
    const a = env.instance(NODE, { pageSize: 2 });
    for (let i = 1; i <= 5; i++) await a.addMember(spec(NODE, `10.244.1.${i}`));
    env.fake.requestLog.length = 0;
    const { members } = await a.listMembers(['web'], PREFIX);
    expect(members).toHaveLength(5);
    const gets = env.fake.requestLog.filter((r) => r.path.includes('/members'));
    expect(gets).toHaveLength(3);
    expect(gets.every((r) => r.path.includes('limit=2'))).toBe(true);
  });
});
