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
import { startEnv, type Env } from '../testkit/octavia-env.js';

const NODE = 'node-a';
const PREFIX = memberNamePrefix(NODE);

function want(ip: string, o: { state?: DesiredMember['state']; backend?: string; port?: number } = {}): DesiredMember {
  const port = o.port ?? 8080;
  return {
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

  beforeAll(async () => {
    sb = new NetnsSandbox();
    const dir = sb.tempDir('haproxy');
    hp = await startHaproxy(sb, null, {
      dir,
      backends: [{ name: 'web' }, { name: 'static', balance: 'static-rr' }],
      frontends: [{ name: 'fe', bind: `unix@${join(dir, 'http.sock')}`, backend: 'web' }],
    });
    lb = new HaproxyInstance(hp.runtimeAddress);
  });

  afterEach(async () => {
    const { members } = await lb.listMembers(['web'], PREFIX);
    for (const m of members) await lb.removeMember(m.backend, m.name);
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
