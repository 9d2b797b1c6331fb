// The batch member update's body (octavia-batch.ts). `asOctavia` applies a body the way
// MembersController.put does (openstack/octavia octavia/api/v2/controllers/member.py at
// 0e6ea11c: pairs matched by address+protocol_port; an update stores
// MemberPOST.to_dict(render_unsets=False), so weight/admin_state_up/backup/monitor_* fall back to
// their defaults 1/True/False/None when omitted, name and tags are kept; unlisted pairs deleted).
import { describe, expect, it } from 'vitest';
import { memberName } from './naming.js';
import { batchBody, batchChanges, batchNeeded, splitByOwner, BatchBodyError, type PoolMemberRecord } from './octavia-batch.js';

type Item = { address: string; protocol_port: number; name?: string; tags?: string[]; [k: string]: unknown };

function asOctavia(current: readonly PoolMemberRecord[], body: readonly Item[]): PoolMemberRecord[] {
  const byPair = new Map(current.map((m) => [`${m.address}|${m.protocol_port}`, m]));
  return body.map((b) => {
    const old = byPair.get(`${b.address}|${b.protocol_port}`);
    const defaults = { weight: 1, admin_state_up: true, backup: false, monitor_address: null, monitor_port: null };
    return {
      id: old?.id ?? `new-${b.address}`,
      provisioning_status: 'ACTIVE',
      operating_status: old?.operating_status ?? 'OFFLINE',
      name: (b.name as string | undefined) ?? old?.name ?? '',
      tags: (b.tags as string[] | undefined) ?? old?.tags ?? [],
      ...defaults,
      ...Object.fromEntries(Object.entries(b).filter(([k]) => k in defaults)),
      address: b.address,
      protocol_port: b.protocol_port,
    } as PoolMemberRecord;
  });
}

function rec(node: string, ip: string, o: Partial<PoolMemberRecord> = {}): PoolMemberRecord {
  return {
    id: `id-${ip}`,
    name: memberName(node, ip, 8080),
    address: ip,
    protocol_port: 8080,
    weight: 1,
    admin_state_up: true,
    backup: false,
    monitor_address: null,
    monitor_port: null,
    provisioning_status: 'ACTIVE',
    operating_status: 'ONLINE',
    tags: ['podlb', `podlb-node:${node}`],
    ...o,
  };
}

const none = { remove: new Set<string>(), weight: new Map<string, number>(), add: [] };

describe('batchBody', () => {
  it('a draining member stays at weight 0 and an admin-down one stays down when another member is added (omitted fields would reset them)', () => {
    const draining = rec('node-a', '10.244.1.5', { weight: 0, operating_status: 'DRAINING' });
    const maint = rec('node-a', '10.244.1.6', { admin_state_up: false });
    const current = [draining, maint];
    const body = batchBody(new Map([['node-a', current]]), {
      ...none,
      add: [{ node: 'node-b', name: memberName('node-b', '10.244.2.5', 8080), address: '10.244.2.5', port: 8080 }],
    });
    const after = asOctavia(current, body as unknown as Item[]);
    expect(after.find((m) => m.address === '10.244.1.5')).toMatchObject({ weight: 0 });
    expect(after.find((m) => m.address === '10.244.1.6')).toMatchObject({ admin_state_up: false, weight: 1 });
    expect(after.find((m) => m.address === '10.244.2.5')).toMatchObject({ weight: 1, admin_state_up: true, tags: ['podlb', 'podlb-node:node-b'] });
    // Every item carries every field that has a default, so nothing is left to the reset.
    for (const item of body)
      expect(Object.keys(item).sort()).toEqual([
        'address',
        'admin_state_up',
        'backup',
        'monitor_address',
        'monitor_port',
        'name',
        'protocol_port',
        'tags',
        'weight',
      ]);
    // The guard is real: the same list with only the identifying fields puts the drained member back to work.
    const naive = asOctavia(
      current,
      body.map(({ name, address, protocol_port, tags }) => ({ name, address, protocol_port, tags })),
    );
    expect(naive.find((m) => m.address === '10.244.1.5')!.weight).toBe(1);
  });

  it('drain, enable and remove become weights and a shorter list; the result is what Octavia then holds', () => {
    const a = rec('node-a', '10.244.1.5');
    const b = rec('node-a', '10.244.1.6', { weight: 0 });
    const c = rec('node-b', '10.244.2.5');
    const current = new Map([
      ['node-a', [a, b]],
      ['node-b', [c]],
    ]);
    const body = batchBody(current, {
      remove: new Set([c.name]),
      weight: new Map([
        [a.name, 0],
        [b.name, 1],
      ]),
      add: [],
    });
    expect(body.map((m) => [m.name, m.weight])).toEqual([
      [a.name, 0],
      [b.name, 1],
    ]);
    expect(batchChanges([a, b, c], body)).toEqual({ create: 0, update: 2, delete: 1 });
  });

  it('refuses a body Octavia would refuse: an address:port twice, a bad address', () => {
    const a = rec('node-a', '10.244.1.5');
    expect(() => batchBody(new Map([['node-a', [a]]]), { ...none, add: [{ node: 'node-a', name: a.name, address: a.address, port: 8080 }] })).toThrow(
      BatchBodyError,
    );
    expect(() => batchBody(new Map(), { ...none, add: [{ node: 'node-a', name: 'podlb_node-a_x_1', address: 'x', port: 1 }] })).toThrow(/not an IP/);
  });
});

describe('batchChanges: a batch listing existing members locks the LB even when it changes nothing, so it is sent only when needed', () => {
  const a = rec('node-a', '10.244.1.5');
  const same = batchBody(new Map([['node-a', [a]]]), none);
  it.each([
    ['the pool as it is', [a], same, { create: 0, update: 0, delete: 0 }],
    ['tags in another order', [{ ...a, tags: ['podlb-node:node-a', 'podlb'] as string[] }], same, { create: 0, update: 0, delete: 0 }],
    ['someone set backup', [{ ...a, backup: true }], same, { create: 0, update: 1, delete: 0 }],
    ['someone set a monitor port', [{ ...a, monitor_port: 9000 }], same, { create: 0, update: 1, delete: 0 }],
    ['a new member', [], same, { create: 1, update: 0, delete: 0 }],
    ['an empty list on a pool with one', [a], [], { create: 0, update: 0, delete: 1 }],
  ] as [string, PoolMemberRecord[], typeof same, { create: number; update: number; delete: number }][])('%s', (_n, current, body, want) => {
    const d = batchChanges(current, body);
    expect(d).toEqual(want);
    expect(batchNeeded(d)).toBe(want.create + want.update + want.delete > 0);
  });
});

describe('splitByOwner: a podlb-owned pool must hold only podlb members, anything else is foreign', () => {
  it('by name, address and both tags', () => {
    const ours = rec('node-a', '10.244.1.5');
    const other = rec('node-b', '10.244.2.5');
    const lookalike = rec('node-a', '10.244.1.9', { tags: ['podlb'] }); // no node tag
    const wrongAddress = rec('node-a', '10.244.1.7', { address: '10.244.1.8' });
    const handMade: PoolMemberRecord = { ...rec('x', '192.0.2.7'), name: 'legacy-vm', tags: [] };
    const { byNode, foreign } = splitByOwner([ours, other, lookalike, wrongAddress, handMade]);
    expect([...byNode].map(([n, ms]) => [n, ms.map((m) => m.address)])).toEqual([
      ['node-a', ['10.244.1.5']],
      ['node-b', ['10.244.2.5']],
    ]);
    expect(foreign.map((m) => m.name)).toEqual([lookalike.name, wrongAddress.name, 'legacy-vm']);
  });
});
