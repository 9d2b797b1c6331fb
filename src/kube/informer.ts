// client-node's informer (ListWatch) stops on most errors and can go silent. This wraps it
// with what an agent on every node needs (design §7): restart with capped, jittered
// backoff after an error; a watchdog that restarts a watch that has been quiet for too long;
// and a periodic relist. Callbacks only signal: the reconcile loop reads the cache.
import { ListWatch, Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubeClient } from './client.js';
import { backoff, DEFAULT_JITTER, jitter, type BackoffPolicy } from '../util/backoff.js';

export interface InformerOptions {
  /** Collection path, e.g. `/api/v1/pods` or `/apis/podlb.io/v1alpha1/bgppeers`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Called on every add/update/delete and after every (re)list. Must only signal. */
  onChange: () => void;
  log: Logger;
  backoff?: BackoffPolicy;
  /** Restart the watch when nothing (event or reconnect) was seen for this long. */
  watchdogMs?: number;
  /** Relist from scratch this often (±20% jitter), to heal anything a watch missed. */
  relistMs?: number;
  random?: () => number;
}

export class ResilientInformer<T extends KubernetesObject> {
  readonly #opts: Required<Omit<InformerOptions, 'labelSelector' | 'fieldSelector'>> & Pick<InformerOptions, 'labelSelector' | 'fieldSelector'>;
  readonly #client: KubeClient;
  readonly #kc: KubeConfig;
  #lw: ListWatch<T> | undefined;
  #failures = 0;
  #lastSeen = Date.now();
  #synced = false;
  #stopped = false;
  #restartTimer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #relistTimer: NodeJS.Timeout | undefined;
  /** Restarts so far, by cause: the health endpoint and tests read it. */
  readonly restarts = { error: 0, watchdog: 0, relist: 0 };

  constructor(client: KubeClient, opts: InformerOptions) {
    this.#client = client;
    this.#kc = client.kubeConfig;
    this.#opts = {
      backoff: { baseMs: 250, maxMs: 30_000 },
      watchdogMs: 5 * 60_000,
      relistMs: 10 * 60_000,
      random: Math.random,
      ...opts,
    };
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Items of the last successful list+watch; a restart keeps serving them until its list lands. */
  list(): readonly T[] {
    return this.#lw?.list() ?? [];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#lw?.get(name, namespace);
  }

  async start(): Promise<void> {
    this.#stopped = false;
    this.#startWatchdog();
    this.#scheduleRelist();
    await this.#startListWatch();
  }

  #backoffMs(): number {
    return backoff(this.#failures, this.#opts.backoff, this.#opts.random);
  }

  async #startListWatch(): Promise<void> {
    if (this.#stopped) return;
    const { path, labelSelector, fieldSelector, log } = this.#opts;
    const listFn = async () => {
      const res = await this.#client.list<T>(path, { ...(labelSelector ? { labelSelector } : {}), ...(fieldSelector ? { fieldSelector } : {}) });
      return res as never;
    };
    const watch = new Watch(this.#kc);
    // client-node 2.x ends a watch that received nothing for requestTimeoutMs (30 s by default)
    // and re-watches: on a quiet resource that is a new TLS connection and watch request every
    // 30 s per informer per node. The watchdog already deals with silence, so client-node's
    // timeout only backs it up (the field is private in client-node's typings, public in JS).
    (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 2 * this.#opts.watchdogMs;
    const lw = new ListWatch<T>(path, watch, listFn, false, labelSelector, fieldSelector);
    // Events of a ListWatch that was replaced are ignored: only the serving one signals.
    const live = (): boolean => !this.#stopped && (this.#lw === lw || this.#starting === lw);
    const touch = (): void => {
      if (!live()) return;
      this.#lastSeen = Date.now();
      this.#opts.onChange();
    };
    lw.on('add', touch);
    lw.on('update', touch);
    lw.on('delete', touch);
    lw.on('connect', () => {
      if (live()) this.#lastSeen = Date.now();
    });
    // client-node's start() resolves even when its list failed (it only fires 'error'), so
    // errors during start are captured here and judged below.
    let startError: unknown;
    lw.on('error', (err) => {
      if (!live()) return;
      if (this.#starting === lw) {
        startError = err ?? new Error('list failed');
        return;
      }
      this.#failures += 1;
      this.restarts.error += 1;
      const delay = this.#backoffMs();
      log.warn({ path, err, retryInMs: Math.round(delay), failures: this.#failures }, 'informer stopped; restarting');
      this.#restart(delay);
    });
    this.#starting = lw;
    try {
      await lw.start();
      if (startError !== undefined) throw startError;
    } catch (err) {
      if (this.#starting !== lw || this.#stopped) return;
      this.#starting = undefined;
      await lw.stop().catch(() => undefined);
      this.#failures += 1;
      this.restarts.error += 1;
      const delay = this.#backoffMs();
      log.warn({ path, err, retryInMs: Math.round(delay) }, 'list failed; retrying');
      this.#restart(delay);
      return;
    }
    if (this.#starting !== lw || this.#stopped) {
      await lw.stop().catch(() => undefined);
      return;
    }
    this.#starting = undefined;
    const old = this.#lw;
    this.#lw = lw;
    await old?.stop().catch(() => undefined);
    this.#failures = 0;
    this.#synced = true;
    this.#lastSeen = Date.now();
    this.#opts.onChange();
  }

  #starting: ListWatch<T> | undefined;

  /** Starts a fresh list+watch after delayMs; the current cache keeps serving meanwhile. */
  #restart(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => void this.#startListWatch(), delayMs);
  }

  #startWatchdog(): void {
    clearInterval(this.#watchdog);
    const period = Math.max(1000, Math.floor(this.#opts.watchdogMs / 4));
    this.#watchdog = setInterval(() => {
      if (this.#stopped || !this.#lw) return;
      if (Date.now() - this.#lastSeen > this.#opts.watchdogMs) {
        this.restarts.watchdog += 1;
        this.#opts.log.warn({ path: this.#opts.path, quietMs: Date.now() - this.#lastSeen }, 'watch silent too long; restarting');
        this.#lastSeen = Date.now();
        this.#restart(0);
      }
    }, period);
    this.#watchdog.unref();
  }

  #scheduleRelist(): void {
    clearTimeout(this.#relistTimer);
    const delay = jitter(this.#opts.relistMs, DEFAULT_JITTER, this.#opts.random);
    this.#relistTimer = setTimeout(() => {
      if (this.#stopped) return;
      this.restarts.relist += 1;
      this.#restart(0);
      this.#scheduleRelist();
    }, delay);
    this.#relistTimer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    clearInterval(this.#watchdog);
    clearTimeout(this.#relistTimer);
    await this.#lw?.stop().catch(() => undefined);
    await this.#starting?.stop().catch(() => undefined);
  }
}
