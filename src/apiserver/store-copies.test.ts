// The store hands out and takes in copies: whatever a caller or an in-process watcher does to an
// object it passed in or got back, the stored object, the history behind older resourceVersions
// and other watchers' events stay as they were. A write clones only what it keeps (a status
// write takes the rest from the stored object), so these pin down that nothing is shared.
import { describe, expect, it } from 'vitest';
import { refusal } from '../../testkit/api-errors.js';
import { ObjectStore, type Obj, type WatchEvent } from './store.js';

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));
const GATE = 'podlb.io/load-balancer-ready';

function podStore(): { s: ObjectStore; snapshot: () => Obj } {
  const s = new ObjectStore();
  s.create('pods', {
    metadata: { name: 'p', namespace: 'default', labels: { app: 'web' } },
    spec: { nodeName: 'n1', readinessGates: [{ conditionType: GATE }], containers: [{ name: 'c', image: 'img:1' }] },
  });
  s.patch(
    'pods',
    'p',
    'default',
    'strategic',
    {
      status: {
        phase: 'Running',
        podIP: '10.0.0.5',
        conditions: [
          { type: GATE, status: 'False' },
          { type: 'ContainersReady', status: 'True' },
        ],
      },
    },
    { subresource: 'status' },
  );
  return { s, snapshot: () => s.get('pods', 'p', 'default') };
}

describe('store copies', () => {
  it('mutating a request body or a returned object after the write changes nothing stored', () => {
    const { s, snapshot } = podStore();
    const patch = { status: { conditions: [{ type: GATE, status: 'True' }] } };
    const out = s.patch('pods', 'p', 'default', 'strategic', patch, { subresource: 'status' });
    const want = snapshot();
    patch.status.conditions[0]!.status = 'Unknown';
    out.status.conditions[0].status = 'Unknown';
    out.spec.containers[0].image = 'mutated';
    out.metadata.labels.app = 'mutated';
    expect(snapshot()).toEqual(want);

    const body = snapshot();
    body.status.conditions = [{ type: GATE, status: 'False' }];
    const put = s.updateStatus('pods', body);
    const afterPut = snapshot();
    expect(afterPut.status.conditions).toEqual([{ type: GATE, status: 'False' }]);
    body.status.conditions[0].status = 'Unknown';
    body.metadata.labels.app = 'mutated';
    put.spec.containers[0].image = 'mutated';
    put.status.phase = 'mutated';
    expect(snapshot()).toEqual(afterPut);

    const lbc = s.create('loadbalancerclasses', { metadata: { name: 'l' }, spec: { provider: 'haproxy', haproxy: { instances: ['unix:///run/h.sock'] } } });
    const crBody = {
      ...lbc,
      status: { conditions: [{ type: 'Ready', status: 'True', reason: 'R', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }] },
    };
    const crOut = s.updateStatus('loadbalancerclasses', crBody);
    const crWant = s.get('loadbalancerclasses', 'l');
    crBody.status.conditions[0]!.status = 'False';
    crOut.spec.haproxy.instances.push('mutated');
    expect(s.get('loadbalancerclasses', 'l')).toEqual(crWant);
  });

  it('a status write does not touch the stored object it replaces: history and refused writes leave it as it was', () => {
    const { s, snapshot } = podStore();
    const before = snapshot();
    const rvBefore = before.metadata.resourceVersion as string;
    s.patch('pods', 'p', 'default', 'strategic', { status: { conditions: [{ type: GATE, status: 'True' }] } }, { subresource: 'status' });
    s.patch('pods', 'p', 'default', 'merge', { metadata: { labels: { app: 'db' } } });
    const old = s.list('pods', { namespace: 'default', resourceVersion: rvBefore, resourceVersionMatch: 'Exact' }).items[0];
    const { apiVersion: _a, kind: _k, ...bare } = before;
    expect(old).toEqual(bare);

    const now = snapshot();
    // refused by validation (not an IP) and by a stale resourceVersion, after the patch was applied
    expect(
      refusal(() =>
        s.patch(
          'pods',
          'p',
          'default',
          'merge',
          { status: { podIPs: [{ ip: '10.0.0.300' }], conditions: [{ type: GATE, status: 'False' }] } },
          { subresource: 'status' },
        ),
      ).code,
    ).toBe(422);
    expect(
      refusal(() =>
        s.patch('pods', 'p', 'default', 'merge', { metadata: { resourceVersion: rvBefore }, status: { phase: 'Failed' } }, { subresource: 'status' }),
      ).code,
    ).toBe(409);
    expect(snapshot()).toEqual(now);
  });

  it('a no-op status patch keeps the resourceVersion and sends no event; a real one does both', async () => {
    const { s, snapshot } = podStore();
    const rv = snapshot().metadata.resourceVersion;
    const events: WatchEvent[] = [];
    s.watch('pods', { resourceVersion: s.resourceVersion }, (e) => events.push(e));
    const same = s.patch('pods', 'p', 'default', 'strategic', { status: { conditions: [{ type: GATE, status: 'False' }] } }, { subresource: 'status' });
    expect(same.metadata.resourceVersion).toBe(rv);
    await flush();
    expect(events).toEqual([]);
    const changed = s.patch('pods', 'p', 'default', 'merge', { status: { phase: 'Succeeded' } }, { subresource: 'status' });
    expect(Number(changed.metadata.resourceVersion)).toBeGreaterThan(Number(rv));
    await flush();
    expect(events.map((e) => `${e.type} ${e.object.status.phase}`)).toEqual(['MODIFIED Succeeded']);
  });

  it('an in-process watcher mutating its event object changes neither the store nor another watcher’s event', async () => {
    const { s, snapshot } = podStore();
    const seen: Obj[] = [];
    s.watch('pods', { resourceVersion: s.resourceVersion }, (e) => {
      e.object.status.conditions[0].status = 'Unknown';
      e.object.metadata.labels.app = 'mutated';
    });
    s.watch('pods', { resourceVersion: s.resourceVersion }, (e) => seen.push(e.object));
    s.patch('pods', 'p', 'default', 'strategic', { status: { conditions: [{ type: GATE, status: 'True' }] } }, { subresource: 'status' });
    await flush();
    const stored = snapshot();
    expect(stored.status.conditions.find((c: Obj) => c.type === GATE).status).toBe('True');
    expect(stored.metadata.labels.app).toBe('web');
    expect(seen).toEqual([stored]);
  });
});
