// The per-provider executors applying diffMembers' actions to real load-balancer clients:
// HAProxy 2.6 in the root namespace and the in-process Octavia stand-in. What each reports
// (acknowledged, refused for good, stopped by a failure) is what the member reconciler
// records, so these pin down when a run goes on and when it stops.
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startHaproxy, type HaproxyProcess } from '../src/lab/haproxy-process.js';
import { NetnsSandbox } from '../src/lab/netns.js';
import { HaproxyInstance } from '../src/lb/haproxy-instance.js';
import { memberName, memberNamePrefix } from '../src/lb/naming.js';
import type { LbInstance } from '../src/lb/provider.js';
import { diffMembers, type MemberAction } from '../src/members/diff.js';
import { haproxyExecutor, octaviaExecutor } from '../src/members/execute.js';
import { memberKey, type DesiredMember } from '../src/members/plan.js';
import { PodlbError } from '../src/util/errors.js';
import { requestVia, startPod, type TestPod } from '../testkit/haproxy-pods.js';
import { startEnv, type Env } from '../testkit/octavia-env.js';

const NODE = 'node-a';
const PREFIX = memberNamePrefix(NODE);

function want(
  ip: string,
  o: { state?: DesiredMember['state']; backend?: string; port?: number; healthCheck?: DesiredMember['healthCheck'] } = {},
): DesiredMember {
  const port = o.port ?? 8080;
  return {
    ...(o.healthCheck ? { healthCheck: o.healthCheck } : {}),
    className: 'c',
    backend: o.backend ?? 'web',
    name: memberName(NODE, ip, port),
    address: ip,
    port,
    pod: { namespace: 'ads', name: `p-${ip}`, uid: `uid-${ip}` },
    service: { namespace: 'ads', name: 'bidder' },
    state: o.state ?? 'active',
    drainSeconds: 30,
  };
}

/** The actions for `desired` against what `inst` holds of this node now. */
async function plan(inst: LbInstance, desired: DesiredMember[], backends = ['web']): Promise<MemberAction[]> {
  const listing = await inst.listMembers(backends, PREFIX);
  const live = new Set(desired.map((m) => m.address));
  return diffMembers({
    desired,
    observed: new Map(listing.members.map((o) => [memberKey(o.backend, o.name), o])),
    missingBackends: new Set(listing.missingBackends),
    livePodIps: live,
    drainingSince: new Map(),
    lastDesired: new Map(),
    now: Date.now(),
  }).actions;
}

const kinds = (actions: readonly MemberAction[]): string[] => actions.map((a) => `${a.kind} ${a.kind === 'add' ? a.desired.address : a.member.address}`);

describe('octaviaExecutor', () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv();
  });
  afterAll(async () => {
    await env.fake.close();
  });

  it('writes one at a time in the diff’s order, and the first transient failure ends the run', async () => {
    const inst = env.instance(NODE);
    const first = await octaviaExecutor.execute(inst, await plan(inst, [want('10.244.1.5')]));
    expect(kinds(first.done)).toEqual(['add 10.244.1.5']);

    const actions = await plan(inst, [want('10.244.1.5', { state: 'draining' }), want('10.244.1.6'), want('10.244.1.7')]);
    expect(kinds(actions)).toEqual(['drain 10.244.1.5', 'add 10.244.1.6', 'add 10.244.1.7']);
    env.fake.faults.failNext(503, 1, { method: 'POST', path: /\/members$/ });
    const posts = (): number => env.fake.requestLog.filter((r) => r.method === 'POST' && /\/members$/.test(r.path)).length;
    const before = posts();
    const report = await octaviaExecutor.execute(inst, actions);
    expect(kinds(report.done)).toEqual(['drain 10.244.1.5']);
    expect(report.failed).toBeInstanceOf(PodlbError);
    expect((report.failed as PodlbError).transient).toBe(true);
    // The locked or failing load balancer was asked once, not once per queued add.
    expect(posts() - before).toBe(1);
    expect(env.fake.state.membersOf(env.web.id).map((m) => m.address)).toEqual(['10.244.1.5']);
    await inst.close();
  });

  it('a member an operator set admin_state_up false is brought back up with its weight: held at 0 while warming, 1 when active, and checked again', async () => {
    const inst = env.instance(NODE);
    const warming = want('10.244.1.20', { state: 'warming' });
    const active = want('10.244.1.21');
    // (The suite's earlier members in this pool are removed along the way.)
    const added = (await octaviaExecutor.execute(inst, await plan(inst, [warming, active]))).done.filter((a) => a.kind === 'add');
    expect(kinds(added)).toEqual(['add 10.244.1.20', 'add 10.244.1.21']);
    const stored = (m: DesiredMember) => env.fake.state.memberByName(env.web.id, m.name)!;
    for (const m of [warming, active]) stored(m).admin_state_up = false;
    env.fake.state.health.heartbeat();
    expect([stored(warming).operating_status, stored(active).operating_status]).toEqual(['OFFLINE', 'OFFLINE']);

    const actions = await plan(inst, [warming, active]);
    expect(kinds(actions)).toEqual(['hold 10.244.1.20', 'enable 10.244.1.21']);
    expect((await octaviaExecutor.execute(inst, actions)).failed).toBeUndefined();
    expect([stored(warming), stored(active)].map((m) => [m.admin_state_up, m.weight])).toEqual([
      [true, 0],
      [true, 1],
    ]);
    // Back on the amphora, checked: a passing weight-0 member reports DRAINING, not OFFLINE.
    env.fake.state.health.heartbeat();
    expect([stored(warming).operating_status, stored(active).operating_status]).toEqual(['DRAINING', 'ONLINE']);
    // Nothing left to write: no PUT on every run.
    expect(await plan(inst, [warming, active])).toEqual([]);
    await inst.close();
  });

  it('an add refused for good is reported and the others go on', async () => {
    const inst = env.instance(NODE);
    const report = await octaviaExecutor.execute(
      inst,
      await plan(inst, [want('10.244.1.8', { backend: 'nomon', port: 0 }), want('10.244.1.9', { backend: 'nomon' })], ['nomon']),
    );
    expect(report.failed).toBeUndefined();
    expect(report.refused.map((r) => r.action.desired.address)).toEqual(['10.244.1.8']);
    expect(kinds(report.done)).toEqual(['add 10.244.1.9']);
    expect(env.fake.state.membersOf(env.nomon.id).map((m) => m.address)).toEqual(['10.244.1.9']);
    await inst.close();
  });
});

describe('haproxyExecutor on HAProxy 2.6', () => {
  let sb: NetnsSandbox;
  let hp: HaproxyProcess;
  let lb: HaproxyInstance;
  let httpSock: string;
  const pods: TestPod[] = [];

  beforeAll(async () => {
    sb = new NetnsSandbox();
    const dir = sb.tempDir('haproxy');
    httpSock = join(dir, 'http.sock');
    hp = await startHaproxy(sb, null, {
      dir,
      backends: [
        { name: 'web', httpCheckPath: '/healthz' },
        { name: 'static', balance: 'static-rr' },
      ],
      frontends: [{ name: 'fe', bind: `unix@${httpSock}`, backend: 'web' }],
    });
    lb = new HaproxyInstance(hp.runtimeAddress);
  });

  afterEach(async () => {
    const { members } = await lb.listMembers(['web'], PREFIX);
    for (const m of members) await lb.removeMember(m.backend, m.name);
    await Promise.all(pods.splice(0).map((p) => p.close()));
  });

  // rise × inter (600 ms at least) is the window in which a fresh check cannot yet have made a member healthy.
  const CHECK = { intervalMs: 300, rise: 3, fall: 2 };

  /** A Pod on 127.0.0.1 and its desired member; an anchor member without check serves meanwhile. */
  async function podMember(name: string, state: DesiredMember['state']): Promise<{ pod: TestPod; m: DesiredMember }> {
    const pod = await startPod(name);
    pods.push(pod);
    return { pod, m: want('127.0.0.1', { port: pod.port, state, healthCheck: CHECK }) };
  }

  async function observed(m: DesiredMember) {
    return (await lb.listMembers(['web'], PREFIX)).members.find((o) => o.name === m.name);
  }

  /** Requests through the frontend until `m` is healthy: each must be the anchor's. */
  async function requestsUntilHealthy(m: DesiredMember): Promise<void> {
    const deadline = Date.now() + 10_000;
    while ((await observed(m))?.health !== 'healthy') {
      expect(Date.now(), `${m.name} healthy within 10 s: ${(await observed(m))?.detail}`).toBeLessThan(deadline);
      expect(await requestVia(httpSock)).toEqual({ status: 200, body: 'anchor' });
    }
  }

  let anchor: DesiredMember;
  async function withAnchor(): Promise<void> {
    const pod = await startPod('anchor');
    pods.push(pod);
    anchor = want('127.0.0.1', { port: pod.port });
    const report = await haproxyExecutor.execute(lb, await plan(lb, [anchor]));
    expect(kinds(report.done)).toEqual(['add 127.0.0.1']);
  }
  /** The actions for `desired` beside the anchor, which stays as it is. */
  const planBeside = (...desired: DesiredMember[]): Promise<MemberAction[]> => plan(lb, [anchor, ...desired]);

  it('a warming member found in maintenance is held drained with a fresh health check running: re-added there with checks never enabled, or put there by an operator', async () => {
    await withAnchor();
    // Warm and checked healthy, then an operator's maintenance: checks paused on an L7OK.
    const paused = await podMember('paused', 'warming');
    await haproxyExecutor.execute(lb, await planBeside(paused.m));
    await requestsUntilHealthy(paused.m);
    expect(await lb.runtime.command(`set server web/${paused.m.name} state maint`)).toBe('');
    // Re-added in maintenance (as `add server … check` leaves it): its checks were never enabled.
    const readded = await podMember('readded', 'warming');
    await lb.runtime.command(`add server web/${readded.m.name} 127.0.0.1:${readded.pod.port} check inter 300ms rise 3 fall 2`);
    for (const x of [readded, paused]) expect(await observed(x.m)).toMatchObject({ admin: 'maint' });

    const actions = await planBeside(readded.m, paused.m);
    expect(kinds(actions)).toEqual(['hold 127.0.0.1', 'hold 127.0.0.1']);
    const checks = readded.pod.healthChecks;
    const report = await haproxyExecutor.execute(lb, actions);
    expect(report.failed).toBeUndefined();
    // Out of maintenance, drained, and not healthy on a result from before it.
    for (const x of [readded, paused]) expect(await observed(x.m)).toMatchObject({ admin: 'drain', health: 'pending' });
    for (const x of [readded, paused]) await requestsUntilHealthy(x.m);
    expect(readded.pod.healthChecks - checks).toBeGreaterThanOrEqual(CHECK.rise); // its checks ran
    expect(await observed(readded.m)).toMatchObject({ admin: 'drain', health: 'healthy', detail: 'DRAIN, L7OK' });
    const bodies = await Promise.all(Array.from({ length: 20 }, () => requestVia(httpSock).then((r) => r.body)));
    expect(bodies.every((b) => b === 'anchor')).toBe(true);
    expect([readded.pod.hits, paused.pod.hits]).toEqual([[], []]);
  });

  it('an active member found in maintenance with its checks disabled takes traffic only after rise fresh checks, not at once', async () => {
    await withAnchor();
    const x = await podMember('disabled', 'active');
    await haproxyExecutor.execute(lb, await planBeside(x.m));
    await requestsUntilHealthy(x.m);
    expect(await lb.runtime.pipeline([`disable health web/${x.m.name}`, `set server web/${x.m.name} state maint`])).toEqual(['', '']);
    const hits = x.pod.hits.length;
    const checks = x.pod.healthChecks;

    const actions = await planBeside(x.m);
    expect(kinds(actions)).toEqual(['enable 127.0.0.1']);
    expect((await haproxyExecutor.execute(lb, actions)).failed).toBeUndefined();
    expect(await observed(x.m)).toMatchObject({ admin: 'ready', health: 'pending' });
    await requestsUntilHealthy(x.m);
    expect(x.pod.hits.length).toBe(hits);
    expect(x.pod.healthChecks - checks).toBeGreaterThanOrEqual(CHECK.rise);
    const bodies = await Promise.all(Array.from({ length: 6 }, () => requestVia(httpSock).then((r) => r.body)));
    expect(bodies).toContain('disabled');
  });

  afterAll(async () => {
    await lb?.close();
    await sb?.cleanup();
  });

  it('runs every add after the other actions; one refused add holds back none of the others', async () => {
    const actions = await plan(lb, [want('127.0.0.2'), want('127.0.0.3', { backend: 'static' }), want('127.0.0.4')], ['web', 'static']);
    const report = await haproxyExecutor.execute(lb, actions);
    expect(report.failed).toBeUndefined();
    expect(report.refused.map((r) => (r.err as PodlbError).code)).toEqual(['HAPROXY_BACKEND_NOT_DYNAMIC']);
    expect(kinds(report.done)).toEqual(['add 127.0.0.2', 'add 127.0.0.4']);
    const { members } = await lb.listMembers(['web'], PREFIX);
    expect(members.map((m) => m.address).sort()).toEqual(['127.0.0.2', '127.0.0.4']);

    // Applied, then planned again: nothing left to do.
    expect(await plan(lb, [want('127.0.0.2'), want('127.0.0.4')])).toEqual([]);
  });

  it('a failed enable stops the run before the adds', async () => {
    const ghost = want('127.0.0.5');
    const enable: MemberAction = {
      kind: 'enable',
      key: memberKey(ghost.backend, ghost.name),
      member: { backend: 'web', name: ghost.name, address: ghost.address, port: ghost.port, admin: 'drain', health: 'healthy', detail: '' },
    };
    const add: MemberAction = { kind: 'add', key: memberKey('web', memberName(NODE, '127.0.0.6', 8080)), desired: want('127.0.0.6') };
    const report = await haproxyExecutor.execute(lb, [enable, add]);
    expect((report.failed as PodlbError).code).toBe('HAPROXY_MEMBER_MISSING');
    expect(report.done).toEqual([]);
    expect((await lb.listMembers(['web'], PREFIX)).members).toEqual([]);
  });
});
