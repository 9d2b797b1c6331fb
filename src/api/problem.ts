// A problem with user input or with a component, found while planning or applying. Planners
// return these instead of throwing, so one bad object never stops the others; the agent
// turns them into Kubernetes Events (reason, message) on `object` and into status conditions.
export interface ObjectRef {
  apiVersion?: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

export interface Problem {
  object: ObjectRef;
  /** JSON-path-ish field the user must fix, e.g. `spec.peerASN` or `metadata.annotations[podlb.io/ports]`. */
  field: string;
  /** CamelCase Event reason, e.g. `InvalidPeer`, `PoolNotApproved`. */
  reason: string;
  /** Human message naming what is wrong and how to fix it. Never contains secrets. */
  message: string;
  severity: 'Warning' | 'Normal';
}

export function problem(object: ObjectRef, field: string, reason: string, message: string, severity: Problem['severity'] = 'Warning'): Problem {
  return { object, field, reason, message, severity };
}

/** The uid of the object a ref names, as a cache holds it now; undefined when not held (gone, or never seen). */
export type UidOf = (ref: ObjectRef) => string | undefined;

type Lookup = (name: string, namespace: string | undefined) => { metadata?: { uid?: string } } | undefined;

/**
 * A UidOf over caches by `apiVersion/kind` (e.g. `v1/Pod`, `podlb.io/v1alpha1/BGPPeer`): the
 * apiVersion tells podlb's BGPPeer from Calico's.
 */
export function uidsFrom(caches: Readonly<Record<string, Lookup | undefined>>): UidOf {
  return (ref) => (ref.apiVersion === undefined ? undefined : caches[`${ref.apiVersion}/${ref.kind}`]?.(ref.name, ref.namespace)?.metadata?.uid);
}
