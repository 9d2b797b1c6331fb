// Content negotiation on Accept and the bodies it chooses, as kube-apiserver 1.32 does it
// (k8s.io/apiserver endpoints/handlers/negotiation and responsewriters): the first acceptable
// clause wins, in the client's order. Every resource offers JSON, YAML and protobuf, custom
// resources included: their serializer list has protobuf, but an unstructured object cannot be
// written as protobuf, so a custom resource asked for protobuf first answers 406 with a
// protobuf Status even when JSON is also acceptable (kubernetes/kubernetes#86253). A watch of
// one gets its 200 and protobuf headers, then ends at the first event.
//
// Limits of this stand-in: YAML is answered as JSON (as before), and built-in kinds outside
// podlb's protobuf schema (src/kube/proto/schema.ts) are answered as JSON, which a client that
// also accepts JSON reads by the Content-Type.
import { type ApiError, failure, type Status } from './errors.js';
import { type Obj, type ResourceType, apiVersionOf } from './resource-type.js';
import { PROTOBUF_CONTENT_TYPE, encodeObject, encodeWatchFrame } from '../kube/proto/envelope.js';
import { isBuiltinProtoKind, serverSchema } from '../kube/proto/schema.js';

export type Media = 'json' | 'protobuf';

const JSON_TYPE = 'application/json';
const OFFERED = [JSON_TYPE, 'application/yaml', PROTOBUF_CONTENT_TYPE];
/** The conversions (`as=Table`, `as=PartialObjectMetadata`) this server does not do. */
const TRANSFORM_PARAMS = new Set(['as', 'g', 'v']);

interface Clause {
  type: string;
  q: number;
  params: Map<string, string>;
}

function parseAccept(header: string): Clause[] {
  const clauses: Clause[] = [];
  for (const part of header.split(',')) {
    const [mt, ...ps] = part.split(';').map((s) => s.trim());
    if (!mt) continue;
    const params = new Map<string, string>();
    for (const p of ps) {
      const eq = p.indexOf('=');
      if (eq > 0) params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim());
    }
    const q = params.has('q') ? Number(params.get('q')) : 1;
    params.delete('q');
    clauses.push({ type: mt.toLowerCase(), q: Number.isFinite(q) ? q : 0, params });
  }
  // goautoneg orders by quality, then by specificity; equal clauses keep the client's order
  const specificity = (c: Clause) => (c.type === '*/*' ? 0 : c.type.endsWith('/*') ? 1 : 2);
  return clauses
    .map((c, i) => ({ c, i }))
    .sort((a, b) => b.c.q - a.c.q || specificity(b.c) - specificity(a.c) || a.i - b.i)
    .map((x) => x.c);
}

/** The media type of the response, or undefined when nothing offered is acceptable (406). */
export function negotiate(accept: string | undefined): Media | undefined {
  if (!accept || accept.trim() === '') return 'json';
  for (const c of parseAccept(accept)) {
    if (c.q <= 0) continue;
    if ([...c.params.keys()].some((k) => TRANSFORM_PARAMS.has(k))) continue;
    if (c.type === PROTOBUF_CONTENT_TYPE) return 'protobuf';
    if (c.type === '*/*' || c.type === 'application/*' || OFFERED.includes(c.type)) return 'json';
  }
  return undefined;
}

/** A list or a watch that accepts nothing offered (ListResource negotiates before it knows which). */
export function notAcceptable(): ApiError {
  return failure(406, 'NotAcceptable', `only the following media types are accepted: ${OFFERED.join(', ')}`);
}

/** How a resource's objects go out when protobuf was negotiated. */
export function protobufFor(rt: ResourceType): 'protobuf' | 'json' | 'unmarshalable' {
  if (rt.custom) return 'unmarshalable';
  return isBuiltinProtoKind(apiVersionOf(rt), rt.kind) ? 'protobuf' : 'json';
}

function unmarshalable(what: string): Status {
  return failure(406, 'NotAcceptable', `object ${what} does not implement the protobuf marshalling interface and cannot be encoded to a protobuf message`)
    .status;
}

export interface Body {
  code: number;
  contentType: string;
  bytes: Buffer;
}

/**
 * The response for `obj` (an object, a list, or a Status) with `code`. `rt` is the resource the
 * request addressed, undefined outside one; fields the protobuf schema lacks go to `dropped`.
 */
export function encodeBody(media: Media, code: number, obj: Obj, rt: ResourceType | undefined, dropped?: string[]): Body {
  const isStatus = obj.kind === 'Status' && obj.apiVersion === 'v1';
  const how = media === 'json' ? 'json' : isStatus ? 'protobuf' : rt ? protobufFor(rt) : 'json';
  if (how === 'json') {
    const text = JSON.stringify(obj);
    return { code, contentType: JSON_TYPE, bytes: Buffer.from(text) };
  }
  if (how === 'unmarshalable') {
    const st = unmarshalable(String(obj.kind).endsWith('List') ? '*unstructured.UnstructuredList' : '*unstructured.Unstructured');
    // the original error's code stands; a success becomes the 406
    return encodeBody('protobuf', code >= 200 && code < 400 ? 406 : code, st as unknown as Obj, undefined);
  }
  const bytes = encodeObject(serverSchema, String(obj.apiVersion), String(obj.kind), obj, dropped);
  return { code, contentType: PROTOBUF_CONTENT_TYPE, bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length) };
}

export interface WatchEncoder {
  contentType: string;
  /** The bytes of one event, or undefined when it cannot be written (the stream then ends). */
  encode(type: string, object: Obj): Buffer | undefined;
}

export function watchEncoder(media: Media, rt: ResourceType, dropped?: string[]): WatchEncoder {
  const how = media === 'json' ? 'json' : protobufFor(rt);
  if (how === 'json') return { contentType: JSON_TYPE, encode: (type, object) => Buffer.from(`${JSON.stringify({ type, object })}\n`) };
  return {
    contentType: `${PROTOBUF_CONTENT_TYPE};stream=watch`,
    encode: (type, object) => {
      const isStatus = object.kind === 'Status' && object.apiVersion === 'v1';
      if (how === 'unmarshalable' && !isStatus) return undefined;
      const apiVersion = isStatus ? 'v1' : apiVersionOf(rt);
      const kind = isStatus ? 'Status' : rt.kind;
      const frame = encodeWatchFrame(serverSchema, type, encodeObject(serverSchema, apiVersion, kind, object, dropped));
      return Buffer.from(frame.buffer, frame.byteOffset, frame.length);
    },
  };
}
