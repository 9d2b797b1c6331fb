// The envelope Kubernetes puts around protobuf bodies, one piece for the client that reads it
// and the in-process API server that writes it (k8s.io/apimachinery/pkg/runtime/serializer/
// protobuf): a whole body is the magic "k8s\0" then a runtime.Unknown holding the TypeMeta and
// the object's bytes; a watch stream is frames, each a 4-byte big-endian length then a
// metav1.WatchEvent written without magic or envelope (the raw serializer), whose
// object.raw is an enveloped body again.
import { messageFromJson } from './convert.js';
import { decodeToJson } from './decode.js';
import type { ProtoSchema } from './schema.js';

export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';
export const MAGIC = Uint8Array.of(0x6b, 0x38, 0x73, 0x00);

const UNKNOWN = 'k8s.io.apimachinery.pkg.runtime.Unknown';
const WATCH_EVENT = 'k8s.io.apimachinery.pkg.apis.meta.v1.WatchEvent';

type Json = Record<string, unknown>;

export interface Enveloped {
  apiVersion: string;
  kind: string;
  raw: Uint8Array;
}

export class ProtobufDecodeError extends Error {
  override readonly name = 'ProtobufDecodeError';
}

export function wrapUnknown(schema: ProtoSchema, e: Enveloped): Uint8Array {
  const body = schema
    .type(UNKNOWN)
    .encode({ typeMeta: { apiVersion: e.apiVersion, kind: e.kind }, raw: e.raw })
    .finish();
  const out = new Uint8Array(MAGIC.length + body.length);
  out.set(MAGIC, 0);
  out.set(body, MAGIC.length);
  return out;
}

export function unwrapUnknown(schema: ProtoSchema, bytes: Uint8Array): Enveloped {
  if (bytes.length < MAGIC.length || MAGIC.some((b, i) => bytes[i] !== b))
    throw new ProtobufDecodeError('protobuf body does not start with the magic "k8s\\0"');
  const u = schema.type(UNKNOWN).decode(bytes.subarray(MAGIC.length)) as unknown as { typeMeta?: { apiVersion?: string; kind?: string }; raw?: Uint8Array };
  return { apiVersion: u.typeMeta?.apiVersion ?? '', kind: u.typeMeta?.kind ?? '', raw: u.raw ?? new Uint8Array(0) };
}

export function typeFor(schema: ProtoSchema, apiVersion: string, kind: string) {
  const t = schema.typeOf(apiVersion, kind);
  if (!t) throw new ProtobufDecodeError(`no protobuf schema for ${apiVersion} ${kind}`);
  return t;
}

/** An object (a kind, a list, a Status) in its JSON shape, enveloped. TypeMeta comes from the arguments, not the object. */
export function encodeObject(schema: ProtoSchema, apiVersion: string, kind: string, obj: Json, dropped?: string[]): Uint8Array {
  const t = typeFor(schema, apiVersion, kind);
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return wrapUnknown(schema, { apiVersion, kind, raw: t.encode(messageFromJson(t, rest, dropped)).finish() });
}

/** An enveloped object in its JSON shape, with apiVersion and kind from the envelope as JSON carries them. */
export function decodeObject(schema: ProtoSchema, bytes: Uint8Array): Json & { apiVersion: string; kind: string } {
  const e = unwrapUnknown(schema, bytes);
  const t = typeFor(schema, e.apiVersion, e.kind);
  return { apiVersion: e.apiVersion, kind: e.kind, ...decodeToJson(t, e.raw) };
}

/** One watch frame: the length prefix, then the WatchEvent whose object is the enveloped `object`. */
export function encodeWatchFrame(schema: ProtoSchema, type: string, object: Uint8Array): Uint8Array {
  const ev = schema
    .type(WATCH_EVENT)
    .encode({ type, object: { raw: object } })
    .finish();
  const out = new Uint8Array(4 + ev.length);
  new DataView(out.buffer).setUint32(0, ev.length, false);
  out.set(ev, 4);
  return out;
}

export function decodeWatchEvent(schema: ProtoSchema, frame: Uint8Array): { type: string; object: Uint8Array } {
  const ev = schema.type(WATCH_EVENT).decode(frame) as unknown as { type?: string; object?: { raw?: Uint8Array } };
  return { type: ev.type ?? '', object: ev.object?.raw ?? new Uint8Array(0) };
}

/** Cuts a byte stream into length-prefixed frames; a frame or its prefix may span chunks. */
export class FrameReader {
  #buf = new Uint8Array(0);

  push(chunk: Uint8Array): Uint8Array[] {
    const buf = this.#buf.length === 0 ? chunk : concat(this.#buf, chunk);
    const frames: Uint8Array[] = [];
    let at = 0;
    while (buf.length - at >= 4) {
      const len = new DataView(buf.buffer, buf.byteOffset + at, 4).getUint32(0, false);
      if (buf.length - at - 4 < len) break;
      frames.push(buf.subarray(at + 4, at + 4 + len));
      at += 4 + len;
    }
    // keep a copy of the tail: the caller may reuse the chunk's buffer
    this.#buf = buf.slice(at);
    return frames;
  }

  /** Bytes of an unfinished frame. */
  get pending(): number {
    return this.#buf.length;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
