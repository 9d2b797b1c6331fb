// The one serial reconcile loop (design §7): callbacks only signal; each run takes one
// snapshot and runs every reconciler on it in order. A reconciler that fails or throws is
// isolated: the others still run, it is retried after backoff(), and until then it is skipped
// (its last status contribution stands). Bursts of signals roll up into one run (signal.ts).
import type { Logger } from 'pino';
import type { EventToRecord } from '../kube/events.js';
import { backoff, type BackoffPolicy } from '../util/backoff.js';
import { errorCode, errorMessage } from '../util/errors.js';
import type { Reconciler, ReconcileResult } from './reconciler.js';
import { Signal } from './signal.js';

export interface ReconcileLoopOptions<S, C> {
  log: Logger;
  /** Run in this order, every run. */
  reconcilers: readonly Reconciler<S, C>[];
  /** The world as of now; undefined: not ready (caches not synced), wait for the next signal. */
  snapshot: (now: number) => S | undefined | Promise<S | undefined>;
  /** Records an Event; failures are the recorder's business. */
  record?: (ev: EventToRecord) => Promise<unknown> | unknown;
  /** Run at least this often even without a signal. */
  resyncMs?: number;
  /** For reconcilers that do not bring their own. Default 250 ms doubling to 30 s. */
  backoff?: BackoffPolicy;
  /** Called for every failure (returned or thrown), e.g. to count it by `code` (errorCode()). */
  onFailure?: (reconciler: string, error: string, code: string) => void;
  now?: () => number;
  random?: () => number;
}

/** What one reconciler did in a run. */
export interface ReconcilerRun<C> {
  result?: ReconcileResult<C>;
  /** Not run: still backing off after a failure. */
  skipped?: 'backingOff';
  /** The failure of this run (returned or thrown). */
  error?: string;
}

export interface LoopRunReport<C> {
  at: number;
  /** By reconciler name, in run order; empty when the snapshot was not ready. */
  runs: Map<string, ReconcilerRun<C>>;
  /** When the loop runs next unless signalled (ms since epoch); undefined: only when signalled. */
  wakeAt?: number;
}

interface FailureState {
  failures: number;
  retryAt: number;
}

const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 250, maxMs: 30_000 };

export class ReconcileLoop<S, C = never> {
  readonly #o: ReconcileLoopOptions<S, C> & { now: () => number; random: () => number };
  readonly #signal = new Signal();
  readonly #failures = new Map<string, FailureState>();
  readonly #status = new Map<string, C>();
  #waiters: ((r: LoopRunReport<C> | undefined) => void)[] = [];
  #running = false;
  #done: Promise<void> | undefined;
  #lastRunAt = 0;
  #runStartedAt: number | undefined;
  #runs = 0;
  #snapshotFailures = 0;
  lastRun: LoopRunReport<C> | undefined;

  constructor(opts: ReconcileLoopOptions<S, C>) {
    this.#o = { now: Date.now, random: Math.random, ...opts };
  }

  get running(): boolean {
    return this.#running;
  }

  /** When the last run finished (the owner's liveness check). */
  get lastRunAt(): number {
    return this.#lastRunAt;
  }

  /** Runs completed so far. */
  get runs(): number {
    return this.#runs;
  }

  /** When the run in progress started; undefined while the loop waits for a signal or a wake-up. */
  get runStartedAt(): number | undefined {
    return this.#runStartedAt;
  }

  /** Asks for a run; any number of calls before it starts give one run. */
  notify(): void {
    this.#signal.notify();
  }

  /** The last status contribution of a reconciler (kept across runs it was skipped or threw in). */
  statusOf(name: string): C | undefined {
    return this.#status.get(name);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#done = this.#loop();
    this.#signal.notify();
  }

  /** Lets the current run finish; waiters of runs that will not happen get undefined. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#signal.notify();
    await this.#done;
    this.#signal.cancelTimer();
    for (const w of this.#waiters.splice(0)) w(undefined);
  }

  /** Resolves with the report of the next completed run (undefined if the loop stops first). */
  nextRun(): Promise<LoopRunReport<C> | undefined> {
    if (!this.#running) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.#signal.notify();
    });
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      await this.#signal.wait();
      if (!this.#running) break;
      const waiters = this.#waiters.splice(0);
      this.#runStartedAt = this.#o.now();
      const report = await this.#runOnce();
      this.#runStartedAt = undefined;
      this.#runs += 1;
      this.lastRun = report;
      this.#lastRunAt = this.#o.now();
      for (const w of waiters) w(report);
    }
  }

  async #runOnce(): Promise<LoopRunReport<C>> {
    const { log } = this.#o;
    const now = this.#o.now();
    const report: LoopRunReport<C> = { at: now, runs: new Map() };
    let snapshot: S | undefined;
    try {
      snapshot = await this.#o.snapshot(now);
      this.#snapshotFailures = 0;
    } catch (err) {
      this.#snapshotFailures += 1;
      log.error({ err, failures: this.#snapshotFailures }, 'could not take a snapshot; retrying');
      report.wakeAt = now + backoff(this.#snapshotFailures, this.#o.backoff ?? DEFAULT_BACKOFF, this.#o.random);
      this.#signal.wakeAt(report.wakeAt, this.#o.now());
      return report;
    }
    if (snapshot === undefined) return report;
    const wakeTimes: number[] = this.#o.resyncMs !== undefined ? [now + this.#o.resyncMs] : [];
    const events: EventToRecord[] = [];
    for (const r of this.#o.reconcilers) {
      const failure = this.#failures.get(r.name);
      if (failure && failure.retryAt > now) {
        report.runs.set(r.name, { skipped: 'backingOff' });
        wakeTimes.push(failure.retryAt);
        continue;
      }
      const run: ReconcilerRun<C> = {};
      report.runs.set(r.name, run);
      let cause: unknown;
      try {
        const result = await r.reconcile(snapshot, now);
        run.result = result;
        if (result.status !== undefined) this.#status.set(r.name, result.status);
        if (result.nextWakeAt !== undefined) wakeTimes.push(result.nextWakeAt);
        events.push(...(result.events ?? []));
        for (const p of result.problems ?? []) events.push({ object: p.object, type: p.severity, reason: p.reason, message: p.message });
        if (result.failed) {
          run.error = result.failed.error;
          cause = result.failed.err;
        }
      } catch (err) {
        // A throw is a bug in that reconciler; the rest of the run must not pay for it.
        run.error = errorMessage(err);
        cause = err;
        log.error({ reconciler: r.name, err }, 'reconciler threw');
      }
      if (run.error === undefined) {
        this.#failures.delete(r.name);
        continue;
      }
      const failures = (failure?.failures ?? 0) + 1;
      const delay = backoff(failures, r.backoff ?? this.#o.backoff ?? DEFAULT_BACKOFF, this.#o.random);
      this.#failures.set(r.name, { failures, retryAt: now + delay });
      wakeTimes.push(now + delay);
      const code = errorCode(cause);
      this.#o.onFailure?.(r.name, run.error, code);
      log.warn(
        { reconciler: r.name, ...(cause === undefined ? { error: run.error } : { err: cause }), code, failures, retryInMs: Math.round(delay) },
        'reconcile failed; retrying with backoff',
      );
    }
    const record = this.#o.record;
    if (record && events.length > 0) {
      // A recorder that fails must not stop the loop: Events are best effort.
      await Promise.all(events.map(async (e) => record(e)).map((p) => p.catch((err: unknown) => log.warn({ err }, 'could not record an Event'))));
    }
    if (wakeTimes.length > 0) {
      report.wakeAt = Math.min(...wakeTimes);
      this.#signal.wakeAt(report.wakeAt, this.#o.now());
    }
    return report;
  }
}
