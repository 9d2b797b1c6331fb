// A CustomResourceDefinition's structural schema applied as k8s.io/apiextensions-apiserver does
// on every write of the resource and of its /status: unknown fields are pruned silently,
// `default`s are filled in, then the object is validated (kube-openapi's validator with the
// formats of its strfmt registry, converted to field errors as kubeOpenAPIResultToFieldErrors
// does), x-kubernetes-list-type set/map must hold no duplicates, and x-kubernetes-validations
// run with real CEL (self, and oldSelf for transition rules) once nothing blocking was found.
import { type FieldError, duplicate, invalid, notSupported, required } from './errors.js';
import { isObj } from './crds.js';
import { celEnvironment } from './cel.js';
import { isFormatValid, knownFormat } from './formats.js';
import { child, kindOf, ratchet, rulesOf, runRules } from './schema-rules.js';

type Obj = Record<string, unknown>;

function typeInvalid(path: string, value: unknown, type: string): FieldError {
  // kube-openapi's type validator reports the kind of the value it found, not the value.
  const shown = kindOf(value);
  return { type: 'FieldValueTypeInvalid', field: path, value: shown, detail: `${path} in body must be of type ${type}: ${JSON.stringify(shown)}` };
}

function typeMatches(type: string, v: unknown): boolean {
  switch (type) {
    case 'object':
      return isObj(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
    case 'boolean':
      return typeof v === 'boolean';
    default:
      return true;
  }
}

const regexCache = new Map<string, RegExp>();
// `pattern` is Go RE2 syntax. RE2's leading inline flags (`(?i)`, also after `^`, as in
// Calico's `^(?i)(Trace|Debug|...)?$`) are not JavaScript syntax: they become RegExp flags.
const LEADING_FLAGS = /^(\^?)\(\?([ims]+)\)/;
function regex(p: string): RegExp {
  let r = regexCache.get(p);
  if (!r) {
    const m = LEADING_FLAGS.exec(p);
    r = m ? new RegExp(`${m[1]}${p.slice(m[0].length)}`, `u${[...new Set(m[2])].join('')}`) : new RegExp(p, 'u');
    regexCache.set(p, r);
  }
  return r;
}

/** Errors after which CEL rules are not run (apiextensions' hasBlockingErr). */
const BLOCKING = new Set<FieldError['type']>([
  'FieldValueNotSupported',
  'FieldValueRequired',
  'FieldValueTooLong',
  'FieldValueTooMany',
  'FieldValueTypeInvalid',
]);

export class StructuralSchema {
  readonly #root: Obj;
  readonly #hasRules: boolean;

  constructor(openAPIV3Schema: Obj) {
    this.#root = openAPIV3Schema;
    // Compile every rule now, so a CRD with a rule CEL cannot parse fails at start, as the real server refuses such a CRD.
    const rules = rulesOf(openAPIV3Schema);
    for (const rule of rules) celEnvironment().parse(rule);
    this.#hasRules = rules.length > 0;
  }

  /** Pruning and defaulting, in place, as the decoder does before validation. */
  prepare(o: Obj): void {
    prune(o, this.#root, true);
    applyDefaults(o, this.#root);
  }

  /**
   * The fields pruning would drop, as strict field validation (kubectl's default) names them:
   * `spec.advertize`. The server itself drops them silently.
   */
  unknownFields(o: Obj): string[] {
    const pruned = structuredClone(o);
    prune(pruned, this.#root, true);
    const out: string[] = [];
    const diff = (a: unknown, b: unknown, path: string): void => {
      if (Array.isArray(a) && Array.isArray(b)) {
        for (const [i, x] of a.entries()) diff(x, b[i], `${path}[${i}]`);
      } else if (isObj(a) && isObj(b))
        for (const k of Object.keys(a)) if (a[k] !== undefined) k in b ? diff(a[k], b[k], child(path, k)) : out.push(child(path, k));
    };
    diff(o, pruned, '');
    return out;
  }

  /** Every problem of `o` (after prepare); `old` is the stored object on update (transition rules). */
  validate(o: Obj, old?: Obj): FieldError[] {
    const errs: FieldError[] = [];
    const props = isObj(this.#root.properties) ? this.#root.properties : {};
    // The metadata is ObjectMeta, validated by the generic registry, not by the schema.
    const body = Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'metadata'));
    validateValue(body, { ...this.#root, properties: Object.fromEntries(Object.entries(props).filter(([k]) => k !== 'metadata')) }, '', errs);
    listSetsAndMaps(body, this.#root, '', errs);
    const schemaErrs = old === undefined ? errs : ratchet(errs, o, old);
    if (!this.#hasRules) return schemaErrs;
    if (schemaErrs.some((e) => BLOCKING.has(e.type))) {
      schemaErrs.push(
        invalid('<nil>', 'null', 'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation'),
      );
      return schemaErrs;
    }
    const ruleErrs: FieldError[] = [];
    runRules(o, old, this.#root, '', ruleErrs);
    return [...schemaErrs, ...(old === undefined ? ruleErrs : ratchet(ruleErrs, o, old))];
  }
}

// ---------------- pruning and defaulting ----------------

function prune(v: unknown, s: Obj, isRoot = false): void {
  if (s['x-kubernetes-int-or-string'] === true) return;
  if (Array.isArray(v)) {
    if (isObj(s.items)) for (const x of v) prune(x, s.items);
    return;
  }
  if (!isObj(v)) return;
  const props = isObj(s.properties) ? s.properties : undefined;
  const additional = isObj(s.additionalProperties) ? s.additionalProperties : undefined;
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true || s.additionalProperties === true;
  for (const k of Object.keys(v)) {
    // An in-process write may carry `undefined`; JSON has no such value, so it is an absent field.
    if (v[k] === undefined) {
      delete v[k];
      continue;
    }
    if (isRoot && (k === 'apiVersion' || k === 'kind' || k === 'metadata')) continue;
    const sub = props?.[k] ?? additional;
    if (isObj(sub)) prune(v[k], sub);
    else if (!preserve) delete v[k];
  }
}

function applyDefaults(v: unknown, s: Obj): void {
  if (Array.isArray(v)) {
    if (isObj(s.items)) for (const x of v) applyDefaults(x, s.items);
    return;
  }
  if (!isObj(v)) return;
  if (isObj(s.properties)) {
    for (const [k, sub] of Object.entries(s.properties)) {
      if (!isObj(sub)) continue;
      if (sub.default !== undefined && (v[k] === undefined || (v[k] === null && sub.nullable !== true))) v[k] = structuredClone(sub.default);
      if (v[k] !== undefined) applyDefaults(v[k], sub);
    }
  } else if (isObj(s.additionalProperties)) for (const x of Object.values(v)) applyDefaults(x, s.additionalProperties);
}

// ---------------- schema validation ----------------

function validateValue(v: unknown, s: Obj, path: string, errs: FieldError[]): void {
  if (v === null) {
    if (s.nullable === true) return;
    if (typeof s.type === 'string') errs.push(typeInvalid(path, v, s.type));
    return;
  }
  if (s['x-kubernetes-int-or-string'] === true) {
    if (!(typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v)))) errs.push(typeInvalid(path, v, 'integer-or-string'));
  } else if (typeof s.type === 'string' && !typeMatches(s.type, v)) {
    errs.push(typeInvalid(path, v, s.type));
    return;
  }
  valueValidations(v, s, path, errs);
  if (Array.isArray(v) && isObj(s.items)) for (const [i, x] of v.entries()) validateValue(x, s.items as Obj, `${path}[${i}]`, errs);
  if (isObj(v)) {
    const props = isObj(s.properties) ? s.properties : {};
    for (const [k, x] of Object.entries(v)) {
      const sub = props[k] ?? s.additionalProperties;
      if (isObj(sub)) validateValue(x, sub, child(path, k), errs);
    }
  }
}

/** The checks that may also appear inside allOf/anyOf/oneOf/not. */
function valueValidations(v: unknown, s: Obj, path: string, errs: FieldError[]): void {
  const at = path || '<root>';
  if (typeof v === 'string') {
    const fmt = typeof s.format === 'string' ? s.format : undefined;
    if (fmt && knownFormat(fmt) && !isFormatValid(fmt, v))
      errs.push({ type: 'FieldValueTypeInvalid', field: path, value: v, detail: `${at} in body must be of type ${fmt}: ${JSON.stringify(v)}` });
    const len = [...v].length;
    if (typeof s.maxLength === 'number' && len > s.maxLength)
      errs.push({ type: 'FieldValueTooLong', field: path, value: v, detail: `may not be more than ${s.maxLength} bytes` });
    if (typeof s.minLength === 'number' && len < s.minLength) errs.push(invalid(path, v, `${at} in body should be at least ${s.minLength} chars long`));
    if (typeof s.pattern === 'string' && !regex(s.pattern).test(v)) errs.push(invalid(path, v, `${at} in body should match '${s.pattern}'`));
  }
  if (typeof v === 'number') {
    if (typeof s.maximum === 'number' && (s.exclusiveMaximum === true ? v >= s.maximum : v > s.maximum))
      errs.push(invalid(path, v, `${at} in body should be less than ${s.exclusiveMaximum === true ? '' : 'or equal to '}${s.maximum}`));
    if (typeof s.minimum === 'number' && (s.exclusiveMinimum === true ? v <= s.minimum : v < s.minimum))
      errs.push(invalid(path, v, `${at} in body should be greater than ${s.exclusiveMinimum === true ? '' : 'or equal to '}${s.minimum}`));
    if (typeof s.multipleOf === 'number' && !Number.isInteger(v / s.multipleOf))
      errs.push(invalid(path, v, `${at} in body should be a multiple of ${s.multipleOf}`));
  }
  if (Array.isArray(v)) {
    if (typeof s.maxItems === 'number' && v.length > s.maxItems)
      errs.push({ type: 'FieldValueTooMany', field: path, value: v.length, detail: `must have at most ${s.maxItems} items` });
    if (typeof s.minItems === 'number' && v.length < s.minItems) errs.push(invalid(path, v, `${at} in body should have at least ${s.minItems} items`));
  }
  if (isObj(v)) {
    if (Array.isArray(s.required)) for (const r of s.required) if (v[String(r)] === undefined) errs.push(required(child(path, String(r)), ''));
    const n = Object.keys(v).length;
    if (typeof s.maxProperties === 'number' && n > s.maxProperties)
      errs.push({ type: 'FieldValueTooMany', field: path, value: n, detail: `must have at most ${s.maxProperties} items` });
    if (typeof s.minProperties === 'number' && n < s.minProperties)
      errs.push(invalid(path, v, `${at} in body should have at least ${s.minProperties} properties`));
  }
  if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) {
    errs.push(
      notSupported(
        path,
        v,
        s.enum.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))),
      ),
    );
  }
  const branch = (b: unknown): FieldError[] => {
    const out: FieldError[] = [];
    if (isObj(b)) {
      valueValidations(v, b, path, out);
      if (isObj(v) && isObj(b.properties))
        for (const [k, sub] of Object.entries(b.properties)) if (v[k] !== undefined && isObj(sub)) valueValidations(v[k], sub, child(path, k), out);
    }
    return out;
  };
  if (Array.isArray(s.allOf)) for (const b of s.allOf) errs.push(...branch(b));
  if (Array.isArray(s.anyOf)) {
    const results = s.anyOf.map(branch);
    if (!results.some((r) => r.length === 0)) {
      errs.push(invalid(path, v, `${at} in body must validate at least one schema (anyOf)`));
      // kube-openapi adds the failures of the branch that came closest.
      const best = results.reduce((a, b) => (b.length < a.length ? b : a));
      errs.push(...best);
    }
  }
  if (Array.isArray(s.oneOf)) {
    const ok = s.oneOf.map(branch).filter((r) => r.length === 0).length;
    if (ok !== 1) errs.push(invalid(path, v, `${at} in body must validate one and only one schema (oneOf)`));
  }
  if (isObj(s.not) && branch(s.not).length === 0) errs.push(invalid(path, v, `${at} in body should not validate the schema (not)`));
}

function listSetsAndMaps(v: unknown, s: Obj, path: string, errs: FieldError[]): void {
  if (Array.isArray(v)) {
    const lt = s['x-kubernetes-list-type'];
    const keys = Array.isArray(s['x-kubernetes-list-map-keys']) ? s['x-kubernetes-list-map-keys'].map(String) : [];
    const seen = new Set<string>();
    v.forEach((x, i) => {
      let key: string | undefined;
      let shown: unknown = x;
      if (lt === 'set') key = JSON.stringify(x);
      else if (lt === 'map' && isObj(x)) {
        shown = Object.fromEntries(keys.filter((k) => x[k] !== undefined).map((k) => [k, x[k]]));
        key = JSON.stringify(keys.map((k) => x[k] ?? null));
      }
      if (key !== undefined) {
        if (seen.has(key)) errs.push(duplicate(`${path}[${i}]`, shown));
        seen.add(key);
      }
      if (isObj(s.items)) listSetsAndMaps(x, s.items, `${path}[${i}]`, errs);
    });
  } else if (isObj(v)) {
    const props = isObj(s.properties) ? s.properties : {};
    for (const [k, x] of Object.entries(v)) {
      const sub = props[k] ?? s.additionalProperties;
      if (isObj(sub)) listSetsAndMaps(x, sub, child(path, k), errs);
    }
  }
}

const schemas = new WeakMap<Obj, StructuralSchema>();

/** The registry hooks that apply a CRD schema: pruning and defaults, then validation of every write. */
export function schemaHooks(openAPIV3Schema: Obj): { defaults: (o: Obj) => void; validateWrite: (o: Obj, old?: Obj) => FieldError[] } {
  let s = schemas.get(openAPIV3Schema);
  if (!s) {
    s = new StructuralSchema(openAPIV3Schema);
    schemas.set(openAPIV3Schema, s);
  }
  const schema = s;
  return {
    defaults: (o) => schema.prepare(o),
    validateWrite: (o, old) => schema.validate(o, old),
  };
}
