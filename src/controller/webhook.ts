// Readiness-gate injection (design §4.6): on Pod CREATE, add `podlb.io/load-balancer-ready` to
// spec.readinessGates when an opted-in Service in the Pod's namespace selects the Pod. Pure: the
// Services come in as a list, the review as parsed JSON; the server (webhook-server.ts) only
// moves bytes. Everything else is allowed unchanged: the webhook never denies.
import { READINESS_GATE, type Pod, type Service } from '../api/types.js';
import { isOptedIn } from '../members/binding.js';
import { serviceSelects } from '../util/label-selector.js';

export interface AdmissionRequest {
  uid: string;
  kind?: { group: string; version: string; kind: string };
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  namespace?: string;
  operation?: string;
  object?: unknown;
  dryRun?: boolean;
}

export interface AdmissionReview {
  apiVersion?: string;
  kind?: string;
  request?: AdmissionRequest;
}

export interface AdmissionResponse {
  uid: string;
  allowed: true;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
}

/** Why the Pod was (not) mutated: logs and metrics carry it. */
export type GateDecisionReason = 'injected' | 'alreadyPresent' | 'noSelectingService' | 'notPodCreate' | 'noLabels';

export interface GateInjection {
  reason: GateDecisionReason;
  /** The Services (namespace/name) that select the Pod. */
  services: string[];
  patch?: JsonPatchOp[];
}

export interface JsonPatchOp {
  op: 'add';
  path: string;
  value: unknown;
}

/** The opted-in Services of `namespace` whose selector matches `labels`. */
export function selectingServices(services: readonly Service[], namespace: string, labels: Record<string, string> | undefined): Service[] {
  return services.filter((s) => (s.metadata.namespace ?? 'default') === namespace && isOptedIn(s) && serviceSelects(s.spec?.selector ?? {}, labels));
}

export function decideGateInjection(req: AdmissionRequest, services: readonly Service[]): GateInjection {
  const isPodCreate = req.operation === 'CREATE' && req.resource?.resource === 'pods' && (req.resource.group ?? '') === '' && !req.subResource;
  const pod = req.object as Pod | undefined;
  if (!isPodCreate || !pod || typeof pod !== 'object' || !pod.spec) return { reason: 'notPodCreate', services: [] };
  const labels = pod.metadata?.labels;
  if (!labels || Object.keys(labels).length === 0) return { reason: 'noLabels', services: [] };
  // The namespace of a CREATE is in the request; the object's may be unset.
  const namespace = req.namespace || pod.metadata?.namespace || 'default';
  const selecting = selectingServices(services, namespace, labels).map((s) => `${namespace}/${s.metadata.name}`);
  if (selecting.length === 0) return { reason: 'noSelectingService', services: [] };
  const gates = pod.spec.readinessGates;
  if (gates?.some((g) => g.conditionType === READINESS_GATE)) return { reason: 'alreadyPresent', services: selecting };
  const patch: JsonPatchOp[] = Array.isArray(gates)
    ? [{ op: 'add', path: '/spec/readinessGates/-', value: { conditionType: READINESS_GATE } }]
    : [{ op: 'add', path: '/spec/readinessGates', value: [{ conditionType: READINESS_GATE }] }];
  return { reason: 'injected', services: selecting, patch };
}

/** The AdmissionReview answer for `decision` (always allowed). */
export function admissionResponse(review: AdmissionReview, decision: GateInjection): AdmissionReview & { response: AdmissionResponse } {
  const uid = review.request?.uid ?? '';
  const response: AdmissionResponse = { uid, allowed: true };
  if (decision.patch) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
  }
  return { apiVersion: review.apiVersion ?? 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}
