// Service nodePorts through the store, as a Kubernetes 1.32 API server allocates, keeps, releases
// and refuses them (pkg/registry/core/service/storage/alloc.go, storage.go patchAllocatedValues,
// strategy.go dropTypeDependentFields, validation.go ValidateService).
import { describe, expect, it } from 'vitest';
import { refusal } from '../../testkit/api-errors.js';
import { ObjectStore } from './store.js';

type Svc = { spec: { type: string; ports: { name?: string; port: number; protocol?: string; nodePort?: number }[] } };

const NS = 'default';
const service = (name: string, type: string, ports: Svc['spec']['ports'] = [{ name: 'http', port: 80 }]) => ({
  metadata: { name, namespace: NS },
  spec: { type, selector: { app: name }, ports },
});
const nodePorts = (s: ObjectStore, name: string): (number | undefined)[] => (s.get('services', name, NS) as Svc).spec.ports.map((p) => p.nodePort);
const inRange = (n: number | undefined): boolean => n !== undefined && n >= 30000 && n <= 32767;

describe('Service nodePorts', () => {
  it('a type change from ClusterIP to NodePort by merge patch, or to LoadBalancer by update, allocates a free nodePort for every port', () => {
    const s = new ObjectStore();
    s.create('services', service('taken', 'NodePort'));
    const [taken] = nodePorts(s, 'taken');
    s.create(
      'services',
      service('web', 'ClusterIP', [
        { name: 'http', port: 80 },
        { name: 'https', port: 443 },
      ]),
    );
    expect(nodePorts(s, 'web')).toEqual([undefined, undefined]);

    s.patch('services', 'web', NS, 'merge', { spec: { type: 'NodePort' } });
    const web = nodePorts(s, 'web');
    expect(web.every(inRange)).toBe(true);
    expect(new Set([taken, ...web]).size).toBe(3);

    s.create('services', service('lb', 'ClusterIP'));
    const lb = s.get('services', 'lb', NS) as Svc;
    s.update('services', { ...lb, spec: { ...lb.spec, type: 'LoadBalancer' } });
    const [lbPort] = nodePorts(s, 'lb');
    expect(inRange(lbPort)).toBe(true);
    expect([taken, ...web]).not.toContain(lbPort);
  });

  it('a type change back to ClusterIP releases the nodePorts; naming a new one on it is Forbidden, as on create', () => {
    const s = new ObjectStore();
    s.create('services', service('web', 'NodePort', [{ name: 'http', port: 80, nodePort: 30080 }]));
    expect(refusal(() => s.create('services', service('other', 'NodePort', [{ name: 'http', port: 80, nodePort: 30080 }]))).message).toBe(
      'Service "other" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated',
    );

    const forbidden = 'Service "web" is invalid: spec.ports[0].nodePort: Forbidden: may not be used when `type` is \'ClusterIP\'';
    // A new nodePort with the type change: refused, and the Service keeps its own.
    expect(
      refusal(() => s.patch('services', 'web', NS, 'merge', { spec: { type: 'ClusterIP', ports: [{ name: 'http', port: 80, nodePort: 30081 }] } })).message,
    ).toBe(forbidden);
    expect(nodePorts(s, 'web')).toEqual([30080]);
    // The type alone (the nodePorts as they were): cleared, and free for another Service.
    s.patch('services', 'web', NS, 'merge', { spec: { type: 'ClusterIP' } });
    expect(nodePorts(s, 'web')).toEqual([undefined]);
    s.create('services', service('other', 'NodePort', [{ name: 'http', port: 80, nodePort: 30080 }]));
    expect(nodePorts(s, 'other')).toEqual([30080]);

    const created = refusal(() => s.create('services', service('web2', 'ClusterIP', [{ name: 'http', port: 80, nodePort: 30090 }])));
    expect(created.code).toBe(422);
    expect(created.message).toBe(forbidden.replace('"web"', '"web2"'));
  });

  it('a named nodePort must be in 30000-32767 and free; ports of one number share one; an update that leaves them out keeps them', () => {
    const s = new ObjectStore();
    expect(refusal(() => s.create('services', service('low', 'NodePort', [{ name: 'http', port: 80, nodePort: 8080 }]))).message).toBe(
      'Service "low" is invalid: spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767',
    );
    s.create(
      'services',
      service('dns', 'NodePort', [
        { name: 'dns-tcp', port: 53, protocol: 'TCP', nodePort: 30053 },
        { name: 'dns-udp', port: 53, protocol: 'UDP' },
      ]),
    );
    expect(nodePorts(s, 'dns')).toEqual([30053, 30053]);

    // Resubmitted without the allocated values (kubectl replace of the original YAML): kept by port name.
    s.create(
      'services',
      service('web', 'NodePort', [
        { name: 'http', port: 80 },
        { name: 'admin', port: 9000 },
      ]),
    );
    const before = nodePorts(s, 'web');
    s.update(
      'services',
      service('web', 'NodePort', [
        { name: 'admin', port: 9000 },
        { name: 'http', port: 8080 },
      ]),
    );
    expect(nodePorts(s, 'web')).toEqual([before[1], before[0]]);
    // A port added later gets a new one.
    s.update(
      'services',
      service('web', 'NodePort', [
        { name: 'http', port: 8080 },
        { name: 'admin', port: 9000 },
        { name: 'extra', port: 9100 },
      ]),
    );
    const after = nodePorts(s, 'web');
    expect(after.slice(0, 2)).toEqual([before[0], before[1]]);
    expect(inRange(after[2]) && !before.includes(after[2])).toBe(true);

    // One nodePort twice on one protocol: the allocator refuses it before validation would.
    const twice = refusal(() =>
      s.patch('services', 'web', NS, 'merge', {
        spec: {
          ports: [
            { name: 'a', port: 1, nodePort: 30100 },
            { name: 'b', port: 2, nodePort: 30100 },
          ],
        },
      }),
    );
    expect([twice.code, twice.reason, twice.message]).toEqual([500, '', 'duplicate nodePort: {TCP 30100}']);
    expect(nodePorts(s, 'web')).toEqual(after);
    // On a ClusterIP Service, validation says both.
    expect(
      refusal(() =>
        s.create(
          'services',
          service('ci', 'ClusterIP', [
            { name: 'a', port: 1, nodePort: 30100 },
            { name: 'b', port: 2, nodePort: 30100 },
          ]),
        ),
      ).message,
    ).toBe(
      "Service \"ci\" is invalid: [spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP', spec.ports[1].nodePort: Forbidden: may not be used when `type` is 'ClusterIP', spec.ports[1].nodePort: Duplicate value: 30100]",
    );
  });

  it('a LoadBalancer with allocateLoadBalancerNodePorts false gets only those it names; a dry run and a deleted Service hold none', () => {
    const s = new ObjectStore();
    s.create('services', {
      ...service('lb', 'LoadBalancer', [
        { name: 'http', port: 80 },
        { name: 'https', port: 443, nodePort: 30443 },
      ]),
      spec: {
        ...service('lb', 'LoadBalancer').spec,
        allocateLoadBalancerNodePorts: false,
        ports: [
          { name: 'http', port: 80 },
          { name: 'https', port: 443, nodePort: 30443 },
        ],
      },
    });
    expect(nodePorts(s, 'lb')).toEqual([undefined, 30443]);

    s.create('services', service('dry', 'NodePort', [{ name: 'http', port: 80, nodePort: 30500 }]), { dryRun: true });
    s.create('services', service('gone', 'NodePort', [{ name: 'http', port: 80, nodePort: 30501 }]));
    s.delete('services', 'gone', NS);
    s.create(
      'services',
      service('next', 'NodePort', [
        { name: 'a', port: 80, nodePort: 30500 },
        { name: 'b', port: 81, nodePort: 30501 },
      ]),
    );
    expect(nodePorts(s, 'next')).toEqual([30500, 30501]);
  });
});
