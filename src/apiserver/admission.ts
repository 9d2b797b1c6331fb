// Validating admission with ValidatingAdmissionPolicy, as the API server's policy plugin does it
// (k8s.io/apiserver/pkg/admission/plugin/policy/validating): after an object passed validation
// and before it is stored, every ValidatingAdmissionPolicyBinding whose policy and
// matchResources match the request is evaluated with its parameter, and the first Deny decision
// refuses the request:
//   `<resource> "<name>" is forbidden: ValidatingAdmissionPolicy '<p>' with binding '<b>'
//    denied request: <message>`, with the validation's reason (Forbidden: 403; none: Invalid, 422).
// Warn and Audit decisions do not refuse (there is no warning header or audit log here).
import {
  type AdmissionInput,
  type LabelSelector,
  type MatchResources,
  type ValidatingAdmissionPolicy,
  evaluatePolicy,
  resourceRuleMatches,
} from '../policy/vap-eval.js';
import { type ApiError, type FieldError, failure, forbiddenField, invalid, notSupported, required } from './errors.js';
import type { Obj, ResourceType } from './resource-type.js';
import { requirementsMatch, requirementsOf } from '../util/label-selector.js';
import type { UserInfo } from './user.js';

export const ADMISSION_GROUP = 'admissionregistration.k8s.io';

interface Binding {
  metadata: { name: string };
  spec: {
    policyName?: string;
    validationActions?: ('Deny' | 'Warn' | 'Audit')[];
    matchResources?: MatchResources;
    paramRef?: { name?: string; namespace?: string; selector?: LabelSelector; parameterNotFoundAction?: 'Allow' | 'Deny' };
  };
}

/** What admission reads from the store. */
export interface AdmissionReader {
  list(resource: string): Obj[];
  get(resource: string, name: string, namespace?: string): Obj | undefined;
  /** The registered type serving `apiVersion` `kind` (a paramKind). */
  typeOf(apiVersion: string, kind: string): ResourceType | undefined;
}

export interface AdmissionRequest {
  rt: ResourceType;
  operation: 'CREATE' | 'UPDATE' | 'DELETE';
  subResource?: string;
  name: string;
  namespace?: string;
  object: Obj | null;
  oldObject: Obj | null;
  user: UserInfo;
  dryRun?: boolean;
}

function selects(sel: LabelSelector | undefined, labels: Record<string, string> | undefined): boolean {
  if (!sel) return true;
  return requirementsMatch(requirementsOf(sel), labels);
}

/** matchConstraints of the policy or matchResources of the binding. */
function matches(m: MatchResources | undefined, input: AdmissionInput, req: AdmissionRequest, reader: AdmissionReader, requireRules: boolean): boolean {
  if (!m) return !requireRules;
  const namespaced = req.rt.namespaced;
  const rules = m.resourceRules;
  if (rules === undefined || rules.length === 0) {
    if (requireRules) return false;
  } else if (!rules.some((r) => resourceRuleMatches(r, input, namespaced))) return false;
  if ((m.excludeResourceRules ?? []).some((r) => resourceRuleMatches(r, input, namespaced))) return false;
  // namespaceSelector: the object's Namespace for namespaced kinds, the Namespace itself for
  // Namespaces; other cluster-scoped objects always match.
  if (m.namespaceSelector) {
    const isNamespace = req.rt.group === '' && req.rt.plural === 'namespaces';
    const ns = isNamespace ? (req.object ?? req.oldObject) : namespaced ? reader.get('namespaces', req.namespace ?? '') : undefined;
    if ((namespaced || isNamespace) && !selects(m.namespaceSelector, ns?.metadata?.labels)) return false;
  }
  if (m.objectSelector) {
    const labelsOf = (o: Obj | null): Record<string, string> | undefined => o?.metadata?.labels;
    if (!selects(m.objectSelector, labelsOf(req.object)) && !selects(m.objectSelector, labelsOf(req.oldObject))) return false;
  }
  return true;
}

function denial(req: AdmissionRequest, message: string, reason: string): ApiError {
  const gr = req.rt.group === '' ? req.rt.plural : `${req.rt.plural}.${req.rt.group}`;
  const code = ({ Forbidden: 403, Unauthorized: 401, RequestEntityTooLarge: 413 } as Record<string, number>)[reason] ?? 422;
  return failure(code, reason, `${gr} "${req.name}" is forbidden: ${message}`, {
    name: req.name,
    ...(req.rt.group !== '' ? { group: req.rt.group } : {}),
    kind: req.rt.plural,
    causes: [{ reason: '', message }],
  });
}

/** Throws the API server's refusal when a bound policy denies the request. */
export function admit(req: AdmissionRequest, reader: AdmissionReader): void {
  const bindings = reader.list(`validatingadmissionpolicybindings.${ADMISSION_GROUP}`) as unknown as Binding[];
  if (bindings.length === 0) return;
  const input: AdmissionInput = {
    operation: req.operation,
    resource: { group: req.rt.group, version: req.rt.version, resource: req.rt.plural },
    kind: { group: req.rt.group, version: req.rt.version, kind: req.rt.kind },
    ...(req.subResource ? { subResource: req.subResource } : {}),
    name: req.name,
    namespace: req.rt.namespaced ? (req.namespace ?? '') : '',
    dryRun: req.dryRun ?? false,
    object: req.object,
    oldObject: req.oldObject,
    userInfo: { username: req.user.username, uid: req.user.uid ?? '', groups: req.user.groups, ...(req.user.extra ? { extra: req.user.extra } : {}) },
    namespaceObject: req.rt.namespaced ? (reader.get('namespaces', req.namespace ?? '') ?? null) : null,
  };
  const sorted = [...bindings].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  for (const binding of sorted) {
    const policy = reader.get(`validatingadmissionpolicies.${ADMISSION_GROUP}`, binding.spec.policyName ?? '') as unknown as
      | ValidatingAdmissionPolicy
      | undefined;
    if (!policy) continue;
    if (!matches(policy.spec.matchConstraints, input, req, reader, true)) continue;
    if (binding.spec.matchResources && !matches(binding.spec.matchResources, input, req, reader, false)) continue;
    const actions = binding.spec.validationActions ?? [];
    const deny = actions.includes('Deny');
    const prefix = `ValidatingAdmissionPolicy '${policy.metadata.name}' with binding '${binding.metadata.name}' denied request: `;
    const failClosed = (policy.spec.failurePolicy ?? 'Fail') === 'Fail';
    let paramSets: (Obj | null)[] = [null];
    if (policy.spec.paramKind) {
      const ref = binding.spec.paramRef;
      const pt = reader.typeOf(policy.spec.paramKind.apiVersion, policy.spec.paramKind.kind);
      if (!ref || !pt) {
        // A policy with paramKind cannot be evaluated without its parameter's type or reference.
        if (failClosed && deny)
          throw denial(
            req,
            `${prefix}failed to configure binding: ${!ref ? 'paramRef is required when paramKind is set' : `paramKind kind ${policy.spec.paramKind.kind} not found`}`,
            'Invalid',
          );
        continue;
      }
      const ns = pt.namespaced ? (ref.namespace ?? req.namespace ?? '') : undefined;
      const key = pt.group === '' ? pt.plural : `${pt.plural}.${pt.group}`;
      if (ref.name) {
        const p = reader.get(key, ref.name, ns);
        paramSets = p ? [p] : [];
      } else {
        paramSets = reader.list(key).filter((o) => (ns === undefined || o.metadata?.namespace === ns) && selects(ref.selector ?? {}, o.metadata?.labels));
      }
      if (paramSets.length === 0) {
        if ((ref.parameterNotFoundAction ?? 'Deny') === 'Deny' && deny)
          throw denial(req, `${prefix}failed to configure binding: no params found for policy binding with \`Deny\` parameterNotFoundAction`, 'Invalid');
        continue;
      }
    }
    for (const params of paramSets) {
      const v = evaluatePolicy(policy, { ...input, params });
      if (v.allowed || !deny) continue;
      const message = v.messages[0] ?? v.errors[0] ?? 'denied';
      throw denial(req, prefix + message, v.messages.length > 0 ? v.reason || 'Invalid' : 'Invalid');
    }
  }
}

// ---------------- the two kinds ----------------

function validatePolicy(o: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const s = o.spec ?? {};
  if (s.failurePolicy !== undefined && !['Fail', 'Ignore'].includes(s.failurePolicy))
    errs.push(notSupported('spec.failurePolicy', s.failurePolicy, ['Fail', 'Ignore']));
  if (!s.matchConstraints) errs.push(required('spec.matchConstraints'));
  else if (!Array.isArray(s.matchConstraints.resourceRules) || s.matchConstraints.resourceRules.length === 0)
    errs.push(required('spec.matchConstraints.resourceRules'));
  const validations: Obj[] = Array.isArray(s.validations) ? s.validations : [];
  const audit: Obj[] = Array.isArray(s.auditAnnotations) ? s.auditAnnotations : [];
  if (validations.length === 0 && audit.length === 0) errs.push(required('spec.validations', 'validations or auditAnnotations must contain at least one item'));
  validations.forEach((v, i) => {
    if (typeof v?.expression !== 'string' || v.expression.trim() === '') errs.push(required(`spec.validations[${i}].expression`));
  });
  return errs;
}

function validateBinding(o: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const s = o.spec ?? {};
  if (typeof s.policyName !== 'string' || s.policyName === '') errs.push(required('spec.policyName'));
  const actions: unknown[] = Array.isArray(s.validationActions) ? s.validationActions : [];
  if (actions.length === 0) errs.push(required('spec.validationActions'));
  actions.forEach((a, i) => {
    if (!['Deny', 'Warn', 'Audit'].includes(String(a))) errs.push(notSupported(`spec.validationActions[${i}]`, a, ['Audit', 'Deny', 'Warn']));
  });
  if (actions.includes('Deny') && actions.includes('Warn'))
    errs.push(
      invalid(
        'spec.validationActions',
        actions,
        'must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)',
      ),
    );
  const ref = s.paramRef;
  if (ref) {
    if ((ref.name === undefined) === (ref.selector === undefined)) errs.push(forbiddenField('spec.paramRef.name', 'name and selector are mutually exclusive'));
    if (ref.parameterNotFoundAction === undefined) errs.push(required('spec.paramRef.parameterNotFoundAction'));
    else if (!['Allow', 'Deny'].includes(ref.parameterNotFoundAction))
      errs.push(notSupported('spec.paramRef.parameterNotFoundAction', ref.parameterNotFoundAction, ['Allow', 'Deny']));
  }
  return errs;
}

const admissionType = (plural: string, kind: string, statusSubresource: boolean, validate: (o: Obj) => FieldError[]): ResourceType => ({
  group: ADMISSION_GROUP,
  version: 'v1',
  plural,
  singular: plural.slice(0, -1).replace(/ie$/, 'y'),
  kind,
  namespaced: false,
  statusSubresource,
  custom: false,
  generation: true,
  nameRule: 'subdomain',
  patch: { mergeKeys: { 'metadata.ownerReferences': 'uid' }, primitiveMerge: new Set(['metadata.finalizers']) },
  returnDeletedObject: false,
  defaults: (o) => {
    if (kind === 'ValidatingAdmissionPolicy' && o.spec) {
      o.spec.failurePolicy ??= 'Fail';
      if (o.spec.matchConstraints) {
        o.spec.matchConstraints.matchPolicy ??= 'Equivalent';
        o.spec.matchConstraints.namespaceSelector ??= {};
        o.spec.matchConstraints.objectSelector ??= {};
      }
    }
  },
  validate,
});

/** admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding. */
export function admissionResources(): ResourceType[] {
  return [
    admissionType('validatingadmissionpolicies', 'ValidatingAdmissionPolicy', true, validatePolicy),
    admissionType('validatingadmissionpolicybindings', 'ValidatingAdmissionPolicyBinding', false, validateBinding),
  ];
}
