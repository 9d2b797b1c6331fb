// The agent's side of a podlb-owned Octavia pool (tag `podlb-owned`): its MemberReconciler
// reads its members' health there but never writes (the controller's leader does, in batch);
// in an untagged pool of the same load balancer it writes per member as before.
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memberName, memberNamePrefix } from '../src/lb/naming.js';
import { octaviaInstanceId } from '../src/lb/octavia-tags.js';
import type { LbClassModel } from '../src/members/binding.js';
import type { DesiredMember } from '../src/members/plan.js';
import { MemberReconciler } from '../src/members/reconciler.js';
import type { FakePool } from '../testkit/octavia-fake/state.js';
import { eventually } from '../testkit/eventually.js';
import { startEnv, type Env } from '../testkit/octavia-env.js';

let env: Env;
let owned: FakePool;
beforeEach(async () => {
  env = await startEnv();
  // A fast monitor (0.1 s × 2) and heartbeat (0.1 s): the gate's settle time is 0.3 s.
  owned = env.fake.state.createPool(env.lb.id, { name: 'owned', healthMonitor: { delay: 0.1, max_retries_down: 2 }, tags: ['podlb-owned'] });
});
afterEach(async () => {
  await env.fake.close();
});

function desired(backend: string, ip: string, state: DesiredMember['state'] = 'active'): DesiredMember {
  return {
    className: 'osl',
    backend,
    name: memberName('node-a', ip, 8080),
    address: ip,
    port: 8080,
    pod: { namespace: 'ads', name: `p-${ip}`, uid: ip },
    service: { namespace: 'ads', name: 'bidder' },
    state,
    drainSeconds: 30,
  };
}

describe('an agent and a podlb-owned pool', () => {
  it('listMembers names the tagged pool as batch-written, not the untagged one', async () => {
    const inst = env.instance('node-a');
    const listing = await inst.listMembers(['owned', 'web'], memberNamePrefix('node-a'));
    expect(listing.batchBackends).toEqual(['owned']);
  });

  it('no add, drain or remove in the owned pool; the member counts once the leader has put it there, and the untagged pool is written per member', async () => {
    const cls = {
      name: 'osl',
      provider: 'octavia',
      instances: [octaviaInstanceId(env.lb.id, 'RegionOne')],
      withoutHealthCheck: 'Immediate',
      timeoutSeconds: 600,
    } as LbClassModel;
    const classes = new Map([['osl', cls]]);
    const r = new MemberReconciler({ nodeName: 'node-a', log: pino({ level: 'silent' }), makeInstance: () => env.instance('node-a', { heartbeatMs: 100 }) });
    const live = new Set(['10.244.1.5', '10.244.1.6']);
    const t0 = Date.now();
    const key = `owned/${memberName('node-a', '10.244.1.5', 8080)}`;
    let out = await r.reconcile(classes, [desired('owned', '10.244.1.5'), desired('web', '10.244.1.6')], live, t0);
    expect(out.added).toEqual([`web/${memberName('node-a', '10.244.1.6', 8080)}`]);
    expect(env.fake.state.membersOf(owned.id)).toEqual([]);
    expect(out.views.get(key)).toMatchObject({ registered: false, healthy: false });

    // What the leader's batch update makes: the agent's own name and tags.
    const m = env.fake.state.insertMember(owned.id, {
      name: memberName('node-a', '10.244.1.5', 8080),
      address: '10.244.1.5',
      protocol_port: 8080,
      tags: ['podlb', 'podlb-node:node-a'],
      operating_status: 'ONLINE',
    });
    out = await r.reconcile(classes, [desired('owned', '10.244.1.5')], live, t0 + 1000);
    // ONLINE counts only once the settle time has passed since the agent first saw it.
    expect(out.views.get(key)).toEqual({ registered: true, healthy: false, unchecked: false });
    await new Promise((res) => setTimeout(res, 350));
    out = await r.reconcile(classes, [desired('owned', '10.244.1.5')], live, t0 + 1500);
    expect(out.views.get(key)).toEqual({ registered: true, healthy: true, unchecked: false });

    // Terminating, then gone: the agent leaves both to the leader.
    out = await r.reconcile(classes, [desired('owned', '10.244.1.5', 'draining')], live, t0 + 2000);
    await r.reconcile(classes, [], new Set(), t0 + 3000);
    expect(env.fake.state.members.get(m.id)).toMatchObject({ weight: 1 });
    const onOwned = env.fake.requestLog.filter((x) => x.method !== 'GET' && x.path.includes(owned.id));
    expect(onOwned).toEqual([]);
    // The untagged pool is still the agent's to clean: the member of the gone Pod is removed
    // (Octavia deletes it once the provider has, after the PENDING window).
    expect(env.fake.state.membersOf(env.web.id).map((x) => x.provisioning_status)).toEqual(['PENDING_DELETE']);
    await eventually('the untagged member deleted', () => env.fake.state.membersOf(env.web.id).length === 0);
    await r.close();
  });
});
