// RBAC as the real authorizer evaluates it (k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac):
// the `system:masters` group is allowed everything (it is checked before RBAC, as the real
// server's privileged-group authorizer does); otherwise a request is allowed when a rule of a
// role bound to the user, one of its groups or its ServiceAccount covers it. No aggregation.
import { type ApiError, failure, type FieldError, invalid, required } from './errors.js';
import type { Obj, ResourceType } from './resource-type.js';
import type { ObjectStore } from './store.js';
import type { UserInfo } from './user.js';

export const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** What the real RequestInfo resolver makes of a request. */
export interface RequestAttributes {
  user: UserInfo;
  verb: string;
  resourceRequest: boolean;
  /** Non-resource requests: the URL path. */
  path: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

interface PolicyRule {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

interface Subject {
  kind: string;
  name: string;
  namespace?: string;
}

function validateRules(o: Obj): FieldError[] {
  const errs: FieldError[] = [];
  (Array.isArray(o.rules) ? o.rules : []).forEach((r: PolicyRule, i: number) => {
    if (!Array.isArray(r.verbs) || r.verbs.length === 0) errs.push(required(`rules[${i}].verbs`, 'verbs must contain at least one value'));
    const nonResource = Array.isArray(r.nonResourceURLs) && r.nonResourceURLs.length > 0;
    if (nonResource && o.metadata?.namespace)
      errs.push(invalid(`rules[${i}].nonResourceURLs`, r.nonResourceURLs, 'namespaced rules cannot apply to non-resource URLs'));
    if (!nonResource && (!Array.isArray(r.apiGroups) || r.apiGroups.length === 0))
      errs.push(required(`rules[${i}].apiGroups`, 'resource rules must supply at least one api group'));
    if (!nonResource && (!Array.isArray(r.resources) || r.resources.length === 0))
      errs.push(required(`rules[${i}].resources`, 'resource rules must supply at least one resource'));
  });
  return errs;
}

function validateBinding(o: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const ref = o.roleRef ?? {};
  if (ref.apiGroup !== RBAC_GROUP) errs.push(invalid('roleRef.apiGroup', ref.apiGroup ?? '', `must be ${RBAC_GROUP}`));
  const kinds = o.metadata?.namespace ? ['Role', 'ClusterRole'] : ['ClusterRole'];
  if (!kinds.includes(ref.kind))
    errs.push({
      type: 'FieldValueNotSupported',
      field: 'roleRef.kind',
      value: ref.kind ?? '',
      detail: `supported values: ${kinds.map((k) => `"${k}"`).join(', ')}`,
    });
  if (!ref.name) errs.push(required('roleRef.name'));
  (Array.isArray(o.subjects) ? o.subjects : []).forEach((s: Subject, i: number) => {
    if (!s?.name) errs.push(required(`subjects[${i}].name`));
    if (!['User', 'Group', 'ServiceAccount'].includes(s?.kind))
      errs.push({
        type: 'FieldValueNotSupported',
        field: `subjects[${i}].kind`,
        value: s?.kind ?? '',
        detail: 'supported values: "ServiceAccount", "User", "Group"',
      });
    if (s?.kind === 'ServiceAccount' && !s.namespace && !o.metadata?.namespace) errs.push(required(`subjects[${i}].namespace`));
  });
  return errs;
}

const rbacType = (plural: string, singular: string, kind: string, namespaced: boolean, binding: boolean): ResourceType => ({
  group: RBAC_GROUP,
  version: 'v1',
  plural,
  singular,
  kind,
  namespaced,
  statusSubresource: false,
  custom: false,
  generation: false,
  nameRule: 'path',
  patch: { mergeKeys: { 'metadata.ownerReferences': 'uid' }, primitiveMerge: new Set(['metadata.finalizers']) },
  returnDeletedObject: false,
  validate: binding ? validateBinding : validateRules,
  ...(binding
    ? {
        validateUpdate: (o: Obj, old: Obj) =>
          JSON.stringify(o.roleRef) !== JSON.stringify(old.roleRef) ? [invalid('roleRef', o.roleRef, 'cannot change roleRef')] : [],
      }
    : {}),
});

export function rbacResources(): ResourceType[] {
  return [
    rbacType('clusterroles', 'clusterrole', 'ClusterRole', false, false),
    rbacType('clusterrolebindings', 'clusterrolebinding', 'ClusterRoleBinding', false, true),
    rbacType('roles', 'role', 'Role', true, false),
    rbacType('rolebindings', 'rolebinding', 'RoleBinding', true, true),
  ];
}

const BOOTSTRAP_LABELS = { 'kubernetes.io/bootstrapping': 'rbac-defaults' };

/** The default roles every cluster has that decide what anonymous and plain authenticated users may do. */
export function bootstrapPolicy(): Array<{ resource: string; body: Obj }> {
  const role = (name: string, rules: PolicyRule[]): { resource: string; body: Obj } => ({
    resource: 'clusterroles',
    body: { metadata: { name, labels: BOOTSTRAP_LABELS }, rules },
  });
  const bind = (name: string, groups: string[]): { resource: string; body: Obj } => ({
    resource: 'clusterrolebindings',
    body: {
      metadata: { name, labels: BOOTSTRAP_LABELS },
      roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name },
      subjects: groups.map((g) => ({ apiGroup: RBAC_GROUP, kind: 'Group', name: g })),
    },
  });
  return [
    role('cluster-admin', [
      { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
      { nonResourceURLs: ['*'], verbs: ['*'] },
    ]),
    bind('cluster-admin', ['system:masters']),
    role('system:discovery', [
      {
        nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'],
        verbs: ['get'],
      },
    ]),
    bind('system:discovery', ['system:authenticated']),
    role('system:basic-user', [
      { apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'], verbs: ['create'] },
      { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create'] },
    ]),
    bind('system:basic-user', ['system:authenticated']),
    role('system:public-info-viewer', [{ nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'], verbs: ['get'] }]),
    bind('system:public-info-viewer', ['system:authenticated', 'system:unauthenticated']),
  ];
}

const has = (list: string[] | undefined, v: string): boolean => Array.isArray(list) && (list.includes('*') || list.includes(v));

function resourceMatches(rule: PolicyRule, a: RequestAttributes): boolean {
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    if (a.subresource && r === `*/${a.subresource}`) return true;
  }
  return false;
}

function nonResourceMatches(rule: PolicyRule, path: string): boolean {
  return (rule.nonResourceURLs ?? []).some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1))));
}

export function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (!a.resourceRequest) return nonResourceMatches(rule, a.path);
  if (!has(rule.apiGroups, a.apiGroup) || !resourceMatches(rule, a)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (a.name !== '' && names.includes(a.name));
}

function subjectMatches(s: Subject, user: UserInfo, bindingNamespace: string): boolean {
  switch (s.kind) {
    case 'User':
      return s.name === user.username;
    case 'Group':
      return user.groups.includes(s.name);
    case 'ServiceAccount':
      return user.username === `system:serviceaccount:${s.namespace || bindingNamespace}:${s.name}`;
    default:
      return false;
  }
}

export class RbacAuthorizer {
  readonly #store: ObjectStore;

  constructor(store: ObjectStore) {
    this.#store = store;
  }

  allows(a: RequestAttributes): boolean {
    if (a.user.groups.includes('system:masters')) return true;
    const rulesOf = (ref: Obj, ns: string): PolicyRule[] => {
      const role =
        ref.kind === 'ClusterRole' ? this.#store.tryGet(`clusterroles.${RBAC_GROUP}`, ref.name) : this.#store.tryGet(`roles.${RBAC_GROUP}`, ref.name, ns);
      return Array.isArray(role?.rules) ? role.rules : [];
    };
    const allowedBy = (bindings: readonly Obj[], ns: string): boolean =>
      bindings.some((b) => (b.subjects ?? []).some((s: Subject) => subjectMatches(s, a.user, ns)) && rulesOf(b.roleRef, ns).some((r) => ruleAllows(r, a)));
    if (allowedBy(this.#store.scan(`clusterrolebindings.${RBAC_GROUP}`), '')) return true;
    if (a.namespace === '') return false;
    return allowedBy(this.#store.scan(`rolebindings.${RBAC_GROUP}`, { namespace: a.namespace }), a.namespace);
  }
}

/** The 403 the real server sends (errors.NewForbidden around the authorizer's decision). */
export function forbiddenFor(a: RequestAttributes): ApiError {
  const who = `User "${a.user.username}"`;
  if (!a.resourceRequest) return failure(403, 'Forbidden', `forbidden: ${who} cannot ${a.verb} path "${a.path}"`, {});
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  const why = `${who} cannot ${a.verb} resource "${combined}" in API group "${a.apiGroup}" ${scope}`;
  const gr = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  const details = { ...(a.name ? { name: a.name } : {}), ...(a.apiGroup ? { group: a.apiGroup } : {}), kind: a.resource };
  return failure(403, 'Forbidden', a.name ? `${gr} "${a.name}" is forbidden: ${why}` : `${gr} is forbidden: ${why}`, details);
}
