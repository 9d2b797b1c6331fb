// The watch cache: each resource's objects with a ring buffer of recent changes (so a list at
// an older resourceVersion and a watch from one can be served), and watchers with the
// cacheWatcher's selector-transition semantics (an object leaving the selection is DELETED
// for that watcher). Events reach a watcher in order, on a microtask, as clones (or, for a
// watcher that only serialises them, as the stored objects).
import { timeout, tooOldResourceVersion } from './errors.js';
import { parseRv } from './resource-version.js';
import { type Obj, type ResourceType, apiVersionOf } from './resource-type.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
export interface WatchEvent {
  type: WatchEventType;
  object: Obj;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** unset or "0": synthetic ADDED for every current object, then changes; "N": every change after N. */
  resourceVersion?: string;
  /** The callback only reads (serialises) each event's object and keeps no reference to it: it gets the stored object itself, not a copy. */
  shared?: boolean;
}

export interface HistoryEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  key: string;
  obj: Obj;
  prev: Obj | undefined;
}

export interface ResourceState {
  rt: ResourceType;
  objects: Map<string, Obj>;
  history: HistoryEvent[];
  /** Every event of this resource with rv > horizon is in `history`. */
  horizon: number;
  watchers: Set<Watcher>;
}

export interface WatchHandle {
  close(): void;
  /** Queue a BOOKMARK carrying the current resourceVersion (in order with the other events). */
  bookmark(): void;
  readonly closed: boolean;
}

export class Watcher implements WatchHandle {
  #queue: WatchEvent[] = [];
  #scheduled = false;
  #closed = false;
  lastRv = 0;
  constructor(
    readonly state: ResourceState,
    readonly matches: (o: Obj) => boolean,
    readonly cb: (ev: WatchEvent) => void,
    readonly currentRv: () => number,
    readonly onClose: () => void,
    readonly shared = false,
  ) {}
  get closed(): boolean {
    return this.#closed;
  }
  offer(ev: HistoryEvent): void {
    if (this.#closed || ev.rv <= this.lastRv) return;
    this.lastRv = ev.rv;
    // cacheWatcher.convertToWatchEvent
    const cur = ev.type !== 'DELETED' && this.matches(ev.obj);
    const old = ev.prev !== undefined && this.matches(ev.prev);
    if (cur && !old) this.push({ type: 'ADDED', object: ev.obj });
    else if (cur && old) this.push({ type: 'MODIFIED', object: ev.obj });
    else if (!cur && old) {
      const o = structuredClone(ev.prev!);
      o.metadata.resourceVersion = String(ev.rv);
      this.push({ type: 'DELETED', object: o });
    }
  }
  push(ev: WatchEvent): void {
    if (this.#closed) return;
    this.#queue.push(ev);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#drain());
    }
  }
  #drain(): void {
    this.#scheduled = false;
    while (this.#queue.length > 0 && !this.#closed) {
      const ev = this.#queue.shift()!;
      try {
        this.cb({ type: ev.type, object: this.shared ? ev.object : structuredClone(ev.object) });
      } catch {
        // a watcher's callback failing must not break the others
      }
      if (ev.type === 'ERROR') this.close();
    }
  }
  bookmark(): void {
    const rt = this.state.rt;
    this.push({ type: 'BOOKMARK', object: { kind: rt.kind, apiVersion: apiVersionOf(rt), metadata: { resourceVersion: String(this.currentRv()) } } });
  }
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.state.watchers.delete(this);
    this.onClose();
  }
}

/** Appends a change to the history (dropping the oldest beyond `historySize`) and offers it to every watcher. */
export function recordEvent(st: ResourceState, ev: HistoryEvent, historySize: number): void {
  st.history.push(ev);
  while (st.history.length > historySize) st.horizon = st.history.shift()!.rv;
  for (const w of st.watchers) w.offer(ev);
}

/** The objects of a resource as they were at `rv` (undo the history after it). */
export function stateAt(st: ResourceState, rv: number): Map<string, Obj> {
  const m = new Map(st.objects);
  for (let i = st.history.length - 1; i >= 0; i--) {
    const ev = st.history[i]!;
    if (ev.rv <= rv) break;
    if (ev.prev === undefined) m.delete(ev.key);
    else m.set(ev.key, ev.prev);
  }
  return m;
}

/**
 * A watch from `rvText`: unset or "0" starts with a synthetic ADDED per current object; "N"
 * replays every change after N, or ends with an ERROR event (410 when N left the history).
 */
export function startWatch(
  st: ResourceState,
  pred: (o: Obj) => boolean,
  cb: (ev: WatchEvent) => void,
  rvText: string,
  currentRv: () => number,
  onClose: () => void,
  shared = false,
): WatchHandle {
  const w = new Watcher(st, pred, cb, currentRv, onClose, shared);
  if (rvText === '' || rvText === '0') {
    const keys = [...st.objects.keys()].sort();
    for (const k of keys) {
      const o = st.objects.get(k)!;
      if (pred(o)) w.push({ type: 'ADDED', object: o });
    }
  } else {
    const rv = parseRv(rvText);
    if (rv < st.horizon) {
      w.push({ type: 'ERROR', object: tooOldResourceVersion(rv, st.horizon + 1).status as unknown as Obj });
      return w;
    }
    if (rv > currentRv()) {
      w.push({ type: 'ERROR', object: timeout(`Too large resource version: ${rv}, current: ${currentRv()}`).status as unknown as Obj });
      return w;
    }
    for (const ev of st.history) if (ev.rv > rv) w.offer(ev);
  }
  w.lastRv = currentRv();
  st.watchers.add(w);
  return w;
}
