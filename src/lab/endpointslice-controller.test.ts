import { afterEach, describe, expect, it } from 'vitest';
import { ObjectStore, type Obj } from '../apiserver/index.js';
import { LABEL_MANAGED_BY, LABEL_SERVICE_NAME, READINESS_GATE } from '../api/types.js';
import { CONTROLLER_NAME, type EndpointSliceController, startEndpointSliceController } from './endpointslice-controller.js';

const flush = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};

let ctl: EndpointSliceController | undefined;
afterEach(() => ctl?.stop());

function setup(): ObjectStore {
  const s = new ObjectStore();
  s.create('services', {
    metadata: { name: 'bidder', namespace: 'default', labels: { team: 'ads' } },
    spec: { selector: { app: 'bidder' }, ipFamilyPolicy: 'PreferDualStack', ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
  });
  // The slice contents are under test here, not the controller's timing.
  ctl = startEndpointSliceController(s, { lagMs: { min: 0, max: 0 } });
  return s;
}

function createPod(s: ObjectStore, name: string): void {
  s.create('pods', {
    metadata: { name, namespace: 'default', labels: { app: 'bidder' } },
    spec: {
      nodeName: 'node-1',
      readinessGates: [{ conditionType: READINESS_GATE }],
      containers: [{ name: 'app', image: 'x:1', ports: [{ name: 'http', containerPort: 8080 }] }],
    },
  });
}

function setStatus(s: ObjectStore, name: string, conditions: Record<string, 'True' | 'False'>): void {
  s.patch(
    'pods',
    name,
    'default',
    'strategic',
    {
      status: {
        phase: 'Running',
        podIPs: [{ ip: '10.244.1.7' }, { ip: 'fd00:244::7' }],
        conditions: Object.entries(conditions).map(([type, status]) => ({ type, status })),
      },
    },
    { subresource: 'status' },
  );
}

function slices(s: ObjectStore): Obj[] {
  return s.list('endpointslices', { namespace: 'default', labelSelector: `${LABEL_SERVICE_NAME}=bidder` }).items as Obj[];
}
const slice = (s: ObjectStore, family: string): Obj => slices(s).find((x) => x.addressType === family)!;

describe('EndpointSlice controller', () => {
  it('keeps a placeholder slice per family while no Pod has an IP, with labels and owner', async () => {
    const s = setup();
    createPod(s, 'b-1');
    await flush();
    const all = slices(s);
    expect(all.map((x) => x.addressType).sort()).toEqual(['IPv4', 'IPv6']);
    const v4 = slice(s, 'IPv4');
    expect(v4.metadata.name).toMatch(/^bidder-/);
    expect(v4.metadata.labels).toEqual({ team: 'ads', [LABEL_SERVICE_NAME]: 'bidder', [LABEL_MANAGED_BY]: CONTROLLER_NAME });
    const svc = s.get('services', 'bidder', 'default');
    expect(v4.metadata.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'Service', name: 'bidder', uid: svc.metadata.uid, controller: true, blockOwnerDeletion: true },
    ]);
    expect(v4.endpoints).toEqual([]);
  });

  it('follows a Pod through its lifecycle: gated not-ready, ready, terminating, gone', async () => {
    const s = setup();
    createPod(s, 'b-1');
    const pod = s.get('pods', 'b-1', 'default');
    const conds = (): Obj => slice(s, 'IPv4').endpoints[0]?.conditions;

    // containers ready, podlb gate not yet: the Pod is not Ready
    setStatus(s, 'b-1', { ContainersReady: 'True', [READINESS_GATE]: 'False', Ready: 'False' });
    await flush();
    const v4 = slice(s, 'IPv4');
    expect(v4.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(v4.endpoints).toEqual([
      {
        addresses: ['10.244.1.7'],
        conditions: { ready: false, serving: false, terminating: false },
        nodeName: 'node-1',
        targetRef: { kind: 'Pod', namespace: 'default', name: 'b-1', uid: pod.metadata.uid },
      },
    ]);
    expect(slice(s, 'IPv6').endpoints[0].addresses).toEqual(['fd00:244::7']);

    setStatus(s, 'b-1', { [READINESS_GATE]: 'True', Ready: 'True' });
    await flush();
    expect(conds()).toEqual({ ready: true, serving: true, terminating: false });

    const rv = slice(s, 'IPv4').metadata.resourceVersion;
    s.patch('pods', 'b-1', 'default', 'merge', { metadata: { annotations: { unrelated: 'x' } } });
    await flush();
    expect(slice(s, 'IPv4').metadata.resourceVersion).toBe(rv); // no-op writes skipped

    s.delete('pods', 'b-1', 'default'); // graceful: the Pod stays, terminating
    await flush();
    expect(conds()).toEqual({ ready: false, serving: true, terminating: true });

    setStatus(s, 'b-1', { Ready: 'False' });
    await flush();
    expect(conds()).toEqual({ ready: false, serving: false, terminating: true });

    s.delete('pods', 'b-1', 'default', { gracePeriodSeconds: 0 });
    await flush();
    expect(slice(s, 'IPv4').endpoints).toEqual([]);
  });

  it('drops a Pod whose named targetPort does not resolve into a separate port set, and removes slices with the Service', async () => {
    const s = setup();
    s.create('pods', {
      metadata: { name: 'odd', namespace: 'default', labels: { app: 'bidder' } },
      spec: { nodeName: 'node-2', containers: [{ name: 'app', image: 'x:1', ports: [{ name: 'web', containerPort: 9000 }] }] },
    });
    s.patch('pods', 'odd', 'default', 'merge', { status: { podIP: '10.244.2.9' } }, { subresource: 'status' });
    await flush();
    const v4 = slice(s, 'IPv4');
    expect(v4.ports).toEqual([]);
    expect(v4.endpoints[0].addresses).toEqual(['10.244.2.9']);
    s.delete('services', 'bidder', 'default');
    await flush();
    expect(slices(s)).toEqual([]);
  });

  it('repairs a managed slice that someone else changed', async () => {
    const s = setup();
    await flush();
    const v4 = slice(s, 'IPv4');
    s.update('endpointslices', { ...v4, endpoints: [{ addresses: ['192.0.2.1'] }] });
    await flush();
    expect(slice(s, 'IPv4').endpoints).toEqual([]);
  });
});

describe('batch period', () => {
  it('writes a burst of Pod changes within the period as one slice update', async () => {
    const s = new ObjectStore();
    s.create('services', {
      metadata: { name: 'bidder', namespace: 'default' },
      spec: { selector: { app: 'bidder' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });
    ctl = startEndpointSliceController(s, { batchPeriodMs: 100 });
    await new Promise((r) => setTimeout(r, 150)); // initial (placeholder) slices written
    let writes = 0;
    const unwatch = s.watch('endpointslices', {}, (ev) => {
      if (ev.type === 'ADDED' || ev.type === 'MODIFIED') writes += 1;
    });
    for (let i = 0; i < 10; i++) {
      s.create('pods', {
        metadata: { name: `p${i}`, namespace: 'default', labels: { app: 'bidder' } },
        spec: { nodeName: 'node-1', containers: [{ name: 'app', image: 'x:1' }] },
      });
      s.patch(
        'pods',
        `p${i}`,
        'default',
        'strategic',
        { status: { phase: 'Running', podIP: `10.244.1.${10 + i}`, podIPs: [{ ip: `10.244.1.${10 + i}` }], conditions: [{ type: 'Ready', status: 'True' }] } },
        { subresource: 'status' },
      );
      // Spread over ~50 ms: without a batch period every change would be its own slice write.
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 250));
    unwatch();
    const slice = (s.list('endpointslices', { namespace: 'default' }).items as Obj[]).find(
      (x) => (x as { addressType?: string }).addressType === 'IPv4',
    ) as unknown as { endpoints: unknown[] };
    expect(slice.endpoints).toHaveLength(10);
    // Measured: 3 with a 100 ms period (the spaced writes can straddle a period boundary),
    // 11 without one.
    expect(writes).toBeLessThanOrEqual(4);
  });
});
