import { describe, expect, it } from 'vitest';
import { nodeForAdvertising } from './drain.js';
import type { Node, Pod } from '../api/types.js';

const node = (unschedulable: boolean): Node => ({
  metadata: { name: 'n1' },
  spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd00:244:0:1::/64'], unschedulable },
});
const pod = (ip: string, extra: Partial<Pod['status']> & { hostNetwork?: boolean } = {}): Pod => ({
  metadata: { name: ip, namespace: 'ns' },
  spec: { nodeName: 'n1', containers: [], ...(extra.hostNetwork ? { hostNetwork: true } : {}) },
  status: { podIP: ip, podIPs: [{ ip }], phase: extra.phase ?? 'Running' },
});

describe('nodeForAdvertising (drain)', () => {
  it.each<{ name: string; cordoned: boolean; pods: Pod[]; withdrawn: string[] }>([
    { name: 'not cordoned: everything stays', cordoned: false, pods: [], withdrawn: [] },
    { name: 'cordoned, Pods still on both families', cordoned: true, pods: [pod('10.244.1.7'), pod('fd00:244:0:1::7')], withdrawn: [] },
    { name: 'cordoned, only IPv4 Pods left', cordoned: true, pods: [pod('10.244.1.7')], withdrawn: ['fd00:244:0:1::/64'] },
    { name: 'cordoned and empty: both withdrawn', cordoned: true, pods: [], withdrawn: ['10.244.1.0/24', 'fd00:244:0:1::/64'] },
    {
      name: 'finished and hostNetwork Pods do not hold a CIDR',
      cordoned: true,
      pods: [pod('10.244.1.8', { phase: 'Succeeded' }), pod('172.31.1.2', { hostNetwork: true })],
      withdrawn: ['10.244.1.0/24', 'fd00:244:0:1::/64'],
    },
  ])('$name', ({ cordoned, pods, withdrawn }) => {
    const r = nodeForAdvertising(node(cordoned), pods);
    expect(r.withdrawn).toEqual(withdrawn);
    expect(r.node.spec?.podCIDRs).toEqual(['10.244.1.0/24', 'fd00:244:0:1::/64'].filter((c) => !withdrawn.includes(c)));
  });
});
