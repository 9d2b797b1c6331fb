// A Calico cluster of two racks, as its Kubernetes datastore holds it, for the generator's unit
// tests and the lab's Calico node: node r12-n1 (the one the lab runs) and r13-n1 (another
// rack), dual-stack, the node mesh off (the ToRs carry every route), communities per pool in
// BGPConfiguration, and three IP pools of each version:
//   pods   10.244.0.0/15, blocks /26   exported by Calico; the network team approved only
//                                      its lower half, 10.244.0.0/16
//   quiet  10.250.0.0/24, blocks /28   disableBGPExport: Calico never exports it (approved too)
//   lab    10.251.0.0/24, blocks /26   exported by Calico, NOT approved by the network team
//   pods6  fd00:244::/56,  blocks /122 exported by Calico, approved
//   quiet6 fd00:250::/64,  blocks /124 disableBGPExport (approved too)
//   lab6   fd00:251::/64,  blocks /122 exported by Calico, NOT approved
// r12-n1 holds confirmed blocks of each pool (and a pending one, which confd ignores), and
// workloads in each: two in its own pods block, one borrowed from r13-n1's block, one in the
// unapproved half of pods, one in the quiet pool and one in the lab pool; the same in IPv6,
// without an unapproved half.
//
// Each object is as the Kubernetes datastore of Calico v3.32.1 holds it, and the real CRD
// schemas accept it (confd.test.ts): the Nodes are Kubernetes Nodes carrying Calico's BGP
// annotations, the BlockAffinities are named and typed as its IPAM writes them.
import { type CalicoDatastore, type CalicoObj, NODE_ANNOTATIONS } from './model.js';

export const CALICO_NODE = 'r12-n1';
export const CALICO_NODE_IP = '172.31.1.2';
export const TOR_IP = '172.31.1.1';
export const CALICO_NODE_IPV6 = 'fd00:31:1::2';
export const TOR_IPV6 = 'fd00:31:1::1';
export const CLUSTER_ASN = 64512;
export const TOR_ASN = 65000;

/** Workload IPs on r12-n1, by what Calico does with them. */
export const WORKLOADS = {
  inOwnBlock: ['10.244.1.2', '10.244.1.3'],
  borrowed: '10.244.9.70',
  disabledExport: '10.250.0.18',
  unapproved: '10.251.0.5',
  unapprovedHalf: '10.245.0.9',
} as const;

export const OWN_BLOCK = '10.244.1.0/26';
/** r13-n1's block, from which r12-n1 borrowed one address. */
export const OTHER_RACK_BLOCK = '10.244.9.64/26';
export const QUIET_BLOCK = '10.250.0.16/28';
export const UNAPPROVED_BLOCK = '10.251.0.0/26';
/**
 * A route on r12-n1 that is not a workload's: the pods IPPool's own CIDR, e.g. an operator's
 * blackhole. It lies in an enabled pool and in no block of the node, so Calico exports it;
 * it is a supernet of the approved 10.244.0.0/16.
 */
export const SUPERNET_ROUTE = '10.244.0.0/15';
/** A block of the pods IPPool outside the approved 10.244.0.0/16. */
export const UNAPPROVED_HALF_BLOCK = '10.245.0.0/26';

/** IPv6 workload IPs on r12-n1, by what Calico does with them. */
export const WORKLOADS_V6 = {
  inOwnBlock: ['fd00:244::2', 'fd00:244::3'],
  borrowed: 'fd00:244:0:9::45',
  disabledExport: 'fd00:250::12',
  unapproved: 'fd00:251::5',
} as const;

export const OWN_BLOCK_V6 = 'fd00:244::/122';
/** r13-n1's IPv6 block, from which r12-n1 borrowed one address. */
export const OTHER_RACK_BLOCK_V6 = 'fd00:244:0:9::40/122';
export const QUIET_BLOCK_V6 = 'fd00:250::10/124';
export const UNAPPROVED_BLOCK_V6 = 'fd00:251::/122';

/** The communities BGPConfiguration attaches to 10.244.0.0/16 and fd00:244::/56 (one by name). */
export const POD_COMMUNITIES = { standard: ['64512:300', '65000:100'], large: ['64512:1:2'] };

const obj = (kind: string, name: string, spec: Record<string, unknown>, labels?: Record<string, string>): CalicoObj => ({
  apiVersion: 'crd.projectcalico.org/v1',
  kind,
  metadata: { name, ...(labels ? { labels } : {}) },
  spec,
});

/** A Kubernetes Node as calico-node annotates it (the address with its subnet's length). */
const node = (name: string, ipv4: string, ipv6: string, rack: string): CalicoObj => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: {
    name,
    labels: { 'kubernetes.io/hostname': name, 'topology.kubernetes.io/rack': rack, 'podlb.io/bgp': 'true' },
    annotations: { [NODE_ANNOTATIONS.ipv4Address]: `${ipv4}/24`, [NODE_ANNOTATIONS.ipv6Address]: `${ipv6}/64` },
  },
});

// libcalico-go names an affinity <node>-<cidr>, its '.', ':' and '/' made '-' (names.CIDRToName).
const affinity = (node: string, cidr: string, state: string) =>
  obj('BlockAffinity', `${node}-${cidr.replace(/[.:/]/g, '-')}`, { node, cidr, state, deleted: 'false', type: 'host' });

/** The cluster's Calico objects, with `peers` and `filters` (podlb's rendering, or hand-made ones). */
export function rackCluster(peers: CalicoObj[], filters: CalicoObj[]): CalicoDatastore {
  return {
    nodes: [node(CALICO_NODE, CALICO_NODE_IP, CALICO_NODE_IPV6, 'r12'), node('r13-n1', '172.31.2.2', 'fd00:31:2::2', 'r13')],
    bgpConfigurations: [
      obj('BGPConfiguration', 'default', {
        asNumber: CLUSTER_ASN,
        nodeToNodeMeshEnabled: false,
        logSeverityScreen: 'Info',
        communities: [{ name: 'podlb-pods', value: '64512:300' }],
        prefixAdvertisements: [
          { cidr: '10.244.0.0/16', communities: ['podlb-pods', '65000:100', '64512:1:2'] },
          { cidr: '10.250.0.0/24', communities: ['64512:999'] },
          { cidr: 'fd00:244::/56', communities: ['podlb-pods', '65000:100', '64512:1:2'] },
          { cidr: 'fd00:250::/64', communities: ['64512:999'] },
        ],
      }),
    ],
    ipPools: [
      obj('IPPool', 'pods', { cidr: '10.244.0.0/15', blockSize: 26, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: true, nodeSelector: 'all()' }),
      obj('IPPool', 'quiet', { cidr: '10.250.0.0/24', blockSize: 28, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, disableBGPExport: true }),
      obj('IPPool', 'lab', { cidr: '10.251.0.0/24', blockSize: 26, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: true }),
      obj('IPPool', 'pods6', { cidr: 'fd00:244::/56', blockSize: 122, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, nodeSelector: 'all()' }),
      obj('IPPool', 'quiet6', { cidr: 'fd00:250::/64', blockSize: 124, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, disableBGPExport: true }),
      obj('IPPool', 'lab6', { cidr: 'fd00:251::/64', blockSize: 122, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false }),
    ],
    blockAffinities: [
      affinity(CALICO_NODE, OWN_BLOCK, 'confirmed'),
      affinity(CALICO_NODE, '10.244.1.64/26', 'pending'),
      affinity(CALICO_NODE, QUIET_BLOCK, 'confirmed'),
      affinity(CALICO_NODE, UNAPPROVED_BLOCK, 'confirmed'),
      affinity(CALICO_NODE, UNAPPROVED_HALF_BLOCK, 'confirmed'),
      affinity('r13-n1', OTHER_RACK_BLOCK, 'confirmed'),
      affinity(CALICO_NODE, OWN_BLOCK_V6, 'confirmed'),
      affinity(CALICO_NODE, 'fd00:244::40/122', 'pending'),
      affinity(CALICO_NODE, QUIET_BLOCK_V6, 'confirmed'),
      affinity(CALICO_NODE, UNAPPROVED_BLOCK_V6, 'confirmed'),
      affinity('r13-n1', OTHER_RACK_BLOCK_V6, 'confirmed'),
    ],
    bgpPeers: peers,
    bgpFilters: filters,
  };
}
