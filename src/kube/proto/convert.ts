// Between protobuf messages and the JSON shape of the same object (what `kubectl get -o json`
// prints): the same camelCase names and nesting, unset fields absent, and the few types whose
// JSON form is not their message: metav1.Time (an RFC 3339 string, null when zero),
// IntOrString (a number or a string) and Quantity (a string).
import type protobuf from 'protobufjs';
import { KEEP_ZERO } from './schema.js';

const TIME = '.k8s.io.apimachinery.pkg.apis.meta.v1.Time';
const INT_OR_STRING = '.k8s.io.apimachinery.pkg.util.intstr.IntOrString';
const QUANTITY = '.k8s.io.apimachinery.pkg.api.resource.Quantity';

type Json = Record<string, unknown>;
type Shape = 'single' | 'repeated' | 'map';

interface FieldPlan {
  name: string;
  shape: Shape;
  keepZero: boolean;
  /** The message type, or a special JSON form, or undefined for a scalar. */
  message: protobuf.Type | undefined;
  special: 'time' | 'intOrString' | 'quantity' | undefined;
  int64: boolean;
}

const plans = new WeakMap<protobuf.Type, FieldPlan[]>();

function planOf(type: protobuf.Type): FieldPlan[] {
  let plan = plans.get(type);
  if (plan) return plan;
  plan = type.fieldsArray.map((f) => {
    const rt = f.resolvedType;
    const full = rt?.fullName;
    const special = full === TIME ? 'time' : full === INT_OR_STRING ? 'intOrString' : full === QUANTITY ? 'quantity' : undefined;
    return {
      name: f.name,
      shape: f.map ? 'map' : f.repeated ? 'repeated' : 'single',
      keepZero: f.options?.[KEEP_ZERO] === true,
      message: rt && 'fieldsArray' in rt ? (rt as protobuf.Type) : undefined,
      special,
      int64: ['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64'].includes(f.type),
    } satisfies FieldPlan;
  });
  plans.set(type, plan);
  return plan;
}

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && 'toNumber' in v) return (v as { toNumber(): number }).toNumber();
  return Number(v);
}

/** metav1.Time has second precision on the wire and in JSON (RFC 3339, UTC). */
export function timeToJson(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function valueToJson(p: FieldPlan, v: unknown): unknown {
  if (p.special === 'time') {
    const t = v as { seconds?: unknown; nanos?: number };
    const s = t.seconds === undefined ? 0 : toNumber(t.seconds);
    // a zero Time is an empty message on the wire and null in JSON
    return s === 0 && !t.nanos ? null : timeToJson(s);
  }
  if (p.special === 'intOrString') {
    const x = v as { type?: unknown; intVal?: number; strVal?: string };
    return toNumber(x.type ?? 0) === 1 ? (x.strVal ?? '') : (x.intVal ?? 0);
  }
  if (p.special === 'quantity') return (v as { string?: string }).string ?? '';
  if (p.message) return messageToJson(p.message, v as Json);
  if (p.int64) return toNumber(v);
  return v;
}

function isZero(v: unknown): boolean {
  return v === '' || v === 0 || v === false;
}

/** A decoded message in its JSON shape. */
export function messageToJson(type: protobuf.Type, msg: Json): Json {
  const out: Json = {};
  for (const p of planOf(type)) {
    const v = msg[p.name];
    if (p.shape === 'map') {
      const m = v as Json | undefined;
      if (!m) continue;
      const keys = Object.keys(m);
      if (keys.length === 0) continue;
      const o: Json = {};
      for (const k of keys) o[k] = valueToJson(p, m[k]);
      out[p.name] = o;
    } else if (p.shape === 'repeated') {
      const a = v as unknown[] | undefined;
      if (a && a.length > 0) out[p.name] = a.map((x) => valueToJson(p, x));
    } else if (Object.hasOwn(msg, p.name) && v !== undefined && v !== null) {
      const j = valueToJson(p, v);
      if (!p.keepZero && !p.message && !p.special && isZero(j)) continue;
      out[p.name] = j;
    }
  }
  return out;
}

function valueFromJson(p: FieldPlan, v: unknown, path: string, dropped: string[] | undefined): unknown {
  if (p.special === 'time') return v === null ? {} : { seconds: Math.floor(Date.parse(String(v)) / 1000) };
  if (p.special === 'intOrString') return typeof v === 'number' ? { type: 0, intVal: v } : { type: 1, strVal: String(v) };
  if (p.special === 'quantity') return { string: String(v) };
  if (p.message) return messageFromJson(p.message, v as Json, dropped, path);
  return v;
}

/**
 * An object in its JSON shape as the plain object protobufjs encodes. Fields the schema does
 * not name are left out; their paths go to `dropped` when given.
 */
export function messageFromJson(type: protobuf.Type, obj: Json, dropped?: string[], path = ''): Json {
  const out: Json = {};
  const known = new Set<string>();
  for (const p of planOf(type)) {
    known.add(p.name);
    const v = obj[p.name];
    const at = path ? `${path}.${p.name}` : p.name;
    if (v === undefined || (v === null && p.special !== 'time')) continue;
    if (p.shape === 'map') {
      const o: Json = {};
      for (const [k, x] of Object.entries(v as Json)) o[k] = valueFromJson(p, x, `${at}.${k}`, dropped);
      out[p.name] = o;
    } else if (p.shape === 'repeated') {
      out[p.name] = (v as unknown[]).map((x, i) => valueFromJson(p, x, `${at}[${i}]`, dropped));
    } else {
      out[p.name] = valueFromJson(p, v, at, dropped);
    }
  }
  if (dropped) for (const k of Object.keys(obj)) if (!known.has(k) && obj[k] !== undefined) dropped.push(path ? `${path}.${k}` : k);
  return out;
}
