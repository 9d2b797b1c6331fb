// Why the Calico loop cannot start, said on every podlb BGPPeer instead of a log line: the
// discovery documents tell a cluster without Calico's crd.projectcalico.org/v1 API apart from
// one whose Calico (3.32 or later) runs with native projectcalico.org/v3 CRDs only, which
// podlb's Calico mode does not write, and from a Calico too old to have BGPFilter (before 3.26).
import { API_VERSION } from '../../api/types.js';
import { problem, type Problem } from '../../api/problem.js';
import { isNotFound, type KubeClient } from '../../kube/client.js';
import { CALICO_API_VERSION } from './render.js';

/** What podlb reads and writes in crd.projectcalico.org/v1. */
export const CALICO_PLURALS = ['bgppeers', 'bgpfilters', 'bgpconfigurations', 'clusterinformations'] as const;

async function resourcesOf(client: KubeClient, groupVersion: string): Promise<string[] | undefined> {
  try {
    const list = await client.get<{ resources?: { name?: string }[] }>(`/apis/${groupVersion}`);
    return (list.resources ?? []).map((r) => r.name ?? '');
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** One sentence on why Calico's API is not usable; undefined when every resource podlb needs is served. */
export async function missingCalicoApi(client: KubeClient): Promise<{ reason: string; message: string } | undefined> {
  const crd = await resourcesOf(client, CALICO_API_VERSION);
  if (crd === undefined) {
    const v3 = await resourcesOf(client, 'projectcalico.org/v3');
    if (v3?.includes('bgppeers'))
      return {
        reason: 'CalicoAPINotSupported',
        message: `the cluster serves Calico's projectcalico.org/v3 API without ${CALICO_API_VERSION} (Calico 3.32 or later with native v3 CRDs): podlb's Calico mode writes ${CALICO_API_VERSION} BGPPeers and BGPFilters only and renders nothing; run calico-node with the crd.projectcalico.org CRDs, or use podlb's BIRD mode`,
      };
    return {
      reason: 'CalicoNotFound',
      message: `the cluster serves no ${CALICO_API_VERSION} API (is Calico installed, with the Kubernetes datastore?): podlb's Calico mode renders nothing`,
    };
  }
  const missing = CALICO_PLURALS.filter((p) => !crd.includes(p));
  if (missing.length === 0) return undefined;
  return {
    reason: 'CalicoAPINotSupported',
    message: `${CALICO_API_VERSION} has no ${missing.join(', ')}${missing.includes('bgpfilters') ? ' (BGPFilter came with Calico 3.26, the oldest podlb supports)' : ''}: podlb's Calico mode renders nothing`,
  };
}

/** That sentence as a Warning on every podlb BGPPeer. */
export function apiProblems(peerNames: readonly string[], why: { reason: string; message: string }): Problem[] {
  return peerNames.map((name) => problem({ apiVersion: API_VERSION, kind: 'BGPPeer', name }, 'spec', why.reason, `BGPPeer ${name}: ${why.message}`));
}
