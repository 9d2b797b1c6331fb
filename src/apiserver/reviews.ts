// The create-only APIs that are not stored: TokenRequest (serviceaccounts/token),
// SelfSubjectReview, TokenReview, SubjectAccessReview and SelfSubjectAccessReview. Each is
// reached only after RBAC allowed `create` on it, as on a real server.
import type { Authenticator } from './authn.js';
import { API_AUDIENCES } from './authn.js';
import { badRequest, failure, invalid, invalidError, notFound } from './errors.js';
import type { RbacAuthorizer, RequestAttributes } from './rbac.js';
import type { Obj } from './resource-type.js';
import type { ObjectStore } from './store.js';
import type { UserInfo } from './user.js';

const AUTHN = 'authentication.k8s.io/v1';
const AUTHZ = 'authorization.k8s.io/v1';

export interface ReviewContext {
  store: ObjectStore;
  authn: Authenticator;
  authz: RbacAuthorizer;
  user: UserInfo;
}

const userInfoOut = (u: UserInfo): Obj => ({
  username: u.username,
  ...(u.uid ? { uid: u.uid } : {}),
  groups: u.groups,
  ...(u.extra ? { extra: u.extra } : {}),
});

const REVIEWS: Record<string, string[]> = {
  'authentication.k8s.io': ['selfsubjectreviews', 'tokenreviews'],
  'authorization.k8s.io': ['selfsubjectaccessreviews', 'subjectaccessreviews'],
};

export function isReviewRequest(a: RequestAttributes): boolean {
  if (!a.resourceRequest || a.verb !== 'create') return false;
  if (a.apiGroup === '' && a.resource === 'serviceaccounts' && a.subresource === 'token' && a.namespace !== '') return true;
  return a.subresource === '' && a.name === '' && a.namespace === '' && (REVIEWS[a.apiGroup] ?? []).includes(a.resource);
}

/** The response (status 201) for a request isReviewRequest accepted. */
export function handleReview(a: RequestAttributes, body: Obj, ctx: ReviewContext): Obj {
  if (a.resource === 'serviceaccounts') return tokenRequest(a, body, ctx);
  const kindOf = (expected: string): void => {
    if (body.kind !== undefined && body.kind !== expected) throw badRequest(`${a.resource}: expected kind ${expected}, got ${body.kind}`);
  };
  if (a.apiGroup === 'authentication.k8s.io' && a.resource === 'selfsubjectreviews') {
    kindOf('SelfSubjectReview');
    return { apiVersion: AUTHN, kind: 'SelfSubjectReview', metadata: { creationTimestamp: null }, status: { userInfo: userInfoOut(ctx.user) } };
  }
  if (a.apiGroup === 'authentication.k8s.io' && a.resource === 'tokenreviews') {
    kindOf('TokenReview');
    const token = body.spec?.token;
    if (typeof token !== 'string' || token === '')
      throw invalidError('authentication.k8s.io', 'TokenReview', '', [invalid('spec.token', '', 'token must be set')]);
    const audiences: string[] = Array.isArray(body.spec?.audiences) && body.spec.audiences.length ? body.spec.audiences : API_AUDIENCES;
    const r = ctx.authn.authenticateToken(token, audiences);
    const status = r.ok ? { authenticated: true, user: userInfoOut(r.user), audiences: r.audiences } : { user: {}, error: 'invalid bearer token' };
    return { apiVersion: AUTHN, kind: 'TokenReview', metadata: { creationTimestamp: null }, spec: body.spec, status };
  }
  if (a.apiGroup === 'authorization.k8s.io' && (a.resource === 'selfsubjectaccessreviews' || a.resource === 'subjectaccessreviews')) {
    const self = a.resource === 'selfsubjectaccessreviews';
    kindOf(self ? 'SelfSubjectAccessReview' : 'SubjectAccessReview');
    const spec = body.spec ?? {};
    const subject: UserInfo = self
      ? ctx.user
      : {
          username: spec.user ?? '',
          groups: Array.isArray(spec.groups) ? spec.groups : [],
          ...(spec.uid ? { uid: spec.uid } : {}),
          ...(spec.extra ? { extra: spec.extra } : {}),
        };
    if (!self && !subject.username && subject.groups.length === 0)
      throw invalidError('authorization.k8s.io', 'SubjectAccessReview', '', [invalid('spec.user', '', 'at least one of user or group must be specified')]);
    const ra = spec.resourceAttributes;
    const na = spec.nonResourceAttributes;
    if (!ra === !na)
      throw invalidError('authorization.k8s.io', body.kind ?? 'SubjectAccessReview', '', [
        invalid('spec.resourceAttributes', ra ?? null, 'exactly one of nonResourceAttributes or resourceAttributes must be specified'),
      ]);
    const attrs: RequestAttributes = ra
      ? {
          user: subject,
          verb: ra.verb ?? '',
          resourceRequest: true,
          path: '',
          apiGroup: ra.group ?? '',
          resource: ra.resource ?? '',
          subresource: ra.subresource ?? '',
          namespace: ra.namespace ?? '',
          name: ra.name ?? '',
        }
      : {
          user: subject,
          verb: na.verb ?? '',
          resourceRequest: false,
          path: na.path ?? '',
          apiGroup: '',
          resource: '',
          subresource: '',
          namespace: '',
          name: '',
        };
    const allowed = ctx.authz.allows(attrs);
    return {
      apiVersion: AUTHZ,
      kind: self ? 'SelfSubjectAccessReview' : 'SubjectAccessReview',
      metadata: { creationTimestamp: null },
      spec,
      status: { allowed, ...(allowed ? { reason: 'RBAC: allowed' } : {}) },
    };
  }
  throw notFound({ group: a.apiGroup, resource: a.resource }, '');
}

const MIN_EXPIRATION = 600;

function tokenRequest(a: RequestAttributes, body: Obj, ctx: ReviewContext): Obj {
  const sa = ctx.store.tryGet('serviceaccounts', a.name, a.namespace);
  if (!sa) throw notFound({ group: '', resource: 'serviceaccounts' }, a.name);
  const spec = body.spec ?? {};
  const expirationSeconds = spec.expirationSeconds ?? 3600;
  if (typeof expirationSeconds !== 'number' || expirationSeconds < MIN_EXPIRATION) {
    throw invalidError('authentication.k8s.io', 'TokenRequest', '', [
      invalid('spec.expirationSeconds', expirationSeconds, 'may not specify a duration less than 10 minutes'),
    ]);
  }
  if (expirationSeconds > 2 ** 32)
    throw invalidError('authentication.k8s.io', 'TokenRequest', '', [
      invalid('spec.expirationSeconds', expirationSeconds, 'may not specify a duration larger than 2^32 seconds'),
    ]);
  const audiences: string[] = Array.isArray(spec.audiences) && spec.audiences.length ? spec.audiences : API_AUDIENCES;
  let pod: Obj | undefined;
  let node: Obj | undefined;
  const ref = spec.boundObjectRef;
  if (ref) {
    if (ref.kind !== 'Pod') throw badRequest(`cannot bind token for ServiceAccount to a ${ref.kind ?? 'nil'}: only Pod is supported here`);
    pod = ctx.store.tryGet('pods', ref.name, a.namespace);
    if (!pod) throw notFound({ group: '', resource: 'pods' }, ref.name);
    if (ref.uid && ref.uid !== pod.metadata.uid)
      throw failure(
        409,
        'Conflict',
        `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
      );
    if ((pod.spec?.serviceAccountName ?? 'default') !== a.name)
      throw badRequest(`cannot bind token for serviceaccount "${a.name}" to pod running with different serviceaccount name.`);
    if (pod.spec?.nodeName) node = ctx.store.tryGet('nodes', pod.spec.nodeName) ?? { metadata: { name: pod.spec.nodeName, uid: '' } };
  }
  const issued = ctx.authn.issue({ sa, audiences, expirationSeconds, ...(pod ? { pod } : {}), ...(node ? { node } : {}) });
  return {
    apiVersion: AUTHN,
    kind: 'TokenRequest',
    metadata: { name: a.name, namespace: a.namespace, creationTimestamp: null },
    spec: { audiences, expirationSeconds, boundObjectRef: ref ? { kind: 'Pod', apiVersion: 'v1', name: pod!.metadata.name, uid: pod!.metadata.uid } : null },
    status: issued,
  };
}
