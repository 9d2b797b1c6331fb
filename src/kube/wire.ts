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

export interface WireList<T = WireObject> {
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
  items: T[];
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
  /**
   * A list page; `each` (default: keep as is) turns every item into what the list holds as the
   * item is read, so a caller that keeps little of each never holds the whole decoded page.
   */
  decodeList<T = WireObject>(body: Uint8Array, each?: (item: WireObject) => T): WireList<T>;
  watchDecoder(): WatchStreamDecoder;
}

export const JSON_CONTENT_TYPE = 'application/json';

function page<T>(meta: { resourceVersion?: string; continue?: string; remainingItemCount?: number } | undefined, items: T[]): WireList<T> {
  return {
    resourceVersion: meta?.resourceVersion ?? '',
    ...(meta?.continue ? { continue: meta.continue } : {}),
    ...(meta?.remainingItemCount !== undefined ? { remainingItemCount: meta.remainingItemCount } : {}),
    items,
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export const jsonCodec: WireCodec = {
  accept: JSON_CONTENT_TYPE,
  handles: (contentType) => contentType.split(';')[0]!.trim().toLowerCase() === JSON_CONTENT_TYPE,
  decodeList<T = WireObject>(body: Uint8Array, each?: (item: WireObject) => T): WireList<T> {
    const list = JSON.parse(utf8.decode(body)) as {
      metadata?: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
      items?: WireObject[];
    };
    const raw = list.items ?? [];
    if (!each) return page(list.metadata, raw as T[]);
    // JSON.parse builds the whole page at once; each raw item is let go as it is transformed.
    const items: T[] = [];
    for (let i = 0; i < raw.length; i++) {
      const o = raw[i]!;
      raw[i] = undefined as never;
      items.push(each(o));
    }
    return page(list.metadata, items);
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
