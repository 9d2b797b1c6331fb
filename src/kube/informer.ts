// The informer every podlb binary watches the API with (design §7), built for 1,000 nodes each
// watching the same collections: lists come in pages (`limit`/`continue`), the watch starts at
// the list's resourceVersion with bookmarks and resumes from the last one seen after a dropped
// connection or a server-side timeout, so a list (the expensive request for the API server)
// happens only when the server says the history is gone (410 Expired) or the watchdog finds a
// watch that went silent. A relist is diffed against the cache, so consumers see only what
// changed. Objects are transformed on arrival (keep only what is read) and indexed. Callbacks
// only signal, and only for changes the consumer's `relevant` says can matter to it.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { KubeApiError, type KubeClient } from './client.js';
import { type CacheChange, type Indexers, InformerCache, objectKey } from './informer-cache.js';
import { jsonCodec, type WireCodec, type WireList, type WireObject, type WireWatchEvent } from './wire.js';
import { backoff, type BackoffPolicy } from '../util/backoff.js';

export interface InformerOptions<T = KubernetesObject> {
  /** Collection path, e.g. `/api/v1/pods` or `/apis/podlb.io/v1alpha1/bgppeers`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Called when a change the consumer finds relevant arrives, and after the first list. Must only signal. */
  onChange: () => void;
  log: Logger;
  backoff?: BackoffPolicy;
  /** Relist when nothing (event, bookmark, reconnect) was seen for this long. */
  watchdogMs?: number;
  /** Objects per list page. */
  limit?: number;
  /** Shortest server-side watch timeout; each watch asks for 1–2× this (client-go's reflector: 5–10 min). */
  minWatchTimeoutSeconds?: number;
  /** How bodies are asked for and read; JSON answers are always understood. */
  codec?: WireCodec;
  /** What the cache keeps of an object as it arrives. Default: all of it. */
  transform?: (obj: WireObject) => T;
  /** Whether a change (before or after undefined: added or deleted) can matter; default every change does. */
  relevant?: (before: T | undefined, after: T | undefined) => boolean;
  indexers?: Indexers<T>;
  random?: () => number;
}

type Outcome = 'ended' | 'expired';

const isExpired = (err: unknown): boolean => err instanceof KubeApiError && (err.status === 410 || err.reason === 'Expired' || err.reason === 'Gone');

export class ResilientInformer<T extends KubernetesObject> {
  readonly #o: Required<Omit<InformerOptions<T>, 'labelSelector' | 'fieldSelector' | 'transform' | 'relevant' | 'indexers'>> &
    Pick<InformerOptions<T>, 'labelSelector' | 'fieldSelector' | 'transform' | 'relevant'>;
  readonly #client: KubeClient;
  readonly #cache: InformerCache<T>;
  #rv = '';
  #failures = 0;
  #lastSeen = Date.now();
  #synced = false;
  #stopped = true;
  #abort: AbortController | undefined;
  #watching = false;
  #watchdogFired = false;
  #watchdog: NodeJS.Timeout | undefined;
  #sleep: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  #done: Promise<void> | undefined;
  /** Restarts so far, by cause (error: a failed request or dropped watch; relist: the server's 410). */
  readonly restarts = { error: 0, watchdog: 0, relist: 0 };
  /** Requests so far: lists (each complete, however many pages) and watches. */
  readonly requests = { lists: 0, pages: 0, watches: 0 };

  constructor(client: KubeClient, opts: InformerOptions<T>) {
    this.#client = client;
    this.#o = {
      backoff: { baseMs: 250, maxMs: 30_000 },
      watchdogMs: 5 * 60_000,
      limit: 500,
      minWatchTimeoutSeconds: 300,
      codec: jsonCodec,
      random: Math.random,
      ...opts,
    };
    this.#cache = new InformerCache(opts.indexers);
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** The resourceVersion the next watch starts from. */
  get resourceVersion(): string {
    return this.#rv;
  }

  /** Items as of the last event; a relist keeps serving them until its last page lands. */
  list(): readonly T[] {
    return this.#cache.list();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#cache.get(objectKey({ name, namespace }));
  }

  byIndex(index: string, value: string): readonly T[] {
    return this.#cache.byIndex(index, value);
  }

  /** Every object the index holds under any value. */
  indexed(index: string): readonly T[] {
    return this.#cache.indexed(index);
  }

  /**
   * Resolves once the first list is in and its watch open, or after the first failure (synced
   * tells which); retries go on in the background.
   */
  async start(): Promise<void> {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#startWatchdog();
    let firstAttempt!: () => void;
    const attempted = new Promise<void>((r) => (firstAttempt = r));
    this.#done = this.#run(firstAttempt);
    await attempted;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#watchdog);
    this.#abort?.abort();
    this.#sleep?.wake();
    await this.#done;
  }

  async #run(firstAttempt: () => void): Promise<void> {
    let needList = true;
    while (!this.#stopped) {
      const abort = new AbortController();
      this.#abort = abort;
      this.#watchdogFired = false;
      try {
        if (needList) {
          await this.#list(abort.signal);
          needList = false;
          this.#failures = 0;
        }
        const started = Date.now();
        const { outcome, events } = await this.#watch(abort.signal, firstAttempt);
        if (outcome === 'expired') {
          needList = true;
          this.restarts.relist += 1;
          this.#o.log.info({ path: this.#o.path, resourceVersion: this.#rv }, 'watch history expired; relisting');
        } else if (events === 0 && Date.now() - started < 1000) {
          // A stream that ends at once with nothing in it, again and again, must not spin.
          this.#failures += 1;
          await this.#pause(this.#backoffMs());
        } else this.#failures = 0;
      } catch (err) {
        firstAttempt();
        if (this.#stopped) break;
        if (this.#watchdogFired) {
          needList = true;
          continue;
        }
        if (isExpired(err)) {
          needList = true;
          this.restarts.relist += 1;
          continue;
        }
        // A failed list lists again; a dropped watch resumes from the last resourceVersion.
        this.#failures += 1;
        this.restarts.error += 1;
        const delay = this.#backoffMs();
        this.#o.log.warn(
          { path: this.#o.path, err, retryInMs: Math.round(delay), failures: this.#failures, relist: needList },
          'informer request failed; retrying',
        );
        await this.#pause(delay);
      } finally {
        this.#watching = false;
      }
    }
    firstAttempt();
  }

  #backoffMs(): number {
    return backoff(this.#failures, this.#o.backoff, this.#o.random);
  }

  #pause(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#sleep = undefined;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleep = { timer, wake };
    });
  }

  #selectors(): Record<string, string | undefined> {
    return { labelSelector: this.#o.labelSelector, fieldSelector: this.#o.fieldSelector };
  }

  #decoder(contentType: string): WireCodec {
    const codec = [this.#o.codec, jsonCodec].find((c) => c.handles(contentType));
    if (!codec) throw new Error(`${this.#o.path}: unexpected Content-Type ${JSON.stringify(contentType)}`);
    return codec;
  }

  #take(raw: WireObject): { key: string; obj: T; rv: string } {
    const meta = raw.metadata ?? {};
    const rv = typeof meta.resourceVersion === 'string' ? meta.resourceVersion : '';
    return { key: objectKey(meta), obj: (this.#o.transform ? this.#o.transform(raw) : raw) as T, rv };
  }

  /** A complete list, page by page; the cache is replaced only when the last page is in. */
  async #list(signal: AbortSignal): Promise<void> {
    const items = new Map<string, { obj: T; rv: string }>();
    let cont: string | undefined;
    let rv = '';
    for (;;) {
      let page: WireList<{ key: string; obj: T; rv: string }>;
      try {
        const res = await this.#client.getBytes(
          this.#o.path,
          { ...this.#selectors(), limit: String(this.#o.limit), continue: cont },
          this.#o.codec.accept,
          signal,
        );
        // Transformed as decoded: only what the cache keeps of a page outlives its decoding.
        page = this.#decoder(res.contentType).decodeList(res.body, (raw) => this.#take(raw));
      } catch (err) {
        // The continue token outlived the server's compaction: only a fresh list is consistent.
        if (cont === undefined || !isExpired(err)) throw err;
        this.#o.log.info({ path: this.#o.path }, 'list continuation expired; listing again');
        items.clear();
        cont = undefined;
        continue;
      }
      this.requests.pages += 1;
      for (const t of page.items) items.set(t.key, { obj: t.obj, rv: t.rv });
      rv = page.resourceVersion;
      cont = page.continue;
      if (!cont) break;
    }
    this.requests.lists += 1;
    const changes = this.#cache.replace(items);
    this.#rv = rv;
    this.#lastSeen = Date.now();
    const first = !this.#synced;
    this.#synced = true;
    if (first || changes.some((c) => this.#matters(c))) this.#o.onChange();
  }

  #matters(c: CacheChange<T>): boolean {
    return this.#o.relevant ? this.#o.relevant(c.before, c.after) : true;
  }

  async #watch(signal: AbortSignal, opened: () => void): Promise<{ outcome: Outcome; events: number }> {
    const timeoutSeconds = Math.floor(this.#o.minWatchTimeoutSeconds * (1 + this.#o.random()));
    const query = { ...this.#selectors(), watch: 'true', resourceVersion: this.#rv, allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutSeconds) };
    this.requests.watches += 1;
    const res = await this.#client.stream(this.#o.path, query, this.#o.codec.accept, signal);
    this.#watching = true;
    this.#lastSeen = Date.now();
    opened();
    const decoder = this.#decoder(res.contentType).watchDecoder();
    let events = 0;
    for await (const chunk of res.body) {
      for (const ev of decoder.push(chunk)) {
        events += 1;
        if (this.#apply(ev) === 'expired') return { outcome: 'expired', events };
      }
    }
    decoder.end();
    return { outcome: 'ended', events };
  }

  #apply(ev: WireWatchEvent): Outcome | undefined {
    this.#lastSeen = Date.now();
    if (ev.type === 'ERROR') {
      const s = ev.object as { code?: number; reason?: string; message?: string };
      const err = new KubeApiError(s.code ?? 0, s.reason ?? '', `watch ${this.#o.path}: ${s.message ?? 'error event'}`);
      if (isExpired(err)) return 'expired';
      throw err;
    }
    const { key, obj, rv } = this.#take(ev.object);
    if (rv) this.#rv = rv;
    if (ev.type === 'BOOKMARK') return undefined;
    let change: CacheChange<T>;
    if (ev.type === 'DELETED') change = { key, before: this.#cache.delete(key), after: undefined };
    else change = { key, before: this.#cache.set(key, obj, rv), after: obj };
    if (change.before === undefined && change.after === undefined) return undefined;
    if (this.#matters(change)) this.#o.onChange();
    return undefined;
  }

  #startWatchdog(): void {
    clearInterval(this.#watchdog);
    const period = Math.max(250, Math.floor(this.#o.watchdogMs / 4));
    this.#watchdog = setInterval(() => {
      if (this.#stopped || !this.#watching) return;
      const quietMs = Date.now() - this.#lastSeen;
      if (quietMs <= this.#o.watchdogMs) return;
      this.restarts.watchdog += 1;
      this.#o.log.warn({ path: this.#o.path, quietMs }, 'watch silent too long; relisting');
      this.#watchdogFired = true;
      this.#abort?.abort();
    }, period);
    this.#watchdog.unref();
  }
}
