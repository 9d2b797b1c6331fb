// x-kubernetes-validations of a structural schema: the CEL rules it carries (compiled once per
// schema), their evaluation against a written object (with oldSelf for transition rules), and
// validation ratcheting, which drops errors about values an update left as they were.
import { type FieldError, invalid } from './errors.js';
import { isObj } from './crds.js';
import { celEnvironment, toCel } from './cel.js';

type Obj = Record<string, unknown>;

/** What kube-openapi reports as the kind of a value (`must be of type integer: "string"`). */
export function kindOf(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

export function child(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** Every CEL program in a schema (rules and messageExpressions), to compile them when the schema is loaded. */
export function rulesOf(s: unknown): string[] {
  if (!isObj(s)) return [];
  const out: string[] = [];
  if (Array.isArray(s['x-kubernetes-validations']))
    for (const r of s['x-kubernetes-validations'])
      if (isObj(r)) out.push(String(r.rule), ...(typeof r.messageExpression === 'string' ? [r.messageExpression] : []));
  if (isObj(s.properties)) for (const v of Object.values(s.properties)) out.push(...rulesOf(v));
  out.push(...rulesOf(s.items), ...rulesOf(s.additionalProperties));
  return out;
}

// ---------------- x-kubernetes-validations ----------------

const RULE_REASONS: Record<string, FieldError['type']> = {
  FieldValueInvalid: 'FieldValueInvalid',
  FieldValueForbidden: 'FieldValueForbidden',
  FieldValueRequired: 'FieldValueRequired',
  FieldValueDuplicate: 'FieldValueDuplicate',
};

/** `old` is the value at the same place in the stored object, when the API server can correlate one. */
export function runRules(v: unknown, old: unknown, s: Obj, path: string, errs: FieldError[]): void {
  if (v === undefined || v === null) return;
  const rules = s['x-kubernetes-validations'];
  if (Array.isArray(rules)) {
    for (const r of rules) {
      if (!isObj(r) || typeof r.rule !== 'string') continue;
      const transition = /\boldSelf\b/.test(r.rule);
      if (transition && (old === undefined || r.optionalOldSelf === true)) continue;
      const ctx = { self: toCel(v), ...(transition ? { oldSelf: toCel(old) } : {}) };
      const at = path || '<root>';
      const typeName = typeof s.type === 'string' ? s.type : kindOf(v);
      const fieldPath =
        typeof r.fieldPath === 'string' && r.fieldPath !== ''
          ? `${path}${r.fieldPath.startsWith('.') || r.fieldPath.startsWith('[') ? '' : '.'}${r.fieldPath}`
          : at;
      let result: unknown;
      try {
        result = celEnvironment().parse(r.rule)(ctx);
      } catch (err) {
        errs.push(invalid(at, typeName, `rule evaluation error: ${(err as Error).message}`));
        continue;
      }
      if (result === true) continue;
      let message = typeof r.message === 'string' && r.message !== '' ? r.message : `failed rule: ${r.rule.trim()}`;
      if (typeof r.messageExpression === 'string') {
        try {
          const m: unknown = celEnvironment().parse(r.messageExpression)(ctx);
          if (typeof m === 'string' && m.trim() !== '' && !m.includes('\n')) message = m;
        } catch {
          // the real server logs this and keeps message
        }
      }
      const type = RULE_REASONS[typeof r.reason === 'string' ? r.reason : ''] ?? 'FieldValueInvalid';
      if (type === 'FieldValueRequired' || type === 'FieldValueForbidden') errs.push({ type, field: fieldPath, detail: message });
      else errs.push({ type, field: fieldPath, value: typeName, detail: message });
    }
  }
  if (Array.isArray(v) && isObj(s.items)) {
    const keys =
      s['x-kubernetes-list-type'] === 'map' && Array.isArray(s['x-kubernetes-list-map-keys']) ? s['x-kubernetes-list-map-keys'].map(String) : undefined;
    const oldList = Array.isArray(old) ? old : [];
    v.forEach((x, i) => {
      // Items correlate with the stored list only by their map keys.
      const o = keys && isObj(x) ? oldList.find((y) => isObj(y) && keys.every((k) => JSON.stringify(y[k]) === JSON.stringify(x[k]))) : undefined;
      runRules(x, o, s.items as Obj, `${path}[${i}]`, errs);
    });
  } else if (isObj(v)) {
    const props = isObj(s.properties) ? s.properties : {};
    for (const [k, x] of Object.entries(v)) {
      if (path === '' && k === 'metadata') continue;
      const sub = props[k] ?? s.additionalProperties;
      if (isObj(sub)) runRules(x, isObj(old) ? old[k] : undefined, sub, child(path, k), errs);
    }
  }
}

// ---------------- ratcheting ----------------

function valueAt(o: unknown, path: string): { found: boolean; value: unknown } {
  let cur: unknown = o;
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (m[1] !== undefined) {
      if (!isObj(cur) || !(m[1] in cur)) return { found: false, value: undefined };
      cur = cur[m[1]];
    } else {
      if (!Array.isArray(cur)) return { found: false, value: undefined };
      cur = cur[Number(m[2])];
    }
  }
  return { found: cur !== undefined, value: cur };
}

/**
 * Validation ratcheting (CRDValidationRatcheting, on by default since 1.30): on update, a
 * problem with a value the request did not change is not reported, so a stored object that an
 * older, laxer schema admitted can still be updated elsewhere.
 */
export function ratchet(errs: FieldError[], next: unknown, old: unknown): FieldError[] {
  return errs.filter((e) => {
    if (e.field === '<nil>' || e.field === '') return true;
    // A missing required field belongs to the object that lacks it.
    const at = e.type === 'FieldValueRequired' ? e.field.replace(/(\.[^.[\]]+|\[\d+\])$/, '') : e.field;
    if (at === '') return true;
    const a = valueAt(next, at);
    const b = valueAt(old, at);
    return !(a.found && b.found && JSON.stringify(a.value) === JSON.stringify(b.value));
  });
}
