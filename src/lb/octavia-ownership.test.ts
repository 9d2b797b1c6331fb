// Design §4.2 on Octavia: every node's agent writes into the same pools, so each must list and
// touch only its own members (name + tags) and must never replace the pool's member list.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memberName, memberNamePrefix } from './naming.js';
import type { OctaviaInstance } from './octavia-instance.js';
import { batchUpdates, spec, startEnv, type Env } from '../../testkit/octavia-env.js';

let env: Env;
beforeEach(async () => {
  env = await startEnv({ pendingMs: 0 }); // tests about the window set it themselves
});
afterEach(async () => {
  await env.fake.close();
});

/** What an agent's member reconciler does to one pool, in miniature: add missing, remove undesired. */
async function reconcile(inst: OctaviaInstance, node: string, desired: string[]): Promise<void> {
  const { members } = await inst.listMembers(['web'], memberNamePrefix(node));
  const want = new Map(desired.map((ip) => [memberName(node, ip, 8080), ip]));
  await Promise.all([
    ...members.filter((m) => !want.has(m.name)).map((m) => inst.removeMember('web', m.name)),
    ...[...want].filter(([name]) => !members.some((m) => m.name === name)).map(([, ip]) => inst.addMember(spec(node, ip))),
  ]);
}

function names(node: string): string[] {
  return env.fake.state
    .membersOf(env.web.id)
    .filter((m) => m.provisioning_status !== 'PENDING_DELETE' && m.name.startsWith(memberNamePrefix(node)))
    .map((m) => m.name)
    .sort();
}

describe('tags', () => {
  it("another node's members, untagged look-alikes and hand-made members are never listed or touched", async () => {
    const st = env.fake.state;
    const other = st.insertMember(env.web.id, {
      name: memberName('node-b', '10.244.2.5', 8080),
      address: '10.244.2.5',
      protocol_port: 8080,
      tags: ['podlb', 'podlb-node:node-b'],
    });
    // Named like node-a's but without node-a's tag (made by hand, or by a tool imitating podlb).
    const lookalike = st.insertMember(env.web.id, {
      name: memberName('node-a', '10.244.1.99', 8080),
      address: '10.244.1.99',
      protocol_port: 8080,
      tags: ['podlb'],
    });
    const handMade = st.insertMember(env.web.id, { name: 'legacy-vm', address: '192.0.2.7', protocol_port: 80 });
    const a = env.instance('node-a');
    await a.addMember(spec('node-a', '10.244.1.5'));
    const { members } = await a.listMembers(['web'], memberNamePrefix('node-a'));
    expect(members.map((m) => m.name)).toEqual([memberName('node-a', '10.244.1.5', 8080)]);
    // The list request itself filters by both tags, so other members do not even cross the wire.
    expect(env.fake.requestLog.some((r) => r.path.includes('/members?tags=podlb%2Cpodlb-node%3Anode-a'))).toBe(true);

    await a.removeMember('web', lookalike.name); // not tagged as ours: treated as absent
    await a.drainMember('web', lookalike.name);
    expect(st.members.get(lookalike.id)).toMatchObject({ weight: 1, provisioning_status: 'ACTIVE' });
    expect(st.members.get(other.id)).toMatchObject({ weight: 1, provisioning_status: 'ACTIVE' });
    expect(st.members.get(handMade.id)).toMatchObject({ weight: 1, provisioning_status: 'ACTIVE' });
  });
});

describe('two agents on the same pool', () => {
  it('concurrent adds, removals and GC never delete each other’s members', async () => {
    env.fake.faults.setPendingMs(15); // every change locks the LB: the agents collide on 409s
    const a = env.instance('node-a');
    const b = env.instance('node-b');
    const ipsA = (n: number): string[] => Array.from({ length: n }, (_, i) => `10.244.1.${i + 1}`);
    const ipsB = (n: number): string[] => Array.from({ length: n }, (_, i) => `10.244.2.${i + 1}`);
    await Promise.all([reconcile(a, 'node-a', ipsA(5)), reconcile(b, 'node-b', ipsB(5))]);
    await new Promise((r) => setTimeout(r, 40));
    expect(names('node-a')).toHaveLength(5);
    expect(names('node-b')).toHaveLength(5);
    // Rolling changes on both nodes at once: a shrinks to 2, b replaces 3 Pods.
    await Promise.all([reconcile(a, 'node-a', ipsA(2)), reconcile(b, 'node-b', ['10.244.2.1', '10.244.2.2', '10.244.2.7', '10.244.2.8', '10.244.2.9'])]);
    await new Promise((r) => setTimeout(r, 40));
    expect(names('node-a')).toEqual(
      ipsA(2)
        .map((ip) => memberName('node-a', ip, 8080))
        .sort(),
    );
    expect(names('node-b')).toEqual(['10.244.2.1', '10.244.2.2', '10.244.2.7', '10.244.2.8', '10.244.2.9'].map((ip) => memberName('node-b', ip, 8080)).sort());
    // A restarted agent A with nothing cached adopts its members and leaves B's alone.
    const a2 = env.instance('node-a');
    await reconcile(a2, 'node-a', ipsA(2));
    expect(names('node-b')).toHaveLength(5);
    expect(a.counters.pendingRetries + b.counters.pendingRetries).toBeGreaterThan(0);
    expect(batchUpdates(env.fake)).toEqual([]);
  });
});

describe('why podlb never uses the batch member update', () => {
  async function token(): Promise<string> {
    const res = await fetch(`${env.fake.url}/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['application_credential'],
            application_credential: { id: env.fake.credentials.applicationCredential.id, secret: env.fake.credentials.applicationCredential.secret },
          },
        },
      }),
    });
    return res.headers.get('x-subject-token')!;
  }

  it("PUT /pools/{id}/members with node A's desired list deletes node B's members", async () => {
    const a = env.instance('node-a');
    const b = env.instance('node-b');
    await a.addMember(spec('node-a', '10.244.1.5'));
    await b.addMember(spec('node-b', '10.244.2.5'));
    await b.addMember(spec('node-b', '10.244.2.6'));

    // A naive agent A: "the pool's members should be my Pods".
    const put = await fetch(`${env.fake.octaviaUrl}/v2/lbaas/pools/${env.web.id}/members`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-auth-token': await token() },
      body: JSON.stringify({
        members: [
          { name: memberName('node-a', '10.244.1.5', 8080), address: '10.244.1.5', protocol_port: 8080, tags: ['podlb', 'podlb-node:node-a'] },
          { name: memberName('node-a', '10.244.1.6', 8080), address: '10.244.1.6', protocol_port: 8080, tags: ['podlb', 'podlb-node:node-a'] },
        ],
      }),
    });
    expect(put.status).toBe(202);
    expect(names('node-b')).toEqual([]); // gone: B's Pods lost their traffic
    expect(names('node-a')).toHaveLength(2);
    expect((await b.listMembers(['web'], memberNamePrefix('node-b'))).members).toEqual([]);
  });

  it('additive_only keeps the others but then cannot remove anything: it is no substitute for per-member DELETE', async () => {
    const a = env.instance('node-a');
    const b = env.instance('node-b');
    await a.addMember(spec('node-a', '10.244.1.5'));
    await b.addMember(spec('node-b', '10.244.2.5'));
    const put = await fetch(`${env.fake.octaviaUrl}/v2/lbaas/pools/${env.web.id}/members?additive_only=true`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-auth-token': await token() },
      body: JSON.stringify({ members: [] }), // A wants its only member gone
    });
    expect(put.status).toBe(202);
    expect(names('node-b')).toHaveLength(1);
    expect(names('node-a')).toHaveLength(1); // still there
  });

  it('the provider itself never sends it (whole lifecycle on two nodes)', async () => {
    const a = env.instance('node-a');
    const b = env.instance('node-b');
    for (const [inst, node, ip] of [
      [a, 'node-a', '10.244.1.5'],
      [b, 'node-b', '10.244.2.5'],
    ] as const) {
      const s = spec(node, ip);
      await inst.addMember(s);
      await inst.listMembers(['web'], memberNamePrefix(node));
      await inst.drainMember('web', s.name);
      await inst.enableMember('web', s.name);
      await inst.removeMember('web', s.name);
    }
    const writes = env.fake.requestLog.filter((r) => r.method !== 'GET' && r.path.startsWith('/octavia/'));
    expect(writes.map((w) => w.method).sort()).toEqual(['DELETE', 'DELETE', 'POST', 'POST', 'PUT', 'PUT', 'PUT', 'PUT']);
    expect(batchUpdates(env.fake)).toEqual([]);
    expect(writes.every((w) => /\/members(\/[0-9a-f-]{36})?$/.test(w.path))).toBe(true);
    expect(writes.filter((w) => w.method !== 'POST').every((w) => /\/members\/[0-9a-f-]{36}$/.test(w.path))).toBe(true);
  });
});
