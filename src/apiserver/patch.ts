// The three patch formats the API accepts: JSON merge patch (RFC 7386), JSON patch (RFC 6902)
// and Kubernetes strategic merge patch (k8s.io/apimachinery/pkg/util/strategicpatch), the last
// one driven by a per-type table of patch merge keys (the `patchMergeKey` struct tags).
import { type ApiError, badRequest, failure } from './errors.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => structuredClone(v);

// ---- RFC 7386 ----
export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k] ?? null, v);
  }
  return out;
}

// ---- RFC 6902 ----
function unprocessable(message: string): ApiError {
  return failure(422, 'Invalid', message);
}

function parsePointer(p: string): string[] {
  if (p === '') return [];
  if (!p.startsWith('/')) throw unprocessable(`invalid JSON pointer: ${JSON.stringify(p)}`);
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: Json, path: string[], op: string): { parent: JsonObject | Json[]; key: string } {
  let cur: Json = doc;
  for (const seg of path.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(seg)] ?? null;
    else if (isObject(cur)) cur = cur[seg] ?? null;
    else cur = null;
    if (cur === null) throw unprocessable(`${op} operation does not apply: doc is missing path: "/${path.join('/')}": missing value`);
  }
  if (!Array.isArray(cur) && !isObject(cur)) throw unprocessable(`${op} operation does not apply: doc is missing path: "/${path.join('/')}": missing value`);
  return { parent: cur, key: path[path.length - 1]! };
}

function getAt(doc: Json, path: string[], op: string): Json {
  if (path.length === 0) return doc;
  const { parent, key } = parentOf(doc, path, op);
  const v = Array.isArray(parent) ? parent[Number(key)] : parent[key];
  if (v === undefined) throw unprocessable(`${op} operation does not apply: doc is missing path: "/${path.join('/')}": missing value`);
  return v;
}

function removeAt(doc: Json, path: string[], op: string): Json {
  const { parent, key } = parentOf(doc, path, op);
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!Number.isInteger(i) || i < 0 || i >= parent.length)
      throw unprocessable(`${op} operation does not apply: doc is missing path: "/${path.join('/')}": missing value`);
    return parent.splice(i, 1)[0]!;
  }
  if (!(key in parent)) throw unprocessable(`${op} operation does not apply: doc is missing path: "/${path.join('/')}": missing value`);
  const v = parent[key]!;
  delete parent[key];
  return v;
}

function addAt(doc: Json, path: string[], value: Json, op: string, replace: boolean): Json {
  if (path.length === 0) return value;
  const { parent, key } = parentOf(doc, path, op);
  if (Array.isArray(parent)) {
    if (replace) {
      const i = Number(key);
      if (!Number.isInteger(i) || i < 0 || i >= parent.length)
        throw unprocessable(`${op} operation does not apply: doc is missing key: /${path.join('/')}: missing value`);
      parent[i] = value;
    } else if (key === '-') parent.push(value);
    else {
      const i = Number(key);
      if (!/^\d+$/.test(key) || i > parent.length) throw unprocessable(`${op} operation does not apply: index out of bounds: /${path.join('/')}`);
      parent.splice(i, 0, value);
    }
  } else {
    if (replace && !(key in parent)) throw unprocessable(`replace operation does not apply: doc is missing key: /${path.join('/')}: missing value`);
    parent[key] = value;
  }
  return doc;
}

/**
 * Equality of two values as JSON documents: key order does not matter, a key whose value JSON
 * drops (undefined, a function) counts as absent, and in an array such a value (or a non-finite
 * number) counts as null. Walks both values without building their serialisations, since this
 * runs on every write (no-op detection) and on list merges.
 */
function deepEqual(a: unknown, b: unknown): boolean {
  // JSON.stringify gives no document at all for a dropped value at the top
  if (dropped(a) || dropped(b)) return dropped(a) && dropped(b);
  return jsonValueEqual(jsonAsInArray(a), jsonAsInArray(b));
}

const dropped = (v: unknown): boolean => v === undefined || typeof v === 'function' || typeof v === 'symbol';
// as JSON.stringify writes a value in an array (and, for numbers, anywhere)
const jsonAsInArray = (v: unknown): unknown => (dropped(v) || (typeof v === 'number' && !Number.isFinite(v)) ? null : v);

function jsonValueEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const arr = Array.isArray(a);
  if (arr !== Array.isArray(b)) return false;
  if (arr) {
    const x = a as unknown[];
    const y = b as unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!jsonValueEqual(jsonAsInArray(x[i]), jsonAsInArray(y[i]))) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let n = 0;
  for (const k of Object.keys(x)) {
    const v = x[k];
    if (dropped(v)) continue;
    n++;
    const w = y[k];
    if (!Object.hasOwn(y, k) || dropped(w) || !jsonValueEqual(jsonAsInArray(v), jsonAsInArray(w))) return false;
  }
  for (const k of Object.keys(y)) if (!dropped(y[k])) n--;
  return n === 0;
}

export function applyJsonPatch(target: Json, ops: unknown): Json {
  if (!Array.isArray(ops)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let doc = clone(target);
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw unprocessable('the server rejected our request due to an error in our request');
    }
    const path = parsePointer(raw.path);
    switch (raw.op) {
      case 'add':
        doc = addAt(doc, path, clone(raw.value ?? null), 'add', false);
        break;
      case 'replace':
        doc = addAt(doc, path, clone(raw.value ?? null), 'replace', true);
        break;
      case 'remove':
        removeAt(doc, path, 'remove');
        break;
      case 'move': {
        const from = parsePointer(String(raw.from));
        const v = removeAt(doc, from, 'move');
        doc = addAt(doc, path, v, 'move', false);
        break;
      }
      case 'copy': {
        const v = getAt(doc, parsePointer(String(raw.from)), 'copy');
        doc = addAt(doc, path, clone(v), 'copy', false);
        break;
      }
      case 'test': {
        const v = getAt(doc, path, 'test');
        if (!deepEqual(v, raw.value)) throw unprocessable(`testing value /${path.join('/')} failed: test failed`);
        break;
      }
      default:
        throw unprocessable(`Unexpected kind: ${raw.op}`);
    }
  }
  return doc;
}

// ---- strategic merge patch ----

/**
 * The patch strategy of a type: dotted paths (list indices dropped) of lists merged by a key,
 * and of primitive lists merged as sets (`patchStrategy:"merge"` without a key).
 */
export interface PatchSchema {
  mergeKeys: Record<string, string>;
  primitiveMerge: ReadonlySet<string>;
}

const directive = '$patch';
const deleteFromPrimitivePrefix = '$deleteFromPrimitiveList/';
const setElementOrderPrefix = '$setElementOrder/';

export function applyStrategicMergePatch(original: Json, patch: Json, schema: PatchSchema): Json {
  if (!isObject(patch)) throw badRequest('strategic merge patch must be a JSON object');
  return mergeMap(isObject(original) ? original : {}, patch, '', schema) ?? {};
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function mergeMap(original: JsonObject, patch: JsonObject, path: string, schema: PatchSchema): JsonObject | undefined {
  const d = patch[directive];
  if (d === 'delete') return undefined;
  if (d === 'replace') {
    const { [directive]: _drop, ...rest } = patch;
    return clone(rest);
  }
  if (d !== undefined) throw unprocessable(`Unknown patch type: ${String(d)}`);
  const out: JsonObject = { ...original };
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$retainKeys' || k.startsWith(setElementOrderPrefix)) continue;
    if (k.startsWith(deleteFromPrimitivePrefix)) {
      const field = k.slice(deleteFromPrimitivePrefix.length);
      const cur = out[field];
      if (Array.isArray(cur) && Array.isArray(v)) {
        const remaining = cur.filter((x) => !v.some((y) => deepEqual(x, y)));
        out[field] = remaining;
      }
      continue;
    }
    const p = join(path, k);
    if (v === null) {
      delete out[k];
    } else if (isObject(v)) {
      const cur = out[k];
      const merged = mergeMap(isObject(cur) ? cur : {}, v, p, schema);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else if (Array.isArray(v)) {
      const cur = out[k];
      const key = schema.mergeKeys[p];
      if (key !== undefined) out[k] = mergeListByKey(Array.isArray(cur) ? cur : [], v, key, p, schema);
      else if (schema.primitiveMerge.has(p)) {
        const merged = Array.isArray(cur) ? [...cur] : [];
        for (const x of v) if (!merged.some((y) => deepEqual(x, y))) merged.push(clone(x));
        out[k] = merged;
      } else out[k] = clone(v.filter((x) => !(isObject(x) && x[directive] !== undefined && Object.keys(x).length === 1)));
    } else {
      out[k] = v;
    }
  }
  // a field whose $deleteFromPrimitiveList removed everything stays as [] like the real merge
  return out;
}

function mergeListByKey(original: Json[], patch: Json[], key: string, path: string, schema: PatchSchema): Json[] {
  // `[{"$patch": "replace"}, ...items]` replaces the whole list
  if (patch.some((x) => isObject(x) && x[directive] === 'replace')) {
    return clone(patch.filter((x) => !(isObject(x) && x[directive] === 'replace')));
  }
  const out: Json[] = original.map((x) => clone(x));
  for (const item of patch) {
    if (!isObject(item)) {
      throw unprocessable(`unable to find api field in struct for the list ${path}: items must be objects`);
    }
    const kv = item[key];
    if (kv === undefined) throw unprocessable(`map: ${JSON.stringify(item)} does not contain declared merge key: ${key}`);
    const idx = out.findIndex((x) => isObject(x) && deepEqual(x[key], kv));
    if (item[directive] === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) {
      const merged = mergeMap(out[idx] as JsonObject, item, path, schema);
      if (merged === undefined) out.splice(idx, 1);
      else out[idx] = merged;
    } else {
      const { [directive]: _d, ...rest } = item;
      out.push(stripDirectives(rest));
    }
  }
  return out;
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === directive || k === '$retainKeys' || k.startsWith(setElementOrderPrefix) || k.startsWith(deleteFromPrimitivePrefix)) continue;
    if (x === null) continue;
    out[k] = stripDirectives(x);
  }
  return out;
}

export { deepEqual };
