// A Calico cluster's objects as its Kubernetes datastore holds them: each one created through
// the in-process API server's store with the real Calico CRDs of one version registered
// (testkit/calico-resources.ts) and Kubernetes' own Nodes, so what the lab's confd reads has
// been validated, pruned and defaulted as a cluster with that Calico would. A refused object
// throws the API server's Invalid error.
import { ObjectStore, type Obj } from '../../src/apiserver/index.js';
import { type CalicoVersion, calicoResources } from '../calico-resources.js';
import type { CalicoDatastore, CalicoObj } from './model.js';

const RESOURCES: Record<Exclude<keyof CalicoDatastore, 'secrets'>, string> = {
  nodes: 'nodes',
  bgpConfigurations: 'bgpconfigurations.crd.projectcalico.org',
  ipPools: 'ippools.crd.projectcalico.org',
  blockAffinities: 'blockaffinities.crd.projectcalico.org',
  bgpPeers: 'bgppeers.crd.projectcalico.org',
  bgpFilters: 'bgpfilters.crd.projectcalico.org',
};

const KINDS: Record<keyof typeof RESOURCES, [apiVersion: string, kind: string]> = {
  nodes: ['v1', 'Node'],
  bgpConfigurations: ['crd.projectcalico.org/v1', 'BGPConfiguration'],
  ipPools: ['crd.projectcalico.org/v1', 'IPPool'],
  blockAffinities: ['crd.projectcalico.org/v1', 'BlockAffinity'],
  bgpPeers: ['crd.projectcalico.org/v1', 'BGPPeer'],
  bgpFilters: ['crd.projectcalico.org/v1', 'BGPFilter'],
};

/** Every object of `ds` with its apiVersion and kind (podlb's rendering and hand-made objects may leave them out). */
export function datastoreObjects(ds: CalicoDatastore): { list: keyof typeof RESOURCES; resource: string; obj: CalicoObj }[] {
  return (Object.keys(RESOURCES) as (keyof typeof RESOURCES)[]).flatMap((list) =>
    ds[list].map((o) => ({ list, resource: RESOURCES[list], obj: { ...o, apiVersion: KINDS[list][0], kind: KINDS[list][1] } })),
  );
}

/** `ds` written to and read back from an API server serving Calico `version`'s CRDs. */
export function storedDatastore(ds: CalicoDatastore, version: CalicoVersion): CalicoDatastore {
  const store = new ObjectStore({ resources: calicoResources(version) });
  const out: CalicoDatastore = {
    nodes: [],
    bgpConfigurations: [],
    ipPools: [],
    blockAffinities: [],
    bgpPeers: [],
    bgpFilters: [],
    ...(ds.secrets ? { secrets: ds.secrets } : {}),
  };
  for (const { list, resource, obj } of datastoreObjects(ds)) {
    out[list].push(store.create(resource, obj as unknown as Obj) as unknown as CalicoObj);
  }
  return out;
}
