// `kubectl podlb approve|reject POOL --reason TEXT`: the network team's decision, written to
// spec.approval with a merge patch. The ValidatingAdmissionPolicy (daemonset/admission-policy.yaml)
// decides whether the caller may; this command only records who, why and when.
import type { KubeConfig } from '@kubernetes/client-node';
import type { ApprovalState, PodAddressPool } from '../../api/types.js';
import { KubeApiError, type KubeClient } from '../../kube/client.js';

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
 * The merge patch. It carries the resourceVersion the caller saw, so the decision applies to the
 * CIDRs that were read (and printed): if the pool changed in between, the API server answers 409.
 */
export function approvalPatch(decision: Decision, by: string, reason: string, now: Date, resourceVersion?: string): Record<string, unknown> {
  return {
    ...(resourceVersion ? { metadata: { resourceVersion } } : {}),
    spec: { approval: { state: decision, by, reason: reason.trim(), time: rfc3339(now) } },
  };
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

export function describeDecision(pool: PodAddressPool, id: Identity): string {
  const a = pool.spec.approval;
  const verb = a?.state === 'Rejected' ? 'rejected' : 'approved';
  const via = id.source === 'kubeconfig' ? ' (name from the kubeconfig: the API server does not serve SelfSubjectReview)' : id.source === 'impersonation' ? ' (name from --as: the API server does not serve SelfSubjectReview)' : '';
  return `podaddresspool/${pool.metadata.name} ${verb} by ${a?.by}${via}\n  cidrs:  ${pool.spec.cidrs.join(', ')}\n  reason: ${a?.reason}\n  time:   ${a?.time}\n`;
}
