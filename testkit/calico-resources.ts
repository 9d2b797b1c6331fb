// Calico's CRDs as its Kubernetes datastore registers them (crd.projectcalico.org/v1,
// cluster-scoped), for the in-process API server:
// `startApiServer({ resources: calicoResources('v3.26.0') })`. The CRDs are Calico's own YAML,
// vendored in testkit/calico-crds/<version>/ (see the README there), so the server prunes,
// defaults and validates (CEL included) exactly as a cluster with that Calico would.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type ResourceType, resourceFromCrd } from '../src/apiserver/index.js';
import { type Crd, loadYamlDocs, repoRoot } from '../src/apiserver/crds.js';

/** The oldest Calico podlb supports (BGPFilter appeared in 3.26) and the newest release. */
export const CALICO_VERSIONS = ['v3.26.0', 'v3.32.1'] as const;
export type CalicoVersion = (typeof CALICO_VERSIONS)[number];

const loaded = new Map<CalicoVersion, Crd[]>();

/** The vendored CRDs of one Calico version (read once; the same array every time). */
export function calicoCrds(version: CalicoVersion): Crd[] {
  const have = loaded.get(version);
  if (have) return have;
  const dir = join(repoRoot(), 'testkit/calico-crds', version);
  const crds = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => loadYamlDocs(join(dir, f)).map((d) => ({ ...(d as Omit<Crd, 'file'>), file: `testkit/calico-crds/${version}/${f}` })));
  loaded.set(version, crds);
  return crds;
}

/** bgppeers, bgpfilters, bgpconfigurations, clusterinformations, ippools and blockaffinities.crd.projectcalico.org of `version`. */
export function calicoResources(version: CalicoVersion = CALICO_VERSIONS[CALICO_VERSIONS.length - 1]!): ResourceType[] {
  return calicoCrds(version).map((crd) => resourceFromCrd(crd, 'v1'));
}
