// The protobuf WireCodec: lists and watch streams of the built-in kinds podlb reads, decoded
// with the client's minimal schema into the same JSON-shaped objects the JSON codec yields.
// Use it only for built-in kinds: a 1.32 API server answers a custom resource asked for
// protobuf with 406 even when JSON is also acceptable (kubernetes/kubernetes#86253).
import type { WireCodec, WireList, WireObject, WireWatchEvent, WireWatchEventType } from '../wire.js';
import { JSON_CONTENT_TYPE } from '../wire.js';
import { decodeListToJson } from './decode.js';
import { FrameReader, PROTOBUF_CONTENT_TYPE, ProtobufDecodeError, decodeObject, decodeWatchEvent, typeFor, unwrapUnknown } from './envelope.js';
import { type ProtoSchema, clientSchema } from './schema.js';

const EVENT_TYPES = new Set<string>(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

export function isProtobufContentType(contentType: string): boolean {
  return contentType.split(';')[0]!.trim().toLowerCase() === PROTOBUF_CONTENT_TYPE;
}

export function decodeProtobufList<T = WireObject>(schema: ProtoSchema, body: Uint8Array, each?: (item: WireObject) => T): WireList<T> {
  const e = unwrapUnknown(schema, body);
  if (!e.kind.endsWith('List')) throw new ProtobufDecodeError(`expected a list, got ${e.apiVersion} ${e.kind}`);
  const list = decodeListToJson(typeFor(schema, e.apiVersion, e.kind), e.raw, each ?? ((o) => o as T));
  const meta = list.metadata ?? {};
  return {
    resourceVersion: (meta.resourceVersion as string | undefined) ?? '',
    ...(meta.continue ? { continue: meta.continue as string } : {}),
    ...(meta.remainingItemCount !== undefined ? { remainingItemCount: meta.remainingItemCount as number } : {}),
    items: list.items,
  };
}

export function protobufWatchDecoder(schema: ProtoSchema) {
  const frames = new FrameReader();
  return {
    push(chunk: Uint8Array): WireWatchEvent[] {
      return frames.push(chunk).map((f) => {
        const ev = decodeWatchEvent(schema, f);
        if (!EVENT_TYPES.has(ev.type)) throw new ProtobufDecodeError(`unknown watch event type ${JSON.stringify(ev.type)}`);
        return { type: ev.type as WireWatchEventType, object: decodeObject(schema, ev.object) as WireObject };
      });
    },
    end(): void {
      if (frames.pending > 0) throw new Error('watch stream ended inside an event');
    },
  };
}

export const protobufCodec: WireCodec = {
  accept: `${PROTOBUF_CONTENT_TYPE}, ${JSON_CONTENT_TYPE}`,
  handles: isProtobufContentType,
  decodeList: (body, each) => decodeProtobufList(clientSchema, body, each),
  watchDecoder: () => protobufWatchDecoder(clientSchema),
};
