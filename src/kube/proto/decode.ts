// Protobuf bytes straight into the JSON shape, in one pass. protobufjs' own decode builds
// message objects that would then be copied into plain objects; on the agents' largest body
// (100,000 endpoints) that was three times JSON.parse. This reads the wire with protobufjs'
// Reader and the schema's field table, skipping every field the schema does not name.
import protobuf from 'protobufjs';
import { KEEP_ZERO } from './schema.js';

const TIME = '.k8s.io.apimachinery.pkg.apis.meta.v1.Time';
const INT_OR_STRING = '.k8s.io.apimachinery.pkg.util.intstr.IntOrString';
const QUANTITY = '.k8s.io.apimachinery.pkg.api.resource.Quantity';

type Json = Record<string, unknown>;
type Kind = 'string' | 'bool' | 'varint' | 'int64' | 'bytes' | 'message' | 'time' | 'intOrString' | 'quantity';

interface Field {
  name: string;
  kind: Kind;
  repeated: boolean;
  /** For a map, the kind of its values (its keys are strings in every Kubernetes map). */
  map: Field | undefined;
  keepZero: boolean;
  message: Plan | undefined;
}

interface Plan {
  byNumber: (Field | undefined)[];
}

const plans = new WeakMap<protobuf.Type, Plan>();

function kindOf(type: string, resolved: protobuf.ReflectionObject | null): Kind {
  if (resolved) {
    if (resolved.fullName === TIME) return 'time';
    if (resolved.fullName === INT_OR_STRING) return 'intOrString';
    if (resolved.fullName === QUANTITY) return 'quantity';
    if (resolved instanceof protobuf.Type) return 'message';
    return 'varint'; // an enum; Kubernetes has none, but its numbers read as varints
  }
  if (type === 'string') return 'string';
  if (type === 'bool') return 'bool';
  if (type === 'bytes') return 'bytes';
  if (type === 'int64' || type === 'uint64' || type === 'sint64') return 'int64';
  return 'varint';
}

export function planOf(type: protobuf.Type): Plan {
  let plan = plans.get(type);
  if (plan) return plan;
  plan = { byNumber: [] };
  // registered before the fields, so a type that contains itself terminates
  plans.set(type, plan);
  for (const f of type.fieldsArray) {
    const rt = f.resolvedType;
    const value: Field = {
      name: f.name,
      kind: kindOf(f.type, rt),
      repeated: f.repeated,
      map: undefined,
      keepZero: f.options?.[KEEP_ZERO] === true,
      message: rt instanceof protobuf.Type ? planOf(rt) : undefined,
    };
    plan.byNumber[f.id] = f.map ? { ...value, kind: 'message', repeated: false, map: value, message: undefined } : value;
  }
  return plan;
}

function toNumber(v: number | { toNumber(): number }): number {
  return typeof v === 'number' ? v : v.toNumber();
}

function readTime(r: protobuf.Reader, end: number): string | null {
  let seconds = 0;
  let nanos = 0;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x08) seconds = toNumber(r.int64() as never);
    else if (tag === 0x10) nanos = r.int32();
    else r.skipType(tag & 7);
  }
  // a zero Time is an empty message on the wire and null in JSON; JSON has seconds only
  if (seconds === 0 && nanos === 0) return null;
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function readIntOrString(r: protobuf.Reader, end: number): number | string {
  let type = 0;
  let intVal = 0;
  let strVal = '';
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x08) type = toNumber(r.int64() as never);
    else if (tag === 0x10) intVal = r.int32();
    else if (tag === 0x1a) strVal = r.string();
    else r.skipType(tag & 7);
  }
  return type === 1 ? strVal : intVal;
}

function readQuantity(r: protobuf.Reader, end: number): string {
  let s = '';
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x0a) s = r.string();
    else r.skipType(tag & 7);
  }
  return s;
}

const WIRE: Record<Kind, number> = { string: 2, bool: 0, varint: 0, int64: 0, bytes: 2, message: 2, time: 2, intOrString: 2, quantity: 2 };

function readValue(r: protobuf.Reader, f: Field): unknown {
  switch (f.kind) {
    case 'string':
      return r.string();
    case 'bool':
      return r.bool();
    case 'varint':
      return r.int32();
    case 'int64':
      return toNumber(r.int64() as never);
    case 'bytes':
      return Buffer.from(r.bytes()).toString('base64');
    default: {
      const end = r.uint32() + r.pos;
      if (f.kind === 'time') return readTime(r, end);
      if (f.kind === 'intOrString') return readIntOrString(r, end);
      if (f.kind === 'quantity') return readQuantity(r, end);
      return readMessage(r, end, f.message!);
    }
  }
}

function readMapEntry(r: protobuf.Reader, f: Field, into: Json): void {
  const end = r.uint32() + r.pos;
  let key = '';
  let value: unknown;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x0a) key = r.string();
    else if (tag >>> 3 === 2 && (tag & 7) === WIRE[f.map!.kind]) value = readValue(r, f.map!);
    else r.skipType(tag & 7);
  }
  into[key] = value ?? (f.map!.kind === 'string' ? '' : f.map!.kind === 'quantity' ? '' : {});
}

function isZero(v: unknown): boolean {
  return v === '' || v === 0 || v === false;
}

/** The message in r up to `end`, in its JSON shape. */
export function readMessage(r: protobuf.Reader, end: number, plan: Plan): Json {
  const out: Json = {};
  while (r.pos < end) {
    const tag = r.uint32();
    const wire = tag & 7;
    const f = plan.byNumber[tag >>> 3];
    if (f === undefined) {
      r.skipType(wire);
      continue;
    }
    if (f.map) {
      if (wire !== 2) {
        r.skipType(wire);
        continue;
      }
      let m = out[f.name] as Json | undefined;
      if (!m) {
        m = {};
        out[f.name] = m;
      }
      readMapEntry(r, f, m);
      continue;
    }
    if (wire !== WIRE[f.kind]) {
      // a packed repeated varint: Kubernetes' proto2 schemas do not pack, so this is not ours
      r.skipType(wire);
      continue;
    }
    const v = readValue(r, f);
    if (f.repeated) {
      const a = out[f.name] as unknown[] | undefined;
      if (a) a.push(v);
      else out[f.name] = [v];
    } else if (f.keepZero || f.message || f.kind === 'time' || f.kind === 'intOrString' || f.kind === 'quantity' || !isZero(v)) {
      out[f.name] = v;
    } else {
      // a plain Go value the server writes even when empty: JSON omits it
      delete out[f.name];
    }
  }
  return out;
}

function readerOf(bytes: Uint8Array): { r: protobuf.Reader; end: number } {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  return { r: protobuf.Reader.create(buf), end: buf.length };
}

/** Bytes of one message of `type`, in its JSON shape. */
export function decodeToJson(type: protobuf.Type, bytes: Uint8Array): Json {
  const { r, end } = readerOf(bytes);
  return readMessage(r, end, planOf(type));
}

/**
 * Bytes of a list message of `type` (metadata and items, as every Kubernetes list has): each
 * item goes through `each` as soon as it is read, so the decoded page is never alive all at
 * once, only what `each` keeps of it. Other fields of the list are skipped.
 */
export function decodeListToJson<T>(type: protobuf.Type, bytes: Uint8Array, each: (item: Json) => T): { metadata: Json | undefined; items: T[] } {
  const plan = planOf(type);
  const number = (name: string): number => plan.byNumber.findIndex((f) => f?.name === name);
  const [metaNo, itemsNo] = [number('metadata'), number('items')];
  const itemPlan = plan.byNumber[itemsNo]?.message;
  if (metaNo < 0 || itemPlan === undefined) throw new Error(`${type.fullName} is not a list`);
  const { r, end } = readerOf(bytes);
  let metadata: Json | undefined;
  const items: T[] = [];
  while (r.pos < end) {
    const tag = r.uint32();
    const no = tag >>> 3;
    if ((tag & 7) !== 2 || (no !== metaNo && no !== itemsNo)) {
      r.skipType(tag & 7);
      continue;
    }
    const len = r.uint32() + r.pos;
    if (no === metaNo) metadata = readMessage(r, len, plan.byNumber[metaNo]!.message!);
    else items.push(each(readMessage(r, len, itemPlan)));
  }
  return { metadata, items };
}
