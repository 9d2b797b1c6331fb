// Garbage collection of members whose node is gone, against a real HAProxy 2.6 (root
// namespace, runtime API on a unix socket, member addresses on loopback only). A clock passed
// in drives the grace period; then the whole controller does it live with a short grace.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { startApiServer, type ApiServer } from '../src/apiserver/index.js';
import { NetnsSandbox, waitFor } from '../src/lab/netns.js';
import { startHaproxy, type HaproxyProcess } from '../src/lab/haproxy-process.js';
import { HaproxyInstance } from '../src/lb/haproxy-instance.js';
import { memberName } from '../src/lb/naming.js';
import type { EventToRecord } from '../src/kube/events.js';
import type { LoadBalancerClass, Service } from '../src/api/types.js';
import { MemberGc, planMemberGc, type GcSnapshot } from '../src/controller/member-gc.js';
import type { Controller } from '../src/controller/controller.js';
import { CONTROLLER_SERVICE_ACCOUNT, controllerResources } from '../testkit/controller-resources.js';
import { testController } from '../testkit/controller-replica.js';

const log = pino({ level: process.env.PODLB_TEST_LOG ? 'debug' : 'silent' });
const GRACE = 120_000;
const T0 = 1_800_000_000_000;

let sb: NetnsSandbox;
let hp: HaproxyProcess;
let lb: HaproxyInstance;

function lbClass(address: string): LoadBalancerClass {
  return {
    apiVersion: 'podlb.io/v1alpha1',
    kind: 'LoadBalancerClass',
    metadata: { name: 'l7' },
    spec: { provider: 'haproxy', haproxy: { instances: [address] }, tenancy: { namespaces: [{ name: 'ads', backends: ['web', 'retired'] }] } },
  } as LoadBalancerClass;
}
function service(name: string, backend: string): Service {
  return {
    metadata: { name, namespace: 'ads', annotations: { 'podlb.io/load-balancer': 'l7', 'podlb.io/backend': backend } },
    spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  } as Service;
}
async function names(backend: string): Promise<string[]> {
  const replies = await lb.runtime.pipeline([`show servers state ${backend}`]);
  return replies[0]!
    .split('\n')
    .filter((l) => /^\d+ /.test(l))
    .map((l) => l.split(' ')[3]!)
    .sort();
}
async function add(backend: string, node: string, address: string, port: number): Promise<string> {
  const name = memberName(node, address, port);
  await lb.addMember({ backend, name, address, port });
  return name;
}

beforeAll(async () => {
  sb = new NetnsSandbox();
  hp = await startHaproxy(sb, null, { dir: sb.tempDir('haproxy-gc'), backends: [{ name: 'web' }, { name: 'retired' }, { name: 'unrelated' }] });
  lb = new HaproxyInstance(hp.runtimeAddress);
});

afterEach(async () => {
  for (const b of ['web', 'retired', 'unrelated']) for (const n of await names(b)) await lb.removeMember(b, n);
});

afterAll(async () => {
  await lb?.close();
  await sb?.cleanup();
});

describe('planMemberGc (pure)', () => {
  const m = (node: string) => ({ className: 'l7', instance: 'i', backend: 'web', name: `podlb_${node}_10.0.0.1_80`, node });
  it.each([
    ['live node: never', ['a'], new Map(), T0, 0, 0],
    ['gone, first seen now: waits', [], new Map(), T0, 0, 1],
    ['gone for 119 s: waits', [], new Map([['a', T0 - 119_000]]), T0, 0, 1],
    ['gone for 120 s: removed', [], new Map([['a', T0 - 120_000]]), T0, 1, 0],
  ] as const)('%s', (_n, nodes, since, now, removed, waiting) => {
    const p = planMemberGc({ members: [m('a')], nodes: new Set(nodes), absentSince: since, now, graceMs: GRACE });
    expect([p.remove.length, p.waiting.length]).toEqual([removed, waiting]);
    if (waiting) expect(p.nextAt).toBe((since.get('a') ?? now) + GRACE);
  });
});

describe('MemberGc on HAProxy 2.6', () => {
  it('removes only members of a node gone for the grace period; live nodes, other names and unlisted backends are untouched', async () => {
    const live = await add('web', 'node-a', '127.0.0.11', 8080);
    const gone = await add('web', 'node-gone', '127.0.0.12', 8080);
    const goneRetired = await add('retired', 'node-gone', '127.0.0.12', 9090);
    const goneUnrelated = await add('unrelated', 'node-gone', '127.0.0.12', 7070); // no Service ever named it
    // Not podlb's: a hand-made server and a podlb_ name that does not parse.
    await lb.runtime.pipeline(['add server web/manual_1 127.0.0.13:80', 'add server web/podlb_weird 127.0.0.14:80']);

    const events: EventToRecord[] = [];
    const gc = new MemberGc({ makeInstance: (a) => new HaproxyInstance(a), graceMs: GRACE, log, record: (e) => events.push(e) });
    const snap = (services: Service[], nodes: string[]): GcSnapshot => ({
      classes: [lbClass(hp.runtimeAddress)],
      services,
      nodes: new Set(nodes),
      nodesSynced: true,
    });
    try {
      // Both Services exist at first: both backends become "seen".
      let r = await gc.run(snap([service('bidder', 'web'), service('old', 'retired')], ['node-a', 'node-b']), T0);
      expect(r.removed).toEqual([]);
      expect(r.waiting.map((w) => w.name).sort()).toEqual([gone, goneRetired].sort());
      expect(r.nextAt).toBe(T0 + GRACE);
      expect(r.scanned).toBe(3);

      // The `old` Service is deleted; its backend is still scanned (members may remain there).
      r = await gc.run(snap([service('bidder', 'web')], ['node-a', 'node-b']), T0 + GRACE - 1);
      expect(r.removed).toEqual([]);

      // A Node cache that is empty or not synced never condemns anything.
      expect((await gc.run(snap([service('bidder', 'web')], []), T0 + GRACE)).skipped).toBe('noNodesKnown');
      expect((await gc.run({ ...snap([], ['node-a']), nodesSynced: false }, T0 + GRACE)).skipped).toBe('nodesNotSynced');

      r = await gc.run(snap([service('bidder', 'web')], ['node-a', 'node-b']), T0 + GRACE);
      expect(r.errors).toEqual([]);
      expect(r.removed.map((x) => `${x.backend}/${x.name}`).sort()).toEqual([`retired/${goneRetired}`, `web/${gone}`]);
      expect(await names('web')).toEqual([live, 'manual_1', 'podlb_weird'].sort());
      expect(await names('retired')).toEqual([]);
      expect(await names('unrelated')).toEqual([goneUnrelated]);
      expect(events).toHaveLength(2);
      expect(events[0]).toMatchObject({ object: { kind: 'LoadBalancerClass', name: 'l7' }, type: 'Normal', reason: 'OrphanMemberRemoved' });
      expect(events[0]!.message).toMatch(/Node node-gone has not existed for 120s/);

      // Nothing more to do.
      expect((await gc.run(snap([service('bidder', 'web')], ['node-a']), T0 + GRACE + 1)).removed).toEqual([]);
    } finally {
      await gc.close();
    }
  });

  it('a node that comes back within the grace period keeps its members, and a later absence starts a new grace period', async () => {
    const flap = await add('web', 'node-flap', '127.0.0.21', 8080);
    const gc = new MemberGc({ makeInstance: (a) => new HaproxyInstance(a), graceMs: GRACE, log, record: () => undefined });
    const run = (nodes: string[], now: number) =>
      gc.run({ classes: [lbClass(hp.runtimeAddress)], services: [service('bidder', 'web')], nodes: new Set(['node-a', ...nodes]), nodesSynced: true }, now);
    try {
      await run([], T0); // absent
      await run(['node-flap'], T0 + 60_000); // re-registered
      await run([], T0 + 100_000); // absent again: a fresh grace period
      expect((await run([], T0 + 200_000)).removed).toEqual([]);
      expect(await names('web')).toEqual([flap]);
      expect((await run([], T0 + 220_000)).removed.map((x) => x.name)).toEqual([flap]);
    } finally {
      await gc.close();
    }
  });
});

describe('controller: member GC live, leader only', () => {
  let api: ApiServer;
  const ctls: Controller[] = [];

  beforeAll(async () => {
    api = await startApiServer({ resources: controllerResources() });
    api.installManifests();
    api.store.create('namespaces', { metadata: { name: 'ads' } });
    for (const n of ['node-a', 'node-gone']) api.store.create('nodes', { metadata: { name: n } });
    api.store.create('loadbalancerclasses', lbClass(hp.runtimeAddress));
    api.store.create('services', service('bidder', 'web'));
  });
  afterAll(async () => {
    await Promise.all(ctls.map((c) => c.stop()));
    const denied = api?.deniedRequests() ?? [];
    await api?.close();
    expect(denied, 'calls the shipped RBAC does not grant').toEqual([]);
  });

  it('after the Node is deleted and the grace period passed, the leader removes its member and records an Event on the class', async () => {
    const live = await add('web', 'node-a', '127.0.0.31', 8080);
    const gone = await add('web', 'node-gone', '127.0.0.32', 8080);
    for (const id of ['ctl-a', 'ctl-b']) {
      const kc = api.podIdentity({ serviceAccount: CONTROLLER_SERVICE_ACCOUNT, nodeName: 'node-a' }).kubeConfig();
      const c = testController({ kubeConfig: kc, log, identity: id, gcGraceMs: 1_500, gcIntervalMs: 200 });
      ctls.push(c);
      await c.start();
    }
    await waitFor('a leader', () => ctls.some((c) => c.isLeader) || undefined);
    await new Promise((r) => setTimeout(r, 500));
    expect(await names('web')).toEqual([gone, live].sort());

    const deletedAt = Date.now();
    api.store.delete('nodes', 'node-gone');
    await waitFor('member of the deleted node removed', async () => ((await names('web')).includes(gone) ? undefined : true), 10_000);
    const took = Date.now() - deletedAt;
    expect(took).toBeGreaterThanOrEqual(1_500);
    expect(await names('web')).toEqual([live]);
    const ev = await waitFor('Event', () =>
      api.store.list('events', { namespace: 'default' }).items.find((e: { reason?: string }) => e.reason === 'OrphanMemberRemoved'),
    );
    // With the class's uid, from the controller's cache: `kubectl describe` lists it.
    expect(ev.involvedObject).toMatchObject({ kind: 'LoadBalancerClass', name: 'l7', uid: api.store.get('loadbalancerclasses', 'l7').metadata.uid });
    expect(ev.source.component).toBe('podlb-controller');
    // Only the leader acted: one Event, from the leader.
    const leader = ctls.find((c) => c.isLeader)!;
    expect(ev.source.host).toBe(leader.elector.identity);
    expect(api.store.list('events', { namespace: 'default' }).items.filter((e: { reason?: string }) => e.reason === 'OrphanMemberRemoved')).toHaveLength(1);
  });
});
