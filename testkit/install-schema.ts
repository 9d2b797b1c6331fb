// Checks podlb objects and CRDs the way a cluster would, for tests that have no API server:
//   - validateAgainstCrds(obj) runs the in-process API server's own CRD schema code
//     (src/apiserver/schema.ts: pruning, defaults, kube-openapi validation with Kubernetes'
//     formats, list-type set/map uniqueness, x-kubernetes-validations in real CEL) plus the
//     ObjectMeta checks of the generic registry, so one validator decides for the server and
//     for these tests. The messages are the API server's field errors.
//   - unknown fields are errors here, as with kubectl's default --validate=strict (the API
//     server itself prunes them silently, which hides typos).
//   - structuralProblems(schema) lints a CRD schema: what makes it non-structural (the API
//     server refuses such a v1 CRD) plus podlb's size policy.
import { fieldErrorText } from '../src/apiserver/errors.js';
import { type Crd, type CrdVersion, isObj, loadCrds } from '../src/apiserver/crds.js';
import { StructuralSchema } from '../src/apiserver/schema.js';
import { validateObjectMeta } from '../src/apiserver/validation.js';

export { CRD_DIR, type Crd, type CrdVersion, isObj, loadCrds, loadYamlDocs, repoRoot } from '../src/apiserver/crds.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = Record<string, unknown>;

export interface CelRule {
  rule: string;
  message?: string;
  /** Dotted schema path of the node carrying the rule ('' = root). */
  at: string;
}

/** Every x-kubernetes-validations rule of a schema, with where it sits. */
export function celRulesIn(schema: unknown, at = ''): CelRule[] {
  if (!isObj(schema)) return [];
  const out: CelRule[] = [];
  const rules = schema['x-kubernetes-validations'];
  if (Array.isArray(rules)) {
    for (const r of rules) if (isObj(r)) out.push({ rule: String(r.rule), ...(typeof r.message === 'string' ? { message: r.message } : {}), at });
  }
  if (isObj(schema.properties)) for (const [k, v] of Object.entries(schema.properties)) out.push(...celRulesIn(v, at ? `${at}.${k}` : k));
  if (isObj(schema.items)) out.push(...celRulesIn(schema.items, `${at}[]`));
  if (isObj(schema.additionalProperties)) out.push(...celRulesIn(schema.additionalProperties, `${at}{}`));
  return out;
}

// ---- structural schema checks ----

const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);
/** The fields of apiextensions.k8s.io/v1 JSONSchemaProps: anything else is rejected by the API server. */
const SCHEMA_KEYS = new Set([
  'description',
  'type',
  'format',
  'title',
  'default',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'multipleOf',
  'enum',
  'maxProperties',
  'minProperties',
  'required',
  'items',
  'allOf',
  'oneOf',
  'anyOf',
  'not',
  'properties',
  'additionalProperties',
  'nullable',
  'example',
  'externalDocs',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-list-type',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);
/** JSONSchemaProps fields Kubernetes refuses in CRDs (v1), or that podlb does not want. */
const FORBIDDEN_KEYS = ['$ref', '$schema', 'id', 'definitions', 'dependencies', 'patternProperties', 'additionalItems'];
/** What may not appear inside allOf/anyOf/oneOf/not (value validations only). */
const NOT_IN_JUNCTORS = [
  'type',
  'description',
  'default',
  'additionalProperties',
  'nullable',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-int-or-string',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
];
const JUNCTORS = ['allOf', 'anyOf', 'oneOf', 'not'] as const;

/**
 * Problems that make a CRD schema non-structural (Kubernetes rejects such a v1 CRD), plus
 * podlb's size policy: every array has maxItems, every string maxLength or enum, every map
 * maxProperties, so that objects stay small and CEL cost estimates stay bounded.
 * Empty = fine.
 */
export function structuralProblems(root: unknown): string[] {
  const problems: string[] = [];
  if (!isObj(root)) return ['<root>: schema must be an object'];
  if (root.type !== 'object') problems.push('<root>: type must be object');
  const meta = isObj(root.properties) ? root.properties.metadata : undefined;
  if (meta !== undefined && !(isObj(meta) && Object.keys(meta).every((k) => k === 'type') && meta.type === 'object')) {
    problems.push('metadata: only {type: object} is allowed (restrictions on name/generateName aside, which podlb does not use)');
  }
  walkStructural(root, '', problems);
  return problems;
}

function walkStructural(s: Obj, path: string, problems: string[]): void {
  const p = path || '<root>';
  for (const k of Object.keys(s)) if (!SCHEMA_KEYS.has(k)) problems.push(`${p}: unknown schema field ${k}`);
  for (const k of FORBIDDEN_KEYS) if (k in s) problems.push(`${p}: ${k} is not allowed`);
  if (s.uniqueItems === true) problems.push(`${p}: uniqueItems: true is not allowed (use x-kubernetes-list-type: set)`);
  const typeExempt = s['x-kubernetes-int-or-string'] === true || s['x-kubernetes-preserve-unknown-fields'] === true;
  if (!typeExempt) {
    if (typeof s.type !== 'string' || !TYPES.has(s.type)) problems.push(`${p}: type must be one of ${[...TYPES].join(', ')}`);
  }
  if ('properties' in s && 'additionalProperties' in s) problems.push(`${p}: properties and additionalProperties are mutually exclusive`);
  if ('additionalProperties' in s && !isObj(s.additionalProperties)) problems.push(`${p}: additionalProperties must be a schema, not a boolean`);
  if ((s.properties !== undefined || s.additionalProperties !== undefined || s.required !== undefined) && s.type !== 'object') {
    problems.push(`${p}: properties/additionalProperties/required need type object`);
  }
  if (Array.isArray(s.required)) {
    for (const r of s.required)
      if (!isObj(s.properties) || !(String(r) in s.properties)) problems.push(`${p}: required field ${String(r)} is not in properties`);
  }
  if (s.type === 'array') {
    if (!isObj(s.items)) problems.push(`${p}: an array needs items, a single schema`);
    if (typeof s.maxItems !== 'number') problems.push(`${p}: an array needs maxItems (size policy)`);
  }
  if (s.items !== undefined && s.type !== 'array') problems.push(`${p}: items needs type array`);
  const typeMeta = path === 'apiVersion' || path === 'kind'; // TypeMeta: the API server checks these
  if (s.type === 'string' && !typeMeta && typeof s.maxLength !== 'number' && !Array.isArray(s.enum))
    problems.push(`${p}: a string needs maxLength or enum (size policy)`);
  if (isObj(s.additionalProperties) && typeof s.maxProperties !== 'number') problems.push(`${p}: a map needs maxProperties (size policy)`);
  const lt = s['x-kubernetes-list-type'];
  if (lt !== undefined) {
    if (s.type !== 'array') problems.push(`${p}: x-kubernetes-list-type needs type array`);
    if (!['atomic', 'set', 'map'].includes(String(lt))) problems.push(`${p}: x-kubernetes-list-type must be atomic, set or map`);
    const items = isObj(s.items) ? s.items : {};
    if (lt === 'set' && !['string', 'integer', 'number', 'boolean'].includes(String(items.type))) problems.push(`${p}: list-type set needs scalar items`);
    if (lt === 'map') {
      const keys = s['x-kubernetes-list-map-keys'];
      if (!Array.isArray(keys) || keys.length === 0) problems.push(`${p}: list-type map needs x-kubernetes-list-map-keys`);
      else {
        const req = Array.isArray(items.required) ? items.required.map(String) : [];
        for (const k of keys) {
          const ks = isObj(items.properties) ? items.properties[String(k)] : undefined;
          if (!isObj(ks)) problems.push(`${p}: list map key ${String(k)} is not a property of the items`);
          else if (!['string', 'integer', 'number', 'boolean'].includes(String(ks.type))) problems.push(`${p}: list map key ${String(k)} must be a scalar`);
          else if (!req.includes(String(k)) && ks.default === undefined) problems.push(`${p}: list map key ${String(k)} must be required or defaulted`);
        }
      }
    }
  } else if ('x-kubernetes-list-map-keys' in s) problems.push(`${p}: x-kubernetes-list-map-keys needs x-kubernetes-list-type: map`);
  const rules = s['x-kubernetes-validations'];
  if (rules !== undefined) {
    if (!Array.isArray(rules)) problems.push(`${p}: x-kubernetes-validations must be a list`);
    else
      for (const r of rules)
        if (!isObj(r) || typeof r.rule !== 'string' || typeof r.message !== 'string')
          problems.push(`${p}: every x-kubernetes-validations entry needs rule and message`);
  }
  for (const j of JUNCTORS) {
    const subs = j === 'not' ? (s.not === undefined ? [] : [s.not]) : s[j] === undefined ? [] : s[j];
    if (!Array.isArray(subs)) {
      problems.push(`${p}: ${j} must be a list`);
      continue;
    }
    for (const [i, sub] of subs.entries()) walkJunctor(sub, s, `${p}.${j}[${i}]`, problems);
  }
  if (isObj(s.properties))
    for (const [k, v] of Object.entries(s.properties)) {
      if (isObj(v)) walkStructural(v, path ? `${path}.${k}` : k, problems);
      else problems.push(`${path ? `${path}.${k}` : k}: must be a schema`);
    }
  if (isObj(s.items)) walkStructural(s.items, `${path}[]`, problems);
  if (isObj(s.additionalProperties)) walkStructural(s.additionalProperties, `${path}{}`, problems);
}

/** Inside allOf/anyOf/oneOf/not: value validations only, on fields the outer schema declares. */
function walkJunctor(sub: unknown, outer: Obj, p: string, problems: string[]): void {
  if (!isObj(sub)) {
    problems.push(`${p}: must be a schema`);
    return;
  }
  for (const k of Object.keys(sub)) if (!SCHEMA_KEYS.has(k)) problems.push(`${p}: unknown schema field ${k}`);
  for (const k of NOT_IN_JUNCTORS) if (k in sub) problems.push(`${p}: ${k} is not allowed inside a junctor`);
  if (isObj(sub.properties)) {
    for (const [k, v] of Object.entries(sub.properties)) {
      const o = isObj(outer.properties) ? outer.properties[k] : undefined;
      if (!isObj(o)) problems.push(`${p}.properties.${k}: not declared outside the junctor`);
      else walkJunctor(v, o, `${p}.${k}`, problems);
    }
  }
  if (sub.items !== undefined) {
    if (!isObj(outer.items)) problems.push(`${p}.items: not declared outside the junctor`);
    else walkJunctor(sub.items, outer.items, `${p}[]`, problems);
  }
  for (const j of JUNCTORS) {
    const subs = j === 'not' ? (sub.not === undefined ? [] : [sub.not]) : sub[j] === undefined ? [] : sub[j];
    if (Array.isArray(subs)) for (const [i, x] of subs.entries()) walkJunctor(x, outer, `${p}.${j}[${i}]`, problems);
  }
}

// ---- validation ----

interface Compiled {
  crd: Crd;
  version: CrdVersion;
  schema: StructuralSchema;
}

let compiled: Map<string, Compiled> | undefined;
const compiledSets = new WeakMap<readonly Crd[], Map<string, Compiled>>();

function compile(crds: readonly Crd[]): Map<string, Compiled> {
  const m = new Map<string, Compiled>();
  for (const crd of crds) {
    for (const version of crd.spec.versions) {
      if (!version.served) continue;
      m.set(`${crd.spec.group}/${version.name}|${crd.spec.names.kind}`, { crd, version, schema: new StructuralSchema(version.schema.openAPIV3Schema) });
    }
  }
  return m;
}

function registry(crds?: readonly Crd[]): Map<string, Compiled> {
  if (crds) {
    const have = compiledSets.get(crds);
    if (have) return have;
    const m = compile(crds);
    compiledSets.set(crds, m);
    return m;
  }
  compiled ??= compile(loadCrds());
  return compiled;
}

/** The CRD (and version) serving this object's apiVersion and kind, if podlb has one. */
export function crdFor(obj: unknown): { crd: Crd; version: CrdVersion } | undefined {
  if (!isObj(obj)) return undefined;
  const c = registry().get(`${String(obj.apiVersion)}|${String(obj.kind)}`);
  return c && { crd: c.crd, version: c.version };
}

/** True when obj is of a kind podlb defines (so validateAgainstCrds applies to it). */
export function hasCrdFor(obj: unknown): boolean {
  return crdFor(obj) !== undefined;
}

/**
 * Validates a podlb object (PodAddressPool, BGPPeer, LoadBalancerClass, PodLBNode) against its
 * CRD as a create would; `crds` instead of podlb's own for another project's CRDs (Calico's).
 * Returns the problems as the API server words them
 * (`spec.cidrs[0]: Invalid value: ...`); empty when the object is valid. Objects of other kinds
 * get one error: filter with hasCrdFor() first when mixing kinds.
 */
export function validateAgainstCrds(obj: unknown, crds?: readonly Crd[]): string[] {
  if (!isObj(obj)) return ['<root>: must be an object'];
  const c = registry(crds).get(`${String(obj.apiVersion)}|${String(obj.kind)}`);
  if (!c) return [`<root>: no ${crds ? 'given' : 'podlb'} CRD serves apiVersion ${JSON.stringify(obj.apiVersion)} kind ${JSON.stringify(obj.kind)}`];
  const o = structuredClone(obj);
  const unknown = c.schema.unknownFields(o).map((f) => `${f}: unknown field`);
  c.schema.prepare(o);
  const meta = isObj(o.metadata) ? o.metadata : {};
  const errs = [...validateObjectMeta(meta, 'subdomain', c.crd.spec.scope === 'Namespaced'), ...c.schema.validate(o)];
  // The server's "some validation rules were not checked" note names no problem of its own.
  return [...unknown, ...errs.filter((e) => e.field !== '<nil>').map(fieldErrorText)];
}
