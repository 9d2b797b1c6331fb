// Evaluates a ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1) the way the API server
// does: matchConstraints (resource rules), matchConditions, variables (lazy, in order, each
// evaluated at most once), validations with message/messageExpression, and failurePolicy for
// evaluation errors. The in-process API server (src/apiserver/admission.ts) runs it on every
// write a binding matches; the tests also call it directly. The CEL comes from
// @marcbachmann/cel-js.
//
// Deliberate limits: no type checking against OpenAPI schemas (variables are dyn), no cost
// budget, no `authorizer`, no auditAnnotations.
import { Environment } from '@marcbachmann/cel-js';

export interface ValidatingAdmissionPolicy {
  apiVersion: string;
  kind: 'ValidatingAdmissionPolicy';
  metadata: { name: string };
  spec: {
    failurePolicy?: 'Fail' | 'Ignore';
    paramKind?: { apiVersion: string; kind: string };
    matchConstraints?: MatchResources;
    matchConditions?: { name: string; expression: string }[];
    variables?: { name: string; expression: string }[];
    validations?: Validation[];
  };
}

export interface ResourceRule {
  apiGroups?: string[];
  apiVersions?: string[];
  operations?: string[];
  resources?: string[];
  resourceNames?: string[];
  scope?: 'Cluster' | 'Namespaced' | '*';
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface MatchResources {
  resourceRules?: ResourceRule[];
  excludeResourceRules?: ResourceRule[];
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  matchPolicy?: 'Exact' | 'Equivalent';
}

interface Validation {
  expression: string;
  message?: string;
  messageExpression?: string;
  reason?: string;
}

export interface AdmissionInput {
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  resource: { group: string; version: string; resource: string };
  /** The kind of the object (request.kind); defaults to empty strings. */
  kind?: { group: string; version: string; kind: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  dryRun?: boolean;
  object: unknown;
  oldObject?: unknown;
  userInfo: { username: string; groups?: string[]; uid?: string; extra?: Record<string, string[]> };
  params?: unknown;
  /** The Namespace of a namespaced object (namespaceObject); null for cluster-scoped ones. */
  namespaceObject?: unknown;
}

export type Verdict = { allowed: true; matched: boolean } | { allowed: false; matched: true; reason: string; messages: string[]; errors: string[] };

const env = new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false });

/** Each expression parsed once, as the API server compiles a policy once, not on every request it admits. */
const compiled = new Map<string, (ctx: Record<string, unknown>) => unknown>();
function evaluate(expression: string, ctx: Record<string, unknown>): unknown {
  let fn = compiled.get(expression);
  if (!fn) {
    fn = env.parse(expression) as (ctx: Record<string, unknown>) => unknown;
    // Policies hold a few dozen expressions; the bound only keeps a stream of ad-hoc ones from growing it.
    if (compiled.size >= 1000) compiled.clear();
    compiled.set(expression, fn);
  }
  return fn(ctx);
}

/** Whether `expression` parses and type-checks (with every input dyn). Throws the library's error otherwise. */
export function checkExpression(expression: string): void {
  const r = env.check(expression);
  if (!r.valid) throw r.error ?? new Error(`invalid CEL: ${expression}`);
}

/** Every CEL expression of the policy, with where it sits (for "each one compiles" tests). */
export function policyExpressions(p: ValidatingAdmissionPolicy): { where: string; expression: string }[] {
  const out: { where: string; expression: string }[] = [];
  for (const m of p.spec.matchConditions ?? []) out.push({ where: `matchConditions[${m.name}]`, expression: m.expression });
  for (const v of p.spec.variables ?? []) out.push({ where: `variables[${v.name}]`, expression: v.expression });
  (p.spec.validations ?? []).forEach((v, i) => {
    out.push({ where: `validations[${i}].expression`, expression: v.expression });
    if (v.messageExpression) out.push({ where: `validations[${i}].messageExpression`, expression: v.messageExpression });
  });
  return out;
}

/**
 * One rule of resourceRules/excludeResourceRules, as k8s.io/apiserver's rules.Matcher reads it:
 * `*` is every resource but no subresource, `pods/*` pods and all its subresources, `*\/*`
 * everything; an empty resourceNames list names every object.
 */
export function resourceRuleMatches(r: ResourceRule, input: AdmissionInput, namespaced: boolean): boolean {
  const any = (list: string[] | undefined, v: string): boolean => (list ?? []).some((x) => x === '*' || x === v);
  if (!any(r.apiGroups, input.resource.group) || !any(r.apiVersions, input.resource.version) || !any(r.operations, input.operation)) return false;
  const sub = input.subResource ?? '';
  const resourceOk = (r.resources ?? []).some((x) => {
    const [res, s = ''] = x.split('/', 2) as [string, string?];
    return (res === '*' || res === input.resource.resource) && (s === '*' || s === sub);
  });
  if (!resourceOk) return false;
  if (r.resourceNames && r.resourceNames.length > 0 && !r.resourceNames.includes(input.name ?? '')) return false;
  const scope = r.scope ?? '*';
  return scope === '*' || (scope === 'Namespaced') === namespaced;
}

function ruleMatches(rules: ResourceRule[] | undefined, input: AdmissionInput): boolean {
  return (rules ?? []).some((r) => resourceRuleMatches(r, input, (input.namespace ?? '') !== ''));
}

/** JSON numbers become CEL ints (bigint) when integral, as the API server's unstructured conversion does. */
function toCel(v: unknown): unknown {
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(toCel);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toCel(x)]));
  return v;
}

export function evaluatePolicy(policy: ValidatingAdmissionPolicy, input: AdmissionInput): Verdict {
  if (!ruleMatches(policy.spec.matchConstraints?.resourceRules, input)) return { allowed: true, matched: false };
  const failClosed = (policy.spec.failurePolicy ?? 'Fail') === 'Fail';
  const request = {
    operation: input.operation,
    kind: input.kind ?? { group: '', version: '', kind: '' },
    resource: input.resource,
    subResource: input.subResource ?? '',
    name: input.name ?? '',
    namespace: input.namespace ?? '',
    dryRun: input.dryRun ?? false,
    userInfo: {
      username: input.userInfo.username,
      uid: input.userInfo.uid ?? '',
      ...(input.userInfo.groups ? { groups: input.userInfo.groups } : {}),
      ...(input.userInfo.extra ? { extra: input.userInfo.extra } : {}),
    },
  };
  const variables: Record<string, unknown> = {};
  const ctx: Record<string, unknown> = {
    object: input.operation === 'DELETE' ? null : toCel(input.object),
    oldObject: input.operation === 'CREATE' ? null : toCel(input.oldObject ?? null),
    params: policy.spec.paramKind ? toCel(input.params ?? null) : null,
    request: toCel(request),
    namespaceObject: toCel(input.namespaceObject ?? null),
    variables,
  };
  // Lazy, memoised variables: an unused variable that would fail does not fail the request.
  for (const v of policy.spec.variables ?? []) {
    let state: { done: true; value: unknown } | { done: true; error: unknown } | { done: false } = { done: false };
    Object.defineProperty(variables, v.name, {
      enumerable: true,
      get() {
        if (!state.done) {
          try {
            state = { done: true, value: evaluate(v.expression, ctx) };
          } catch (error) {
            state = { done: true, error };
          }
        }
        if ('error' in state) throw state.error;
        return state.value;
      },
    });
  }
  const errors: string[] = [];
  const evalBool = (where: string, expression: string): boolean | undefined => {
    try {
      const r = evaluate(expression, ctx);
      if (typeof r !== 'boolean') throw new Error(`${where}: expected bool, got ${typeof r}`);
      return r;
    } catch (err) {
      errors.push(`${where}: ${(err as Error).message}`);
      return undefined;
    }
  };
  for (const m of policy.spec.matchConditions ?? []) {
    const r = evalBool(`matchConditions[${m.name}]`, m.expression);
    if (r === false) return { allowed: true, matched: false };
  }
  if (errors.length > 0) {
    return failClosed ? { allowed: false, matched: true, reason: 'InternalError', messages: [], errors } : { allowed: true, matched: true };
  }
  const messages: string[] = [];
  let reason = '';
  (policy.spec.validations ?? []).forEach((v, i) => {
    const r = evalBool(`validations[${i}]`, v.expression);
    if (r !== false) return;
    reason ||= v.reason ?? 'Invalid';
    let msg = v.message ?? `failed expression: ${v.expression}`;
    if (v.messageExpression) {
      try {
        const m = evaluate(v.messageExpression, ctx);
        // The API server falls back to message when messageExpression fails or yields an empty string.
        if (typeof m === 'string' && m.trim() !== '') msg = m;
        else errors.push(`validations[${i}].messageExpression: not a non-empty string`);
      } catch (err) {
        errors.push(`validations[${i}].messageExpression: ${(err as Error).message}`);
      }
    }
    messages.push(msg);
  });
  const evalErrors = errors.filter((e) => !e.includes('messageExpression'));
  if (messages.length > 0) return { allowed: false, matched: true, reason, messages, errors };
  if (evalErrors.length > 0 && failClosed) return { allowed: false, matched: true, reason: 'InternalError', messages: [], errors };
  return { allowed: true, matched: true };
}
