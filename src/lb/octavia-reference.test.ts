// OctaviaInstance against the behaviour of a real Octavia the fake models (openstack/octavia at
// 0e6ea11c): early ONLINE, weight-0 health, provisioning ERROR, pages whose links drop filters,
// and a quota 403. Each test cites the reference.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memberName, memberNamePrefix } from './naming.js';
import type { ObservedMember } from './provider.js';
import { spec, startEnv, type Env } from '../../testkit/octavia-env.js';

const NODE = 'node-a';
const PREFIX = memberNamePrefix(NODE);
let env: Env;
let clock: number;
beforeEach(async () => {
  env = await startEnv({ pendingMs: 0 });
  clock = Date.now();
});
afterEach(async () => {
  await env.fake.close();
});

/** A client and the fake's health manager on one clock the test moves. */
function client(): ReturnType<Env['instance']> {
  return env.instance(NODE, { now: () => clock, heartbeatMs: 10_000 });
}

async function observed(inst: ReturnType<Env['instance']>, name: string, backend = 'web'): Promise<ObservedMember | undefined> {
  return (await inst.listMembers([backend], PREFIX)).members.find((m) => m.name === name);
}

/** Moves the clock, lets the amphora send a heartbeat, and lists. */
async function later(ms: number, inst: ReturnType<Env['instance']>, name: string): Promise<ObservedMember | undefined> {
  clock += ms;
  env.fake.state.health.heartbeat(clock);
  return observed(inst, name);
}

describe('the gate rule: ONLINE counts once delay × max_retries_down + a heartbeat have passed since ACTIVE', () => {
  // HAProxy starts a new server UP before any check; heartbeat_udp.py:600-605 reports UP as
  // ONLINE, DOWN (after max_retries_down failed checks) as ERROR. The web pool's monitor:
  // delay 5 s, max_retries_down 3; heartbeat 10 s → 25 s.
  it('early ONLINE, then ERROR: never healthy', async () => {
    const a = client();
    const s = spec(NODE, '10.244.1.5');
    await a.addMember(s);
    const m = env.fake.state.memberByName(env.web.id, s.name)!;
    env.fake.state.setCheckResult(m.id, 'fail');
    await observed(a, s.name); // first seen ACTIVE now
    expect(await later(1_000, a, s.name)).toMatchObject({ health: 'pending', detail: 'ONLINE/ACTIVE weight=1' });
    expect(await later(10_000, a, s.name)).toMatchObject({ health: 'pending', detail: 'ONLINE/ACTIVE weight=1' });
    expect(await later(10_000, a, s.name)).toMatchObject({ health: 'unhealthy', detail: 'ERROR/ACTIVE weight=1' });
    expect(await later(10_000, a, s.name)).toMatchObject({ health: 'unhealthy' });
  });

  it('a passing member: pending while ONLINE may precede any check, healthy after', async () => {
    const a = client();
    const s = spec(NODE, '10.244.1.5');
    await a.addMember(s);
    await observed(a, s.name);
    expect(await later(20_000, a, s.name)).toMatchObject({ health: 'pending', detail: 'ONLINE/ACTIVE weight=1' });
    expect(await later(5_000, a, s.name)).toMatchObject({ health: 'healthy', detail: 'ONLINE/ACTIVE weight=1' });
  });

  // haproxy_query.py:141-142: UP at weight 0 is DRAIN → DRAINING; DOWN at weight 0 stays DOWN → ERROR.
  it('a weight-0 member is health-checked: DRAINING counts like ONLINE, a failing one turns ERROR', async () => {
    const a = client();
    const ok = spec(NODE, '10.244.1.5');
    const bad = spec(NODE, '10.244.1.6');
    await a.addMember(ok);
    await a.addMember(bad);
    await a.drainMember('web', ok.name);
    await a.drainMember('web', bad.name);
    env.fake.state.setCheckResult(env.fake.state.memberByName(env.web.id, bad.name)!.id, 'fail');
    await observed(a, ok.name);
    expect(await later(1_000, a, ok.name)).toMatchObject({ admin: 'drain', health: 'pending', detail: 'DRAINING/ACTIVE weight=0' });
    expect(await observed(a, bad.name)).toMatchObject({ admin: 'drain', health: 'pending', detail: 'DRAINING/ACTIVE weight=0' });
    expect(await later(25_000, a, ok.name)).toMatchObject({ admin: 'drain', health: 'healthy', detail: 'DRAINING/ACTIVE weight=0' });
    expect(await observed(a, bad.name)).toMatchObject({ admin: 'drain', health: 'unhealthy', detail: 'ERROR/ACTIVE weight=0' });
  });

  it('the monitor is read once with the pools, not per listing', async () => {
    const a = client();
    await a.listMembers(['web'], PREFIX);
    await a.listMembers(['web'], PREFIX);
    expect(env.fake.requestLog.filter((r) => r.path.includes('/healthmonitors/'))).toHaveLength(1);
  });
});

// lifecycle_tasks.py:184-207: a failed provider call leaves the member in ERROR for good.
it('a member Octavia failed to program is listed as failed (the reconciler repairs it)', async () => {
  const a = client();
  env.fake.faults.failProvisioning(1);
  const s = spec(NODE, '10.244.1.5');
  await a.addMember(s);
  expect(await observed(a, s.name)).toMatchObject({ health: 'unhealthy', failed: true, detail: 'OFFLINE/ERROR weight=1' });
  await a.removeMember('web', s.name);
  await a.addMember(s);
  expect(await observed(a, s.name)).not.toHaveProperty('failed');
});

// pagination.py:150-173: the next link holds only limit and marker; the filters are the client's to keep.
it('keeps its tag filters on every page although the next links drop them', async () => {
  await env.fake.close();
  env = await startEnv({ pendingMs: 0, paginationMaxLimit: 3 });
  for (let i = 1; i <= 7; i++) {
    env.fake.state.insertMember(env.web.id, {
      name: memberName(NODE, `10.244.1.${i}`, 8080),
      address: `10.244.1.${i}`,
      protocol_port: 8080,
      tags: ['podlb', 'podlb-node:node-a'],
    });
    env.fake.state.insertMember(env.web.id, {
      name: memberName('node-b', `10.244.2.${i}`, 8080),
      address: `10.244.2.${i}`,
      protocol_port: 8080,
      tags: ['podlb', 'podlb-node:node-b'],
    });
  }
  const a = env.instance(NODE);
  env.fake.requestLog.length = 0;
  const { members } = await a.listMembers(['web'], PREFIX);
  expect(members).toHaveLength(7);
  const gets = env.fake.requestLog.filter((r) => r.path.includes('/members'));
  // 7 own members in pages of 3: 3 + 3 + 1, and only those crossed the wire.
  expect(gets).toHaveLength(3);
  for (const g of gets) expect(new URL(g.path, 'http://x').searchParams.get('tags')).toBe('podlb,podlb-node:node-a');
});

// exceptions.py:314-316: QuotaException is a 403 like PolicyForbidden (:77-79); tell them apart.
it('a quota 403 is reported as quota, not as a missing role', async () => {
  const a = client();
  env.fake.faults.setMemberQuota(1);
  await a.addMember(spec(NODE, '10.244.1.5'));
  const err = await a.addMember(spec(NODE, '10.244.1.6')).catch((e: unknown) => e);
  expect(err).toMatchObject({ code: 'OCTAVIA_QUOTA', status: 403, transient: false });
  expect((err as Error).message).toMatch(/quota/i);
  expect((err as Error).message).not.toMatch(/role/);
});
