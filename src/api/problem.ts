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

/**
 * The problems with their objects' uids filled in from `uidOf` (kind, name, namespace), so an
 * Event names the very object (`kubectl describe` lists only Events whose involvedObject.uid is
 * the object's). A ref that already has a uid, or whose object is not known, is left as it is.
 */
export function withUids(problems: readonly Problem[], uidOf: (ref: ObjectRef) => string | undefined): Problem[] {
  return problems.map((p) => {
    if (p.object.uid !== undefined) return p;
    const uid = uidOf(p.object);
    return uid === undefined ? p : { ...p, object: { ...p.object, uid } };
  });
}
