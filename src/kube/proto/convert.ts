// From the JSON shape of an object (what `kubectl get -o json` prints) to the plain object
// protobufjs encodes: the same names and nesting, and the few types whose JSON form is not
// their message: metav1.Time (an RFC 3339 string, null when zero), IntOrString (a number or a
// string) and Quantity (a string). The other direction is decode.ts.
import type protobuf from 'protobufjs';

const TIME = '.k8s.io.apimachinery.pkg.apis.meta.v1.Time';
const INT_OR_STRING = '.k8s.io.apimachinery.pkg.util.intstr.IntOrString';
const QUANTITY = '.k8s.io.apimachinery.pkg.api.resource.Quantity';

type Json = Record<string, unknown>;
type Shape = 'single' | 'repeated' | 'map';

interface FieldPlan {
  name: string;
  shape: Shape;
  /** The message type, or a special JSON form, or undefined for a scalar. */
  message: protobuf.Type | undefined;
  special: 'time' | 'intOrString' | 'quantity' | undefined;
}

const plans = new WeakMap<protobuf.Type, { fields: FieldPlan[]; names: Set<string> }>();

function planOf(type: protobuf.Type): { fields: FieldPlan[]; names: Set<string> } {
  let plan = plans.get(type);
  if (plan) return plan;
  const fields = type.fieldsArray.map((f) => {
    const rt = f.resolvedType;
    const full = rt?.fullName;
    const special = full === TIME ? 'time' : full === INT_OR_STRING ? 'intOrString' : full === QUANTITY ? 'quantity' : undefined;
    return {
      name: f.name,
      shape: f.map ? 'map' : f.repeated ? 'repeated' : 'single',
      message: rt && 'fieldsArray' in rt ? (rt as protobuf.Type) : undefined,
      special,
    } satisfies FieldPlan;
  });
  plan = { fields, names: new Set(fields.map((f) => f.name)) };
  plans.set(type, plan);
  return plan;
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
  const plan = planOf(type);
  for (const p of plan.fields) {
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
  if (dropped) for (const k in obj) if (!plan.names.has(k) && obj[k] !== undefined) dropped.push(path ? `${path}.${k}` : k);
  return out;
}
