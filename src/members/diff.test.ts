// diffMembers, one row per transition: what one instance must do given desired members, what
// it reports, and what earlier runs remember of drains. Then: applying a diff's actions and
// diffing again asks for nothing more, and actions come out removes, drains, enables, adds.
import { describe, expect, it } from 'vitest';
import type { MemberAdmin, MemberHealth, ObservedMember } from '../lb/provider.js';
import { DEFAULT_DRAIN_SECONDS } from './binding.js';
import { diffMembers, instanceViews, lastKnownViews, type MemberAction, type MemberDiffInput } from './diff.js';
import { memberKey, type DesiredMember } from './plan.js';

const NOW = 1_000_000;

function want(ip: string, o: { state?: DesiredMember['state']; keepOnly?: true; drainSeconds?: number; backend?: string } = {}): DesiredMember {
  return {
    className: 'l7lb',
    backend: o.backend ?? 'web',
    name: `node-a_${ip}_8080`,
    address: ip,
    port: 8080,
    pod: { namespace: 'ads', name: `p-${ip}`, uid: `uid-${ip}` },
    service: { namespace: 'ads', name: 'bidder' },
    state: o.state ?? 'active',
    ...(o.keepOnly ? { keepOnly: true as const } : {}),
    drainSeconds: o.drainSeconds ?? 30,
  };
}

function seen(ip: string, admin: MemberAdmin = 'ready', health: MemberHealth = 'healthy', backend = 'web'): ObservedMember {
  return { backend, name: `node-a_${ip}_8080`, address: ip, port: 8080, admin, health, detail: '' };
}

const key = (ip: string, backend = 'web'): string => memberKey(backend, `node-a_${ip}_8080`);

interface Row {
  name: string;
  desired?: DesiredMember[];
  observed?: ObservedMember[];
  /** Pod IPs on the node; default: every IP named in desired and observed. */
  live?: string[];
  /** ip → ms before NOW that the drain began. */
  drainingFor?: Record<string, number>;
  lastDesired?: DesiredMember[];
  missingBackends?: string[];
  /** Each action as `kind ip` (plus `reason`, `drainSeconds` where they matter). */
  actions: string[];
  waits?: { ip: string; since: number; until: number }[];
  missing?: string[];
}

function input(r: Pick<Row, 'desired' | 'observed' | 'live' | 'drainingFor' | 'lastDesired' | 'missingBackends'>, now = NOW): MemberDiffInput {
  const desired = r.desired ?? [];
  const observed = r.observed ?? [];
  const live = r.live ?? [...desired.map((m) => m.address), ...observed.map((o) => o.address)];
  return {
    desired,
    observed: new Map(observed.map((o) => [memberKey(o.backend, o.name), o])),
    missingBackends: new Set(r.missingBackends ?? []),
    livePodIps: new Set(live),
    drainingSince: new Map(Object.entries(r.drainingFor ?? {}).map(([ip, ago]) => [key(ip), NOW - ago])),
    lastDesired: new Map((r.lastDesired ?? []).map((m) => [memberKey(m.backend, m.name), m])),
    now,
  };
}

function describeAction(a: MemberAction): string {
  switch (a.kind) {
    case 'add':
      return `add ${a.desired.address}${a.desired.state === 'warming' ? ' warm' : ''}`;
    case 'enable':
      return `enable ${a.member.address}`;
    case 'drain':
      return `drain ${a.member.address} ${a.drainSeconds}s`;
    case 'remove':
      return `remove ${a.member.address} ${a.reason}`;
    case 'repair':
      return `repair ${a.member.address}`;
    case 'hold':
      return `hold ${a.member.address}`;
  }
}

const rows: Row[] = [
  { name: 'nothing desired, nothing there', actions: [] },
  { name: 'a new active member is added', desired: [want('10.0.0.1')], actions: ['add 10.0.0.1'] },
  { name: 'an active member already there: nothing (idempotent)', desired: [want('10.0.0.1')], observed: [seen('10.0.0.1')], actions: [] },
  {
    name: 'an active member there but unhealthy: nothing (the health check decides)',
    desired: [want('10.0.0.1')],
    observed: [seen('10.0.0.1', 'ready', 'unhealthy')],
    actions: [],
  },
  {
    name: 'an active member found draining is enabled (readiness flapped back)',
    desired: [want('10.0.0.1')],
    observed: [seen('10.0.0.1', 'drain')],
    drainingFor: { '10.0.0.1': 5_000 },
    actions: ['enable 10.0.0.1'],
  },
  {
    name: 'an active member found in maintenance is enabled',
    desired: [want('10.0.0.1')],
    observed: [seen('10.0.0.1', 'maint', 'pending')],
    actions: ['enable 10.0.0.1'],
  },
  // Pre-registration: in the load balancer, checked, no traffic until the Pod's gate is True.
  { name: 'a new warming member is added taking no traffic', desired: [want('10.0.0.1', { state: 'warming' })], actions: ['add 10.0.0.1 warm'] },
  {
    name: 'a warming member found draining: nothing (no drain window, not removed)',
    desired: [want('10.0.0.1', { state: 'warming' })],
    observed: [seen('10.0.0.1', 'drain', 'pending')],
    drainingFor: { '10.0.0.1': 3_600_000 },
    actions: [],
  },
  {
    name: 'a warming member taking traffic (its containers restarted) is held back',
    desired: [want('10.0.0.1', { state: 'warming' })],
    observed: [seen('10.0.0.1', 'ready', 'healthy')],
    actions: ['hold 10.0.0.1'],
  },
  {
    name: 'a warming member found in maintenance is held (leaves maintenance draining)',
    desired: [want('10.0.0.1', { state: 'warming' })],
    observed: [seen('10.0.0.1', 'maint', 'pending')],
    actions: ['hold 10.0.0.1'],
  },
  {
    name: 'its gate True: the warming member is enabled',
    desired: [want('10.0.0.1')],
    observed: [seen('10.0.0.1', 'drain', 'healthy')],
    actions: ['enable 10.0.0.1'],
  },
  {
    name: 'a warming member whose Pod never got ready goes away: removed, never enabled',
    observed: [seen('10.0.0.1', 'drain', 'pending')],
    lastDesired: [want('10.0.0.1', { state: 'warming' })],
    live: [],
    actions: ['remove 10.0.0.1 podGone'],
  },
  {
    name: 'a warming member whose Pod is terminating: stays drained, removed after its window',
    desired: [want('10.0.0.1', { state: 'draining', drainSeconds: 5 })],
    observed: [seen('10.0.0.1', 'drain', 'unhealthy')],
    drainingFor: { '10.0.0.1': 5_000 },
    actions: ['remove 10.0.0.1 drainWindowEnded'],
  },
  {
    name: 'a warming member the LB failed to program: repaired, warm again',
    desired: [want('10.0.0.1', { state: 'warming' })],
    observed: [{ ...seen('10.0.0.1', 'drain', 'unhealthy'), failed: true }],
    actions: ['repair 10.0.0.1'],
  },
  { name: 'keepOnly and absent: never added', desired: [want('10.0.0.1', { keepOnly: true })], actions: [] },
  {
    name: 'keepOnly and registered: kept as it is, never drained',
    desired: [want('10.0.0.1', { keepOnly: true })],
    observed: [seen('10.0.0.1', 'ready', 'unhealthy')],
    actions: [],
  },
  {
    name: 'keepOnly and found draining: enabled like any active member',
    desired: [want('10.0.0.1', { keepOnly: true })],
    observed: [seen('10.0.0.1', 'drain')],
    actions: ['enable 10.0.0.1'],
  },
  {
    name: 'backend missing on the instance: reported, not added',
    desired: [want('10.0.0.1', { backend: 'nope' })],
    missingBackends: ['nope'],
    actions: [],
    missing: ['10.0.0.1'],
  },
  {
    name: 'backend missing, member already there (listed before): nothing to add',
    desired: [want('10.0.0.1', { backend: 'nope' })],
    observed: [seen('10.0.0.1', 'ready', 'healthy', 'nope')],
    missingBackends: ['nope'],
    actions: [],
  },
  {
    name: 'terminating and serving: drained at once with its drain-seconds',
    desired: [want('10.0.0.1', { state: 'draining', drainSeconds: 12 })],
    observed: [seen('10.0.0.1')],
    actions: ['drain 10.0.0.1 12s'],
  },
  {
    name: 'terminating and its Pod gone: removed without draining',
    desired: [want('10.0.0.1', { state: 'draining' })],
    observed: [seen('10.0.0.1')],
    live: [],
    actions: ['remove 10.0.0.1 podGone'],
  },
  {
    name: 'terminating with drain-seconds 0: removed at once',
    desired: [want('10.0.0.1', { state: 'draining', drainSeconds: 0 })],
    observed: [seen('10.0.0.1')],
    actions: ['remove 10.0.0.1 drainWindowEnded'],
  },
  {
    name: 'draining inside its window: waits until the window ends',
    desired: [want('10.0.0.1', { state: 'draining' })],
    observed: [seen('10.0.0.1', 'drain')],
    drainingFor: { '10.0.0.1': 10_000 },
    actions: [],
    waits: [{ ip: '10.0.0.1', since: NOW - 10_000, until: NOW + 20_000 }],
  },
  {
    name: 'draining, window just ended: removed',
    desired: [want('10.0.0.1', { state: 'draining' })],
    observed: [seen('10.0.0.1', 'drain')],
    drainingFor: { '10.0.0.1': 30_000 },
    actions: ['remove 10.0.0.1 drainWindowEnded'],
  },
  {
    name: 'draining, Pod gone inside the window: removed',
    desired: [want('10.0.0.1', { state: 'draining' })],
    observed: [seen('10.0.0.1', 'drain')],
    live: [],
    drainingFor: { '10.0.0.1': 1_000 },
    actions: ['remove 10.0.0.1 podGone'],
  },
  {
    name: 'found draining with no record (agent restart): adopted, the window starts now',
    desired: [want('10.0.0.1', { state: 'draining' })],
    observed: [seen('10.0.0.1', 'drain')],
    actions: [],
    waits: [{ ip: '10.0.0.1', since: NOW, until: NOW + 30_000 }],
  },
  { name: 'terminating, not registered: nothing to drain or add', desired: [want('10.0.0.1', { state: 'draining' })], actions: [] },
  {
    name: 'left the plan while serving: drained with its last drain-seconds',
    observed: [seen('10.0.0.1')],
    lastDesired: [want('10.0.0.1', { drainSeconds: 7 })],
    actions: ['drain 10.0.0.1 7s'],
  },
  {
    name: 'left the plan, never desired by this agent: drained with the default',
    observed: [seen('10.0.0.1')],
    actions: [`drain 10.0.0.1 ${DEFAULT_DRAIN_SECONDS}s`],
  },
  {
    name: 'left the plan, drained earlier, window over: removed',
    observed: [seen('10.0.0.1', 'drain')],
    lastDesired: [want('10.0.0.1', { drainSeconds: 7 })],
    drainingFor: { '10.0.0.1': 7_000 },
    actions: ['remove 10.0.0.1 drainWindowEnded'],
  },
  {
    name: 'left the plan in maintenance: counts as draining, waits',
    observed: [seen('10.0.0.1', 'maint', 'pending')],
    actions: [],
    waits: [{ ip: '10.0.0.1', since: NOW, until: NOW + 30_000 }],
  },
  { name: 'left the plan and its Pod gone: removed', observed: [seen('10.0.0.1')], live: [], actions: ['remove 10.0.0.1 podGone'] },
  {
    name: 'a mix comes out removes, drains, holds, enables, adds (plan and listing order kept within a kind)',
    desired: [
      want('10.0.0.9'),
      want('10.0.0.3', { state: 'draining' }),
      want('10.0.0.5'),
      want('10.0.0.2', { state: 'warming' }),
      want('10.0.0.8'),
      want('10.0.0.4', { state: 'draining' }),
      want('10.0.0.1', { state: 'warming' }),
    ],
    observed: [seen('10.0.0.3'), seen('10.0.0.5', 'drain'), seen('10.0.0.7'), seen('10.0.0.4'), seen('10.0.0.6', 'drain'), seen('10.0.0.2')],
    live: ['10.0.0.9', '10.0.0.3', '10.0.0.5', '10.0.0.8', '10.0.0.4', '10.0.0.6', '10.0.0.2', '10.0.0.1'],
    drainingFor: { '10.0.0.6': 60_000 },
    actions: [
      'remove 10.0.0.7 podGone',
      'remove 10.0.0.6 drainWindowEnded',
      'drain 10.0.0.3 30s',
      'drain 10.0.0.4 30s',
      'hold 10.0.0.2',
      'enable 10.0.0.5',
      'add 10.0.0.9',
      'add 10.0.0.8',
      'add 10.0.0.1 warm',
    ],
  },
];

describe('diffMembers', () => {
  it.each(rows)('$name', (r) => {
    const d = diffMembers(input(r));
    expect(d.actions.map(describeAction)).toEqual(r.actions);
    expect(d.waits).toEqual((r.waits ?? []).map((w) => ({ key: key(w.ip), since: w.since, until: w.until })));
    expect(d.missingBackend.map((m) => m.address)).toEqual(r.missing ?? []);
  });

  it('drain and remove carry the member’s desired view for its Pod’s Events, when known', () => {
    const d = diffMembers(input({ desired: [want('10.0.0.1', { state: 'draining' })], observed: [seen('10.0.0.1'), seen('10.0.0.2')] }));
    const [a, b] = d.actions;
    expect(a).toMatchObject({ kind: 'drain', desired: { pod: { uid: 'uid-10.0.0.1' } } });
    expect(b?.kind).toBe('drain');
    expect(b && 'desired' in b).toBe(false);
  });

  it('a member the LB failed to program is repaired (before the adds), but not before its backoff ends', () => {
    const failed: ObservedMember = { ...seen('10.0.0.1', 'ready', 'unhealthy'), failed: true };
    const r = { desired: [want('10.0.0.2'), want('10.0.0.1')], observed: [failed] };
    const d = diffMembers(input(r));
    expect(d.actions.map(describeAction)).toEqual(['repair 10.0.0.1', 'add 10.0.0.2']);
    expect(d.actions[0]).toMatchObject({ kind: 'repair', desired: { pod: { uid: 'uid-10.0.0.1' } } });
    const held = diffMembers({ ...input(r), repairNotBefore: new Map([[key('10.0.0.1'), NOW + 5_000]]) });
    expect(held.actions.map(describeAction)).toEqual(['add 10.0.0.2']);
    expect(held.repairWaits).toEqual([{ key: key('10.0.0.1'), at: NOW + 5_000 }]);
    // A failed member no longer wanted is drained and removed like any other.
    expect(diffMembers(input({ observed: [failed], live: [] })).actions.map(describeAction)).toEqual(['remove 10.0.0.1 podGone']);
  });

  it('a member listed twice in the plan gets one action', () => {
    const d = diffMembers(input({ desired: [want('10.0.0.1'), want('10.0.0.1')], observed: [seen('10.0.0.1', 'drain')] }));
    expect(d.actions.map(describeAction)).toEqual(['enable 10.0.0.1']);
  });
});

/** What a load balancer would report after acknowledging `actions` (new members: pending). */
function applied(observed: readonly ObservedMember[], actions: readonly MemberAction[]): ObservedMember[] {
  const byKey = new Map(observed.map((o) => [memberKey(o.backend, o.name), o]));
  for (const a of actions) {
    if (a.kind === 'remove') byKey.delete(a.key);
    else if (a.kind === 'drain' || a.kind === 'hold') byKey.set(a.key, { ...a.member, admin: 'drain' });
    else if (a.kind === 'enable') byKey.set(a.key, { ...a.member, admin: 'ready' });
    else
      byKey.set(a.key, {
        backend: a.desired.backend,
        name: a.desired.name,
        address: a.desired.address,
        port: a.desired.port,
        admin: a.desired.state === 'warming' ? 'drain' : 'ready',
        health: 'pending',
        detail: '',
      });
  }
  return [...byKey.values()];
}

describe('diffMembers applied, then diffed again', () => {
  it.each(rows)('$name: asks for nothing more', (r) => {
    const first = diffMembers(input(r));
    const drainingFor = { ...r.drainingFor };
    for (const a of first.actions) if (a.kind === 'drain') drainingFor[a.member.address] = 0;
    const again = diffMembers(input({ ...r, observed: applied(r.observed ?? [], first.actions), drainingFor }));
    expect(again.actions).toEqual([]);
  });
});

describe('instanceViews and lastKnownViews', () => {
  const desired = [want('10.0.0.1'), want('10.0.0.2'), want('10.0.0.3', { state: 'draining' }), want('10.0.0.4'), want('10.0.0.5', { state: 'draining' })];
  const observed = new Map([
    [key('10.0.0.1'), seen('10.0.0.1', 'ready', 'healthy')],
    [key('10.0.0.3'), seen('10.0.0.3', 'drain', 'healthy')],
    [key('10.0.0.4'), seen('10.0.0.4', 'ready', 'unchecked')],
  ]);

  it('after a run: health as reported, added ones registered and not yet healthy, draining ones registered', () => {
    const v = instanceViews(desired, observed, new Set([key('10.0.0.2')]));
    expect(Object.fromEntries(v)).toEqual({
      [key('10.0.0.1')]: { registered: true, healthy: true, unchecked: false },
      [key('10.0.0.2')]: { registered: true, healthy: false },
      [key('10.0.0.3')]: { registered: true, healthy: false },
      [key('10.0.0.4')]: { registered: true, healthy: false, unchecked: true },
    });
  });

  it('after a failure: what the instance said last, draining ones included, plus acknowledged adds', () => {
    const v = lastKnownViews(desired, observed, new Set([key('10.0.0.2')]));
    expect(Object.fromEntries(v)).toEqual({
      [key('10.0.0.1')]: { registered: true, healthy: true, unchecked: false },
      [key('10.0.0.2')]: { registered: true, healthy: false },
      [key('10.0.0.3')]: { registered: true, healthy: true, unchecked: false },
      [key('10.0.0.4')]: { registered: true, healthy: false, unchecked: true },
    });
  });

  it('a warming member (drained, no traffic) reports its health: the gate waits on it', () => {
    const warm = [want('10.0.0.6', { state: 'warming' }), want('10.0.0.7', { state: 'warming' })];
    const v = instanceViews(warm, new Map([[key('10.0.0.6'), seen('10.0.0.6', 'drain', 'healthy')]]), new Set([key('10.0.0.7')]));
    expect(Object.fromEntries(v)).toEqual({
      [key('10.0.0.6')]: { registered: true, healthy: true, unchecked: false },
      [key('10.0.0.7')]: { registered: true, healthy: false },
    });
  });
});
