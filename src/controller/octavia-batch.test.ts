// The leader's batch writer against the in-process Octavia fake, driven pass by pass with a
// clock passed in. Octavia semantics it must respect (openstack/octavia member.py
// MembersController.put at 0e6ea11c): any write while the LB is PENDING_* gets 409 and changes
// nothing; a batch listing existing members locks the LB even when nothing changes.
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LoadBalancerClass } from '../api/types.js';
import { memberName } from '../lb/naming.js';
import { octaviaCluster, type OctaviaCluster } from '../../testkit/octavia-cluster.js';
import { startOctaviaFake, type OctaviaFake } from '../../testkit/octavia-fake/index.js';
import type { FakeLoadBalancer, FakePool } from '../../testkit/octavia-fake/state.js';
import { OctaviaBatchWriter, type OctaviaBatchSnapshot } from './octavia-batch.js';

let fake: OctaviaFake;
let lb: FakeLoadBalancer;
let pool: FakePool;
let plain: FakePool;
let writer: OctaviaBatchWriter;
const events: string[] = [];

const pods = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({ name: `web-${from + i}`, node: `node-${(i % 2) + 1}`, ip: `10.244.${(i % 2) + 1}.${from + i + 10}` }));

function snap(c: OctaviaCluster, extraClasses: LoadBalancerClass[] = []): OctaviaBatchSnapshot {
  return { ...c, classes: [...c.classes, ...extraClasses], secret: () => c.secret, synced: true };
}

/** Batch updates the fake accepted on the owned pool, and all 409s. */
const puts = (): number => fake.requestLog.filter((r) => r.method === 'PUT' && r.path.endsWith(`/pools/${pool.id}/members`) && r.status < 300).length;

beforeEach(async () => {
  fake = await startOctaviaFake({ pendingMs: 0 });
  lb = fake.state.createLoadBalancer({ name: 'l7' });
  pool = fake.state.createPool(lb.id, { name: 'web', healthMonitor: true, tags: ['podlb-owned'] });
  plain = fake.state.createPool(lb.id, { name: 'plain', healthMonitor: true });
  events.length = 0;
  writer = new OctaviaBatchWriter({ log: pino({ level: 'silent' }), record: (e) => events.push(e.reason), pollMs: 10, coalesceMs: 0, resyncMs: 0 });
});
afterEach(async () => {
  await fake.close();
});

describe('OctaviaBatchWriter', () => {
  it('one batch for the whole set; a pass that finds the pool as planned sends nothing (a no-change batch would still lock the LB)', async () => {
    const c = octaviaCluster(fake, lb.id, pods(10));
    const r = await writer.run(snap(c), 1_000, () => true);
    expect(r.writes).toBe(1);
    expect(fake.state.membersOf(pool.id)).toHaveLength(10);
    for (const t of [2_000, 3_000, 4_000]) expect((await writer.run(snap(c), t, () => true)).writes).toBe(0);
    expect(puts()).toBe(1);
    expect(fake.state.membersOf(plain.id)).toEqual([]);
    expect(fake.requestLog.filter((x) => x.method !== 'GET' && x.path.includes(plain.id))).toEqual([]);
  });

  it('while the LB is PENDING nothing is sent; once ACTIVE, one batch carries everything that changed meanwhile', async () => {
    await writer.run(snap(octaviaCluster(fake, lb.id, pods(4))), 1_000, () => true);
    lb.provisioning_status = 'PENDING_UPDATE'; // someone else's change is being applied
    const more = octaviaCluster(fake, lb.id, [...pods(4), ...pods(6, 4)]);
    const r = await writer.run(snap(more), 2_000, () => true);
    expect(r.loadBalancers[0]).toMatchObject({ state: 'pending' });
    expect(r.nextAt).toBe(2_010);
    lb.provisioning_status = 'ACTIVE';
    expect((await writer.run(snap(more), 2_010, () => true)).writes).toBe(1);
    expect(puts()).toBe(2);
    expect(fake.state.membersOf(pool.id)).toHaveLength(10);
  });

  it('a 409 on the batch itself (locked between our look and our write) is not resent as it was: the next pass sends the current whole set', async () => {
    fake.faults.failNext(409, 1, { method: 'PUT', path: /\/members$/ });
    const r = await writer.run(snap(octaviaCluster(fake, lb.id, pods(2))), 1_000, () => true);
    expect(r.loadBalancers[0]).toMatchObject({ state: 'locked' });
    expect(fake.state.membersOf(pool.id)).toEqual([]);
    const now = octaviaCluster(fake, lb.id, pods(5));
    expect((await writer.run(snap(now), 1_010, () => true)).writes).toBe(1);
    expect(
      fake.state
        .membersOf(pool.id)
        .map((m) => m.name)
        .sort(),
    ).toEqual(
      pods(5)
        .map((p) => memberName(p.node, p.ip, 8080))
        .sort(),
    );
  });

  it('a class that does not parse but names the same load balancer keeps the writer off it; not leading, nothing is sent', async () => {
    const c = octaviaCluster(fake, lb.id, pods(3));
    const broken = { ...c.classes[0]!, metadata: { name: 'broken' }, spec: { ...c.classes[0]!.spec, drainSeconds: -1 } } as LoadBalancerClass;
    expect((await writer.run(snap(c, [broken]), 1_000, () => true)).writes).toBe(0);
    expect((await writer.run(snap(c), 2_000, () => false)).writes).toBe(0);
    expect(fake.state.membersOf(pool.id)).toEqual([]);
    expect((await writer.run(snap(c), 3_000, () => true)).writes).toBe(1);
  });

  it('a member Octavia failed to program (provisioning ERROR) is listed again though nothing else changed, and after the repair backoff while it keeps failing', async () => {
    // Re-reads only when due (default resyncMs), and backoff without jitter.
    writer = new OctaviaBatchWriter({ log: pino({ level: 'silent' }), record: (e) => events.push(e.reason), pollMs: 10, coalesceMs: 0, random: () => 0.5 });
    const c = octaviaCluster(fake, lb.id, pods(2));
    const status = (): string[] => fake.state.membersOf(pool.id).map((m) => m.provisioning_status);
    fake.faults.failProvisioning(1);
    expect((await writer.run(snap(c), 1_000, () => true)).writes).toBe(1);
    expect(status()).toEqual(['ERROR', 'ERROR']);
    const ids = fake.state.membersOf(pool.id).map((m) => m.id);
    // The same plan: only the ERROR members call for a batch.
    fake.faults.failProvisioning(1);
    const r = await writer.run(snap(c), 2_000, () => true);
    expect(r.writes).toBe(1);
    expect(r.loadBalancers[0]!.pools).toEqual([expect.objectContaining({ result: 'written', create: 0, update: 0, delete: 0, repair: 2 })]);
    expect(status()).toEqual(['ERROR', 'ERROR']);
    // Failed again: not before the repair backoff (REPAIR_BACKOFF: 5 s after the first repair), and the writer says when.
    const held = await writer.run(snap(c), 3_000, () => true);
    expect(held.writes).toBe(0);
    expect(held.nextAt).toBe(2_000 + 5_000);
    expect((await writer.run(snap(c), 6_999, () => true)).writes).toBe(0);
    expect((await writer.run(snap(c), 7_000, () => true)).writes).toBe(1);
    expect(status()).toEqual(['ACTIVE', 'ACTIVE']);
    expect(fake.state.membersOf(pool.id).map((m) => m.id)).toEqual(ids);
    // One Event per batch that repaired, not one per member.
    expect(events.filter((e) => e === 'MemberRepaired')).toHaveLength(2);
    // Programmed: nothing more to send.
    expect((await writer.run(snap(c), 8_000, () => true)).writes).toBe(0);
    expect(puts()).toBe(3);
  });

  it('caches not listed yet: nothing is planned, nothing removed', async () => {
    await writer.run(snap(octaviaCluster(fake, lb.id, pods(3))), 1_000, () => true);
    const empty = octaviaCluster(fake, lb.id, []);
    expect((await writer.run({ ...snap(empty), synced: false }, 2_000, () => true)).skipped).toBe('notSynced');
    expect(fake.state.membersOf(pool.id)).toHaveLength(3);
  });
});
