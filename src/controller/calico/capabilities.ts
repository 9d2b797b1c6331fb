// What the Calico found in the cluster can express per BGPPeer, by its version
// (ClusterInformation `default` spec.calicoVersion, which calico-node and the operator keep
// set). Read in projectcalico/calico libcalico-go/config/crd/crd.projectcalico.org_bgppeers.yaml:
// `localASNumber` first appears in v3.31.0, `keepaliveTime` in v3.32.0; neither in v3.26-v3.30.
// An unknown or unreadable version gets the oldest supported set (3.26), so podlb never writes
// a field the cluster's Calico would drop or refuse.
export interface CalicoCapabilities {
  /** As found, e.g. `v3.32.1`; undefined when ClusterInformation has none. */
  version?: string;
  /** BGPPeer spec.localASNumber (>= 3.31). */
  perPeerLocalAsn: boolean;
  /** BGPPeer spec.keepaliveTime (>= 3.32). */
  perPeerKeepalive: boolean;
}

export const OLDEST_CALICO: CalicoCapabilities = { perPeerLocalAsn: false, perPeerKeepalive: false };

export function capabilitiesOf(calicoVersion: unknown): CalicoCapabilities {
  const m = typeof calicoVersion === 'string' ? /^v?(\d+)\.(\d+)(?:\.\d+)?/.exec(calicoVersion.trim()) : null;
  if (!m) return OLDEST_CALICO;
  const at = (major: number, minor: number) => Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor);
  return { version: calicoVersion as string, perPeerLocalAsn: at(3, 31), perPeerKeepalive: at(3, 32) };
}

/** `Calico v3.30.2` or `this cluster's Calico (version unknown)`, for messages. */
export function describeCalico(c: CalicoCapabilities): string {
  return c.version ? `Calico ${c.version}` : `this cluster's Calico (version unknown: ClusterInformation default has no calicoVersion)`;
}
