// How list and watch bodies travel. JSON serves every kind; the built-in kinds the agent lists
// and watches on every node also come as protobuf (application/vnd.kubernetes.protobuf), about a
// quarter of the bytes and a tenth of the server's encoding time. Both decode to the same
// JSON-shaped objects, so caches and planners never know which one was used. The codec is
// chosen by the response's Content-Type: a server that answers JSON to a protobuf Accept (an
// aggregated API, a stand-in) is still understood. Custom resources must be asked for JSON
// alone: a 1.32 API server answers 406 to protobuf first even with the JSON fallback
// (kubernetes/kubernetes#86253).

export type WireWatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/** An object in its JSON shape (the shape `kubectl get -o json` prints). */
export type WireObject = Record<string, unknown> & { metadata?: Record<string, unknown> };

export interface WireWatchEvent {
  type: WireWatchEventType;
  /** For ERROR a metav1.Status; for BOOKMARK an object whose metadata holds only the resourceVersion. */
  object: WireObject;
}

export interface WireList {
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
  items: WireObject[];
}

/** Turns the chunks of one watch response into whole events, in order. */
export interface WatchStreamDecoder {
  push(chunk: Uint8Array): WireWatchEvent[];
  /** The stream ended; throws when it ended inside an event. */
  end(): void;
}

export interface WireCodec {
  /** The Accept header for lists and watches; always ends with a JSON fallback. */
  readonly accept: string;
  /** Whether this codec reads a response of this Content-Type. */
  handles(contentType: string): boolean;
  decodeList(body: Uint8Array): WireList;
  watchDecoder(): WatchStreamDecoder;
}

export const JSON_CONTENT_TYPE = 'application/json';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export const jsonCodec: WireCodec = {
  accept: JSON_CONTENT_TYPE,
  handles: (contentType) => contentType.split(';')[0]!.trim().toLowerCase() === JSON_CONTENT_TYPE,
  decodeList(body) {
    const list = JSON.parse(utf8.decode(body)) as {
      metadata?: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
      items?: WireObject[];
    };
    return {
      resourceVersion: list.metadata?.resourceVersion ?? '',
      ...(list.metadata?.continue ? { continue: list.metadata.continue } : {}),
      ...(list.metadata?.remainingItemCount !== undefined ? { remainingItemCount: list.metadata.remainingItemCount } : {}),
      items: list.items ?? [],
    };
  },
  watchDecoder() {
    // The JSON watch stream is one event per line; a line may span chunks.
    const decoder = new TextDecoder('utf-8', { fatal: true });
    let pending = '';
    return {
      push(chunk) {
        pending += decoder.decode(chunk, { stream: true });
        const events: WireWatchEvent[] = [];
        let nl = pending.indexOf('\n');
        while (nl >= 0) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (line) events.push(JSON.parse(line) as WireWatchEvent);
          nl = pending.indexOf('\n');
        }
        return events;
      },
      end() {
        pending += decoder.decode();
        if (pending.trim()) throw new Error('watch stream ended inside an event');
      },
    };
  },
};
