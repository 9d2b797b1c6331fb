import { describe, expect, it } from 'vitest';
import type { LbInstance, MemberListing, MemberQuery, MemberReading, ObservedMember } from '../lb/provider.js';
import { IDENTITY_CHECK_MS, newObservation, observe } from './observe.js';
import type { DesiredMember } from './plan.js';

const P = 'podlb_node-a_';

/** An in-memory instance that records what it was asked: listings by backend, reads by member. */
function fakeLb(targeted = true) {
  const servers = new Map<string, ObservedMember>();
  const calls: string[] = [];
  let identity = 'pid 1';
  const inst: LbInstance = {
    id: 'fake',
    listMembers: async (backends): Promise<MemberListing> => {
      calls.push(`list ${backends.join(',')}`);
      return { members: [...servers.values()].filter((s) => backends.includes(s.backend) && s.name.startsWith(P)), missingBackends: [], identity };
    },
    addMember: async () => undefined,
    drainMember: async () => undefined,
    enableMember: async () => undefined,
    removeMember: async () => undefined,
    close: async () => undefined,
  };
  if (targeted)
    inst.readMembers = async (asked: readonly MemberQuery[], o: { identity: boolean }): Promise<MemberReading> => {
      calls.push(`read ${asked.map((q) => q.name).join(',')}${o.identity ? ' +identity' : ''}`);
      const members = asked.map((q) => servers.get(`${q.backend}/${q.name}`)).filter((x): x is ObservedMember => x !== undefined);
      return { members, missingBackends: [], ...(o.identity ? { identity } : {}) };
    };
  const put = (backend: string, short: string, health: ObservedMember['health']): void => {
    const name = `${P}${short}`;
    servers.set(`${backend}/${name}`, { backend, name, address: '10.0.0.1', port: 80, admin: 'ready', health, detail: '' });
  };
  return { inst, calls, servers, put, restart: (id: string) => (identity = id) };
}

function member(short: string, backend = 'web'): DesiredMember {
  return {
    className: 'c',
    backend,
    name: `${P}${short}`,
    address: '10.0.0.1',
    port: 80,
    healthCheck: { intervalMs: 1000, rise: 2, fall: 3 },
    pod: { namespace: 'ns', name: short, uid: short },
    service: { namespace: 'ns', name: 'svc' },
    state: 'active',
    drainSeconds: 0,
  };
}

const random = (): number => 1;

describe('observe: ask about waiting members, list only when the model cannot be trusted', () => {
  it('first contact lists; then a run asks only about the pending members, and nothing when none is pending', async () => {
    const lb = fakeLb();
    lb.put('web', 'a', 'healthy');
    lb.put('web', 'b', 'pending');
    lb.put('web', 'c', 'unhealthy');
    lb.put('web', 'gone', 'healthy'); // ours, not desired: the listing finds it for GC
    const st = newObservation();
    const desired = [member('a'), member('b'), member('c')];
    const first = await observe(lb.inst, st, desired, P, 0, random);
    expect(lb.calls).toEqual(['list web']);
    expect(first).toMatchObject({ listed: 'firstContact' });
    expect([...first.observed.keys()]).toContain(`web/${P}gone`);

    lb.calls.length = 0;
    const second = await observe(lb.inst, st, desired, P, 100, random);
    expect(lb.calls).toEqual([`read ${P}b,${P}c`]);
    expect(second.listed).toBeUndefined();

    lb.put('web', 'b', 'healthy');
    lb.put('web', 'c', 'healthy');
    await observe(lb.inst, st, desired, P, 200, random);
    lb.calls.length = 0;
    await observe(lb.inst, st, desired, P, 300, random);
    expect(lb.calls).toEqual([]);
  });

  it('warming members are asked in the same one read as the pending ones: pre-registration adds no call', async () => {
    const lb = fakeLb();
    lb.put('web', 'a', 'pending');
    lb.put('web', 'w', 'pending');
    lb.put('web', 'd', 'pending');
    const st = newObservation();
    const desired = [member('a'), { ...member('w'), state: 'warming' as const }, { ...member('d'), state: 'draining' as const }];
    await observe(lb.inst, st, desired, P, 0, random);
    lb.calls.length = 0;
    await observe(lb.inst, st, desired, P, 100, random);
    expect(lb.calls).toEqual([`read ${P}a,${P}w`]);
  });

  it('a node that never had a member on an instance with targeted reads contacts it not at all, however long it runs', async () => {
    const lb = fakeLb();
    lb.put('web', 'other-node-member', 'healthy');
    const st = newObservation();
    for (let t = 0; t <= 5 * IDENTITY_CHECK_MS; t += IDENTITY_CHECK_MS / 2) await observe(lb.inst, st, [], P, t, random);
    expect(lb.calls).toEqual([]);
  });

  it('the identity is checked every IDENTITY_CHECK_MS, alone when nothing is pending; a change lists everything again', async () => {
    const lb = fakeLb();
    lb.put('web', 'a', 'healthy');
    const st = newObservation();
    await observe(lb.inst, st, [member('a')], P, 0, random);
    lb.calls.length = 0;
    await observe(lb.inst, st, [member('a')], P, IDENTITY_CHECK_MS - 1, random);
    expect(lb.calls).toEqual([]);
    await observe(lb.inst, st, [member('a')], P, IDENTITY_CHECK_MS, random);
    expect(lb.calls).toEqual(['read  +identity']);

    lb.restart('pid 2');
    lb.servers.clear(); // a restart drops every dynamic server
    lb.calls.length = 0;
    const r = await observe(lb.inst, st, [member('a')], P, 2 * IDENTITY_CHECK_MS, random);
    expect(lb.calls).toEqual(['read  +identity', 'list web']);
    expect(r).toMatchObject({ listed: 'identityChanged' });
    expect(r.observed.size).toBe(0); // so the diff adds it again
  });

  it('an asked member gone behind our back: everything is listed again', async () => {
    const lb = fakeLb();
    lb.put('web', 'a', 'pending');
    lb.put('api', 'b', 'healthy');
    const st = newObservation();
    const desired = [member('a'), member('b', 'api')];
    await observe(lb.inst, st, desired, P, 0, random);
    lb.servers.delete(`web/${P}a`);
    lb.calls.length = 0;
    const r = await observe(lb.inst, st, desired, P, 100, random);
    expect(lb.calls).toEqual([`read ${P}a`, 'list web,api']);
    expect(r.listed).toBe('memberVanished');
  });

  it('a backend new to the plan is listed alone, once', async () => {
    const lb = fakeLb();
    lb.put('web', 'a', 'healthy');
    lb.put('api', 'old', 'healthy');
    const st = newObservation();
    await observe(lb.inst, st, [member('a')], P, 0, random);
    lb.calls.length = 0;
    const r = await observe(lb.inst, st, [member('a'), member('b', 'api')], P, 100, random);
    expect(lb.calls).toEqual(['list api']);
    expect(r.listed).toBe('newBackend');
    expect([...r.observed.keys()].sort()).toEqual([`api/${P}old`, `web/${P}a`]);
    lb.calls.length = 0;
    await observe(lb.inst, st, [member('a'), member('b', 'api')], P, 200, random);
    expect(lb.calls).toEqual([]);
  });

  it('a failed run clears the model (the reconciler empties `known`): the next run lists', async () => {
    const lb = fakeLb();
    lb.put('web', 'a', 'pending');
    const st = newObservation();
    await observe(lb.inst, st, [member('a')], P, 0, random);
    st.known.clear();
    lb.calls.length = 0;
    await observe(lb.inst, st, [member('a')], P, 100, random);
    expect(lb.calls).toEqual(['list web']);
  });

  it('a provider without targeted reads is listed every run', async () => {
    const lb = fakeLb(false);
    lb.put('web', 'a', 'healthy');
    const st = newObservation();
    await observe(lb.inst, st, [member('a')], P, 0, random);
    await observe(lb.inst, st, [member('a')], P, 100, random);
    expect(lb.calls).toEqual(['list web', 'list web']);
  });
});
