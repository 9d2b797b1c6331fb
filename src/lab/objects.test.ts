// The lab applies the same objects a real cluster would accept: every podlb.io object the lab
// creates validates against the CRD schemas shipped in daemonset/.
import { describe, expect, it } from 'vitest';
import { labObjects, labPod } from './objects.js';
import { hasCrdFor, validateAgainstCrds } from '../../testkit/install-schema.js';

describe('lab objects', () => {
  const objs = labObjects({
    nodes: [
      { name: 'node1', podCidr: '10.244.1.0/24', rack: 'r1', address: '172.31.1.2', torAddress: '172.31.1.1' },
      { name: 'node2', podCidr: '10.244.2.0/24', rack: 'r2', address: '172.31.2.2', torAddress: '172.31.2.1' },
    ],
    haproxyRuntimes: ['unix:///tmp/podlb-haproxy/admin.sock', 'unix:///tmp/podlb-haproxy2/admin.sock'],
    healthCheck: { interval: '300ms', rise: 2, fall: 2 },
    drainSeconds: 2,
  });
  const crdObjects = objs.filter((o) => hasCrdFor(o));

  it('include every podlb kind the lab needs', () => {
    expect(crdObjects.map((o) => o.kind).sort()).toEqual(['BGPPeer', 'BGPPeer', 'LoadBalancerClass', 'PodAddressPool']);
  });

  it.each(crdObjects.map((o) => [`${o.kind}/${o.metadata.name}`, o] as const))('%s validates against its CRD schema', (_, obj) => {
    expect(validateAgainstCrds(obj)).toEqual([]);
  });

  it('the lab Pod carries the readiness gate and the preStop the README recommends', () => {
    const pod = labPod('web-1', 'node1', { preStopSeconds: 2 });
    expect(pod.spec.readinessGates).toEqual([{ conditionType: 'podlb.io/load-balancer-ready' }]);
    expect(pod.spec.containers[0]).toMatchObject({ lifecycle: { preStop: { sleep: { seconds: 2 } } } });
  });
});
