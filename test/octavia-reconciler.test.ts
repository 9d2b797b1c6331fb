// The agent's MemberReconciler driving an OctaviaInstance through `makeInstance`:
// what the agent engineer wires, shown to work. Two nodes' reconcilers share one pool.
// The fake runs its realistic PENDING window (seconds per change) and the clients retry 409s
// as in production.
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memberName } from '../src/lb/naming.js';
import { octaviaInstanceId } from '../src/lb/octavia-tags.js';
import type { LbClassModel } from '../src/members/binding.js';
import type { DesiredMember } from '../src/members/plan.js';
import { MemberReconciler } from '../src/members/reconciler.js';
import { batchUpdates, startEnv, type Env } from '../testkit/octavia-env.js';

let env: Env;
beforeEach(async () => {
  env = await startEnv();
});
afterEach(async () => {
  await env.fake.close();
});

function desired(node: string, ip: string, state: DesiredMember['state'] = 'active'): DesiredMember {
  return {
    className: 'osl',
    backend: 'web',
    name: memberName(node, ip, 8080),
    address: ip,
    port: 8080,
    pod: { namespace: 'ads', name: `p-${ip}`, uid: ip },
    service: { namespace: 'ads', name: 'bidder' },
    state,
    drainSeconds: 30,
  };
}

describe('MemberReconciler with an OctaviaInstance', () => {
  it('adds, sees health, drains and removes its own members; the other node’s stay', async () => {
    const id = octaviaInstanceId(env.lb.id, 'RegionOne');
    // Today LbClassModel.provider is the literal 'haproxy': the agent engineer widens it.
    const cls = { name: 'osl', provider: 'octavia', instances: [id], withoutHealthCheck: 'Immediate', timeoutSeconds: 600 } as unknown as LbClassModel;
    const classes = new Map([['osl', cls]]);
    const t0 = Date.now();
    let clock = t0; // the runs' `now`, and the clients' clock for the settle time of an ONLINE
    const at = (t: number): number => {
      clock = t;
      return t;
    };
    const rec = (node: string): MemberReconciler =>
      new MemberReconciler({
        nodeName: node,
        log: pino({ level: 'silent' }),
        makeInstance: (ref) => {
          expect(ref.id).toBe(id);
          return env.instance(node, { now: () => clock });
        },
      });
    const a = rec('node-a');
    const b = rec('node-b');
    const live = new Set(['10.244.1.5', '10.244.2.5']);

    let outA = await a.reconcile(classes, [desired('node-a', '10.244.1.5')], live, t0);
    await b.reconcile(classes, [desired('node-b', '10.244.2.5')], live, t0);
    expect(outA.added).toEqual([`web/${memberName('node-a', '10.244.1.5', 8080)}`]);
    expect(outA.instances[0]).toMatchObject({ id, reachable: true, missingBackends: [] });

    const mA = env.fake.state.memberByName(env.web.id, memberName('node-a', '10.244.1.5', 8080))!;
    outA = await a.reconcile(classes, [desired('node-a', '10.244.1.5')], live, at(t0 + 1000));
    expect(outA.views.get(`web/${mA.name}`)).toEqual({ registered: true, healthy: false, unchecked: false }); // OFFLINE: no report yet
    env.fake.state.setOperatingStatus(mA.id, 'ONLINE');
    // The pool's monitor (delay 5 s × max_retries_down 3) and a 10 s heartbeat: not before 25 s.
    outA = await a.reconcile(classes, [desired('node-a', '10.244.1.5')], live, at(t0 + 2000));
    expect(outA.views.get(`web/${mA.name}`)).toEqual({ registered: true, healthy: false, unchecked: false });
    outA = await a.reconcile(classes, [desired('node-a', '10.244.1.5')], live, at(t0 + 26_000));
    expect(outA.views.get(`web/${mA.name}`)).toEqual({ registered: true, healthy: true, unchecked: false });

    // Terminating: drained at once (weight 0), removed when the Pod is gone.
    await a.reconcile(classes, [desired('node-a', '10.244.1.5', 'draining')], live, at(t0 + 27_000));
    expect(env.fake.state.members.get(mA.id)!.weight).toBe(0);
    await a.reconcile(classes, [], new Set(['10.244.2.5']), at(t0 + 28_000));
    while (env.fake.state.members.has(mA.id)) await new Promise((r) => setTimeout(r, 50)); // PENDING_DELETE for the window
    expect(env.fake.state.members.has(mA.id)).toBe(false);

    // Node A's reconciler with nothing desired never removes node B's member.
    await a.reconcile(classes, [], new Set(), at(t0 + 29_000));
    expect(env.fake.state.membersOf(env.web.id).map((m) => m.name)).toEqual([memberName('node-b', '10.244.2.5', 8080)]);
    expect(batchUpdates(env.fake)).toEqual([]);
    await a.close();
    await b.close();
  });

  it('Octavia unreachable: the instance backs off, registered members are kept', async () => {
    const id = octaviaInstanceId(env.lb.id, 'RegionOne');
    const cls = { name: 'osl', provider: 'octavia', instances: [id], withoutHealthCheck: 'Immediate', timeoutSeconds: 600 } as unknown as LbClassModel;
    const r = new MemberReconciler({ nodeName: 'node-a', log: pino({ level: 'silent' }), makeInstance: () => env.instance('node-a'), random: () => 0.5 });
    const t0 = Date.now();
    const want = [desired('node-a', '10.244.1.5')];
    await r.reconcile(new Map([['osl', cls]]), want, new Set(['10.244.1.5']), t0);
    await r.reconcile(new Map([['osl', cls]]), want, new Set(['10.244.1.5']), t0 + 500); // a listing that includes it
    env.fake.faults.failNext(503, 1, { path: '/members' });
    const out = await r.reconcile(new Map([['osl', cls]]), want, new Set(['10.244.1.5']), t0 + 1000);
    expect(out.instances[0]).toMatchObject({ reachable: false, lastError: expect.stringContaining('503') });
    expect(out.events.map((e) => e.reason)).toEqual(['LoadBalancerUnreachable']);
    expect(out.views.get(`web/${memberName('node-a', '10.244.1.5', 8080)}`)).toEqual({ registered: true, healthy: false, unchecked: false });
    expect(env.fake.state.membersOf(env.web.id)).toHaveLength(1);
    // Back after the backoff: reachable in the run's status, and no per-node Event on the class.
    const back = await r.reconcile(new Map([['osl', cls]]), want, new Set(['10.244.1.5']), t0 + 120_000);
    expect(back.instances[0]).toMatchObject({ reachable: true });
    expect(back.events).toEqual([]);
    await r.close();
  });

  it('a rotated credentials Secret gives a new client; the instance, its status and its drain window stay', async () => {
    const id = octaviaInstanceId(env.lb.id, 'RegionOne');
    const cls = { name: 'osl', provider: 'octavia', instances: [id], withoutHealthCheck: 'Immediate', timeoutSeconds: 600 } as unknown as LbClassModel;
    let version = '1';
    const made: string[] = [];
    const r = new MemberReconciler({
      nodeName: 'node-a',
      log: pino({ level: 'silent' }),
      instancesOf: (c) => c.instances.map((x) => ({ className: c.name, provider: c.provider, id: x, credentialsVersion: version })),
      makeInstance: (ref) => {
        made.push(ref.credentialsVersion ?? '');
        return env.instance('node-a');
      },
    });
    const classes = new Map([['osl', cls]]);
    const live = new Set(['10.244.1.5']);
    const t0 = Date.now();
    await r.reconcile(classes, [desired('node-a', '10.244.1.5')], live, t0);
    await r.reconcile(classes, [desired('node-a', '10.244.1.5', 'draining')], live, t0 + 1000);
    const m = env.fake.state.memberByName(env.web.id, memberName('node-a', '10.244.1.5', 8080))!;
    expect(m.weight).toBe(0);

    version = '2';
    let out = await r.reconcile(classes, [desired('node-a', '10.244.1.5', 'draining')], live, t0 + 11_000);
    expect(made).toEqual(['1', '2']);
    expect(out.instances).toEqual([{ className: 'osl', id, reachable: true, missingBackends: [] }]);
    expect(out.details.get(`web/${m.name}`)?.map((d) => d.instance)).toEqual([id]);
    // The drain began at t0 + 1 s under the old client: the window ends at t0 + 31 s, not 30 s after the rotation.
    expect(out.nextWakeAt).toBe(t0 + 31_000);
    out = await r.reconcile(classes, [desired('node-a', '10.244.1.5', 'draining')], live, t0 + 31_000);
    expect(env.fake.state.members.get(m.id)?.provisioning_status).toBe('PENDING_DELETE');
    while (env.fake.state.members.has(m.id)) await new Promise((res) => setTimeout(res, 50));
    expect(out.events.map((e) => e.reason)).toEqual(['MemberRemoved']);
    await r.close();
  });

  // lifecycle_tasks.py:184-207: a failed provider call leaves the member ERROR for good.
  it('a member Octavia failed to program is removed and added again, with backoff between repairs', async () => {
    const id = octaviaInstanceId(env.lb.id, 'RegionOne');
    const cls = { name: 'osl', provider: 'octavia', instances: [id], withoutHealthCheck: 'Immediate', timeoutSeconds: 600 } as unknown as LbClassModel;
    const classes = new Map([['osl', cls]]);
    const r = new MemberReconciler({ nodeName: 'node-a', log: pino({ level: 'silent' }), makeInstance: () => env.instance('node-a'), random: () => 0.5 });
    const want = [desired('node-a', '10.244.1.5')];
    const live = new Set(['10.244.1.5']);
    const name = memberName('node-a', '10.244.1.5', 8080);
    const settled = async (): Promise<void> => {
      while (env.fake.state.loadBalancers.get(env.lb.id)!.provisioning_status !== 'ACTIVE') await new Promise((res) => setTimeout(res, 50));
    };
    env.fake.faults.failProvisioning(2); // the add fails, and so does the first repair
    const t0 = Date.now();
    await r.reconcile(classes, want, live, t0);
    await settled();
    expect(env.fake.state.memberByName(env.web.id, name)!.provisioning_status).toBe('ERROR');

    let out = await r.reconcile(classes, want, live, t0 + 1000);
    expect(out.events.map((e) => [e.reason, e.object.kind])).toEqual([['MemberRepaired', 'Pod']]);
    await settled();
    expect(env.fake.state.memberByName(env.web.id, name)!.provisioning_status).toBe('ERROR'); // failed again
    // Not again before the backoff (5 s; random 0.5 is the middle of the ±20% jitter); the run asks to be woken then.
    out = await r.reconcile(classes, want, live, t0 + 2000);
    expect(out.events).toEqual([]);
    expect(out.nextWakeAt).toBe(t0 + 6000);
    out = await r.reconcile(classes, want, live, t0 + 6000);
    expect(out.events.map((e) => e.reason)).toEqual(['MemberRepaired']);
    expect(out.events[0]!.message).toMatch(/\(repair 2\)$/);
    await settled();
    expect(env.fake.state.membersOf(env.web.id).map((m) => [m.name, m.provisioning_status])).toEqual([[name, 'ACTIVE']]);
    await r.close();
  });

  // constants.py:247: an LB in ERROR is immutable until an operator repairs it.
  it('a load balancer in ERROR is reported as such and retried with backoff, not an endless 409 loop', async () => {
    const id = octaviaInstanceId(env.lb.id, 'RegionOne');
    const cls = { name: 'osl', provider: 'octavia', instances: [id], withoutHealthCheck: 'Immediate', timeoutSeconds: 600 } as unknown as LbClassModel;
    const classes = new Map([['osl', cls]]);
    const r = new MemberReconciler({ nodeName: 'node-a', log: pino({ level: 'silent' }), makeInstance: () => env.instance('node-a'), random: () => 0.5 });
    env.fake.state.setLoadBalancerStatus(env.lb.id, 'ERROR');
    const want = [desired('node-a', '10.244.1.5'), desired('node-a', '10.244.1.6')];
    const live = new Set(['10.244.1.5', '10.244.1.6']);
    const t0 = Date.now();
    const out = await r.reconcile(classes, want, live, t0);
    expect(out.instances[0]).toMatchObject({ reachable: false, code: 'LB_IN_ERROR', lastError: expect.stringContaining('provisioning_status ERROR') });
    expect(out.events.map((e) => [e.reason, e.object.kind])).toEqual([['LoadBalancerError', 'LoadBalancerClass']]);
    expect(env.fake.requestLog.filter((x) => x.method === 'POST' && x.path.includes('/members'))).toHaveLength(1); // the second add is not tried
    const calls = env.fake.requestLog.length;
    const again = await r.reconcile(classes, want, live, t0 + 100);
    expect(env.fake.requestLog.length).toBe(calls); // backing off
    expect(again.events).toEqual([]);
    await r.close();
  });
});
