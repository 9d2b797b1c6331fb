// `kubectl podlb approve|reject POOL --reason TEXT`: the network team's decision, written to
// spec.approval with a merge patch. The ValidatingAdmissionPolicy (daemonset/admission-policy.yaml)
// decides whether the caller may; this command only records who, why and when.
import type { KubeConfig } from '@kubernetes/client-node';
import type { ApprovalState, PodAddressPool } from '../../api/types.js';
import { KubeApiError, type KubeClient } from '../../kube/client.js';
import { approvalContent, approvalFor } from '../../bgp/approval.js';

export type Decision = Extract<ApprovalState, 'Approved' | 'Rejected'>;

export interface Identity {
  name: string;
  /** Where the name came from: the API server (authenticated) or the local kubeconfig (a label). */
  source: 'SelfSubjectReview' | 'kubeconfig' | 'impersonation';
}

/** A reason is required and bounded like the CRD field (maxLength 1024). Undefined when fine, else what is wrong. */
export function reasonProblem(reason: string | undefined): string | undefined {
  if (reason === undefined || reason.trim() === '') return '--reason is required and must not be empty (e.g. a change ticket: --reason NETREQ-1234)';
  if (reason.length > 1024) return `--reason is ${reason.length} characters; at most 1024`;
  return undefined;
}

/** RFC 3339 in seconds, as Kubernetes writes its own times. */
export function rfc3339(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The merge patch. It carries the resourceVersion of `current`, the pool the caller read (and
 * sees printed): if the pool changed in between, the API server answers 409. An approval
 * records the digests of that content (src/bgp/approval.ts), which the agents check; fields of
 * an earlier approval's fieldDigests that are gone are nulled, since a merge patch merges maps.
 * A rejection drops the digests: nothing is approved.
 */
export function approvalPatch(decision: Decision, current: PodAddressPool, by: string, reason: string, now: Date): Record<string, unknown> {
  const record = { state: decision, by, reason: reason.trim(), time: rfc3339(now) };
  const old = current.spec?.approval?.fieldDigests;
  let approval: Record<string, unknown>;
  if (decision === 'Approved') {
    const a = approvalFor(current.spec, record);
    const gone = Object.keys(old && typeof old === 'object' ? old : {}).filter((k) => !(k in a.fieldDigests));
    approval = { ...a, fieldDigests: { ...a.fieldDigests, ...Object.fromEntries(gone.map((k) => [k, null])) } };
  } else {
    approval = { ...record, ...(current.spec?.approval?.digest !== undefined ? { digest: null } : {}), ...(old !== undefined ? { fieldDigests: null } : {}) };
  }
  const resourceVersion = current.metadata?.resourceVersion;
  return { ...(resourceVersion ? { metadata: { resourceVersion } } : {}), spec: { approval } };
}

/**
 * Who is calling. First a SelfSubjectReview (authentication.k8s.io/v1, GA in Kubernetes 1.28):
 * the API server answers with the username it authenticated, the same name the audit log and the
 * admission policy see, whatever the credential (token, client certificate, OIDC, exec plugin).
 * The kubeconfig's user entry is only a local label ("kubernetes-admin", "oidc@cluster") and
 * may name nobody; it is the fallback when the API does not serve the review (404 on older
 * servers, 405, or 403 when RBAC took away system:basic-user).
 */
export async function callerIdentity(client: KubeClient, kc: KubeConfig, impersonated?: string): Promise<Identity> {
  try {
    const r = await client.create<{ status?: { userInfo?: { username?: string } } }>('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'SelfSubjectReview',
    });
    const name = r.status?.userInfo?.username;
    if (name) return { name, source: 'SelfSubjectReview' };
  } catch (err) {
    if (!(err instanceof KubeApiError) || ![403, 404, 405].includes(err.status)) throw err;
  }
  // With --as the API server acts as that user, whatever the kubeconfig's credential names.
  if (impersonated) return { name: impersonated, source: 'impersonation' };
  const user = kc.getCurrentUser();
  const name = user?.username || user?.name;
  if (!name) throw new Error('cannot tell who you are: the API server does not serve SelfSubjectReview and the kubeconfig has no current user');
  return { name, source: 'kubeconfig' };
}

/** The decision and, for an approval, the content it covers (every spec field but approval). */
export function describeDecision(pool: PodAddressPool, id: Identity): string {
  const a = pool.spec.approval;
  const verb = a?.state === 'Rejected' ? 'rejected' : 'approved';
  const via =
    id.source === 'kubeconfig'
      ? ' (name from the kubeconfig: the API server does not serve SelfSubjectReview)'
      : id.source === 'impersonation'
        ? ' (name from --as: the API server does not serve SelfSubjectReview)'
        : '';
  const content = approvalContent(pool.spec);
  const others = Object.keys(content)
    .filter((k) => k !== 'cidrs')
    .sort()
    .map((k) => `  ${`${k}:`.padEnd(7)} ${JSON.stringify(content[k])}\n`)
    .join('');
  const digest = a?.state === 'Approved' && a.digest ? `  digest: ${a.digest}\n` : '';
  return `podaddresspool/${pool.metadata.name} ${verb} by ${a?.by}${via}\n  cidrs:  ${pool.spec.cidrs.join(', ')}\n${others}  reason: ${a?.reason}\n  time:   ${a?.time}\n${digest}`;
}
