// Kubernetes Events for every decision a user would ask about. Repeats are folded into one
// Event with a count (as client-go's recorder does), so a broken object costs one Event per
// interval, not one per reconcile. Failing to record an Event never fails a reconcile.
//
// Every Event names its object's uid, so `kubectl describe` shows it (it lists Events by
// involvedObject kind, name, namespace AND uid): a ref without one gets it from `uidOf`, the
// caches of the process (or, for an object the process writes itself, once that write is
// done). An object the caches do not hold (deleted meanwhile) gets an Event without uid:
// `kubectl get events` lists it, no describe can, and there is no object left to describe. A
// re-created object of the same name has another uid, so its Events are its own.
import type { Logger } from 'pino';
import type { ObjectRef } from '../api/problem.js';
import { limiter } from '../util/concurrency.js';
import type { KubeClient } from './client.js';

export interface EventToRecord {
  object: ObjectRef;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

interface Seen {
  /** The created Event's name; undefined while the create is in flight or after it failed. */
  created: Promise<string | undefined>;
  namespace: string;
  count: number;
  lastSent: number;
}

/** The uid of the object a ref names, when the process knows it; undefined for one it does not hold. */
export type EventUidOf = (ref: ObjectRef) => string | undefined | Promise<string | undefined>;

/** Event writes in flight at once per recorder (recordLater). */
export const EVENT_WRITES_IN_FLIGHT = 2;

export class EventRecorder {
  readonly #client: KubeClient;
  readonly #log: Logger;
  readonly #component: string;
  readonly #host: string;
  readonly #seen = new Map<string, Seen>();
  /** Repeats within this window only bump the count (at most once per repeatEveryMs). */
  readonly #windowMs: number;
  readonly #repeatEveryMs: number;
  readonly #now: () => number;
  readonly #slot: <R>(fn: () => Promise<R>) => Promise<R>;
  readonly #pending = new Set<Promise<void>>();
  readonly #uidOf: EventUidOf;

  constructor(
    client: KubeClient,
    log: Logger,
    opts: { component: string; host: string; windowMs?: number; repeatEveryMs?: number; now?: () => number; inFlight?: number; uidOf?: EventUidOf },
  ) {
    this.#client = client;
    this.#log = log;
    this.#component = opts.component;
    this.#host = opts.host;
    this.#windowMs = opts.windowMs ?? 10 * 60_000;
    this.#repeatEveryMs = opts.repeatEveryMs ?? 60_000;
    this.#now = opts.now ?? Date.now;
    this.#slot = limiter(opts.inFlight ?? EVENT_WRITES_IN_FLIGHT);
    this.#uidOf = opts.uidOf ?? (() => undefined);
  }

  /**
   * Records in the background, at most `inFlight` writes at once: a caller with a burst of
   * Events (200 Pods registered at once) goes on at once, and Events, best effort, never crowd
   * out the writes that matter (readiness gates) in the API server's fairness.
   */
  recordLater(ev: EventToRecord): void {
    const write = this.#slot(() => this.record(ev)).finally(() => this.#pending.delete(write));
    this.#pending.add(write);
  }

  /** Resolves once every recordLater() so far is done (shutdown, tests). */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all(this.#pending);
  }

  async record(ev: EventToRecord): Promise<void> {
    const uid = ev.object.uid ?? (await this.#uidOf(ev.object));
    const object = uid === undefined ? ev.object : { ...ev.object, uid };
    const key = [object.kind, object.namespace ?? '', object.name, object.uid ?? '', ev.type, ev.reason, ev.message].join('\u0000');
    const now = this.#now();
    const seen = this.#seen.get(key);
    const ts = new Date(now).toISOString();
    if (seen && now - seen.lastSent < this.#windowMs) {
      seen.count += 1;
      if (now - seen.lastSent < this.#repeatEveryMs) return;
      seen.lastSent = now;
      const name = await seen.created;
      if (name === undefined) return;
      try {
        await this.#client.patch(`/api/v1/namespaces/${seen.namespace}/events/${name}`, { count: seen.count, lastTimestamp: ts }, 'merge');
      } catch (err) {
        this.#log.warn({ err, reason: ev.reason, object: `${ev.object.kind}/${ev.object.name}` }, 'could not record event');
      }
      return;
    }
    // Events about cluster-scoped objects live in `default`, as kubectl describe expects.
    const namespace = object.namespace ?? 'default';
    // The key is taken before the create is sent: a repeat that comes while it is in flight
    // (the next pass, or the same problem twice in one) is counted, not created again.
    let done!: (name: string | undefined) => void;
    const entry: Seen = { created: new Promise((res) => (done = res)), namespace, count: 1, lastSent: now };
    this.#seen.set(key, entry);
    if (this.#seen.size > 5000) this.#evict(now);
    try {
      const created = await this.#client.create<{ metadata: { name: string } }>(`/api/v1/namespaces/${namespace}/events`, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${object.name.slice(0, 200)}.`, namespace },
        involvedObject: { apiVersion: object.apiVersion, kind: object.kind, name: object.name, namespace: object.namespace, uid: object.uid },
        type: ev.type,
        reason: ev.reason,
        message: ev.message.slice(0, 1024),
        source: { component: this.#component, host: this.#host },
        reportingComponent: `podlb.io/${this.#component}`,
        reportingInstance: `${this.#component}-${this.#host}`,
        firstTimestamp: ts,
        lastTimestamp: ts,
        count: 1,
      });
      done(created.metadata.name);
    } catch (err) {
      done(undefined);
      // Not recorded: the next occurrence tries again.
      if (this.#seen.get(key) === entry) this.#seen.delete(key);
      this.#log.warn({ err, reason: ev.reason, object: `${ev.object.kind}/${ev.object.name}` }, 'could not record event');
    }
  }

  #evict(now: number): void {
    for (const [k, v] of this.#seen) if (now - v.lastSent > this.#windowMs) this.#seen.delete(k);
  }
}
