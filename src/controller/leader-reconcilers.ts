// The leader's reconcilers, one job each, driven by the shared ReconcileLoop: webhook TLS issue
// and rotation, garbage collection of members whose node is gone, PodAddressPool status, batch
// member updates of podlb-owned Octavia pools (octavia-batch.ts). Each
// contributes its part of the leader's run report; a throw is the loop's to back off from.
import type { Reconciler, ReconcileResult } from '../reconcile/reconciler.js';
import { backoff } from '../util/backoff.js';
import type { GcReport, GcSnapshot, MemberGc } from './member-gc.js';
import type { OctaviaBatchReport, OctaviaBatchSnapshot, OctaviaBatchWriter } from './octavia-batch.js';
import type { PoolStatusReport, PoolStatusSnapshot, PoolStatusWriter } from './pool-status.js';
import type { TlsBundle, TlsManager, TlsReconcileResult } from './tls-manager.js';

export interface LeaderSnapshot {
  gc: GcSnapshot;
  pools: PoolStatusSnapshot;
  octavia: OctaviaBatchSnapshot;
  /** Asked before each write: a replica that lost leadership mid-pass stops writing. */
  stillLeading: () => boolean;
}

export interface LeaderRunReport {
  at: number;
  tls?: Omit<TlsReconcileResult, 'bundle'>;
  tlsError?: string;
  gc?: GcReport;
  gcError?: string;
  pools?: PoolStatusReport;
  poolsError?: string;
  octavia?: OctaviaBatchReport;
  octaviaError?: string;
}

export type LeaderContribution = Partial<Omit<LeaderRunReport, 'at'>>;
type LeaderReconciler = Reconciler<LeaderSnapshot, LeaderContribution>;

/** Runs on its own schedule (check interval, rotation time); force() makes the next pass run it. */
export class TlsReconciler implements LeaderReconciler {
  readonly name = 'tls';
  readonly backoff = { baseMs: 2_000, maxMs: 60_000 };
  #nextAt = 0;

  readonly #o: { tls: TlsManager; checkMs: number; serve: (bundle: TlsBundle) => Promise<void> };

  constructor(o: { tls: TlsManager; checkMs: number; serve: (bundle: TlsBundle) => Promise<void> }) {
    this.#o = o;
  }

  force(): void {
    this.#nextAt = 0;
  }

  async reconcile(_s: LeaderSnapshot, now: number): Promise<ReconcileResult<LeaderContribution>> {
    if (now < this.#nextAt) return { nextWakeAt: this.#nextAt };
    const { bundle, ...rest } = await this.#o.tls.reconcile(now);
    this.#nextAt = Math.min(now + this.#o.checkMs, rest.nextRotationAt);
    if (rest.secret === 'created' || rest.secret === 'rotated') await this.#o.serve(bundle);
    return { nextWakeAt: this.#nextAt, status: { tls: rest } };
  }
}

export class GcReconciler implements LeaderReconciler {
  readonly name = 'gc';
  readonly backoff = { baseMs: 5_000, maxMs: 60_000 };
  #nextAt = 0;

  readonly #o: { gc: MemberGc; intervalMs: number };

  constructor(o: { gc: MemberGc; intervalMs: number }) {
    this.#o = o;
  }

  force(): void {
    this.#nextAt = 0;
  }

  async reconcile(s: LeaderSnapshot, now: number): Promise<ReconcileResult<LeaderContribution>> {
    if (now < this.#nextAt) return { nextWakeAt: this.#nextAt };
    if (!s.stillLeading()) return {};
    const report = await this.#o.gc.run(s.gc, now, s.stillLeading);
    this.#nextAt = Math.min(now + this.#o.intervalMs, report.nextAt ?? Infinity);
    // Caches not listed yet: look again soon rather than at the next interval.
    if (report.skipped) this.#nextAt = Math.min(this.#nextAt, now + 1_000);
    return { nextWakeAt: this.#nextAt, status: { gc: report } };
  }
}

/** Every pass (woken by pool, Node and PodLBNode changes); no-op writes are skipped by the writer. */
export class PoolStatusReconciler implements LeaderReconciler {
  readonly name = 'pools';
  /** Some pools' writes failed: retried with backoff, while other pools keep being written on every pass. */
  static readonly WRITE_RETRY = { baseMs: 5_000, maxMs: 60_000 };
  readonly backoff = PoolStatusReconciler.WRITE_RETRY;
  #failedPasses = 0;

  readonly #o: { writer: PoolStatusWriter; random?: () => number };

  constructor(o: { writer: PoolStatusWriter; random?: () => number }) {
    this.#o = o;
  }

  async reconcile(s: LeaderSnapshot, now: number): Promise<ReconcileResult<LeaderContribution>> {
    if (!s.stillLeading()) return {};
    const report = await this.#o.writer.run(s.pools, now, s.stillLeading);
    this.#failedPasses = report.errors.length > 0 ? this.#failedPasses + 1 : 0;
    let nextWakeAt: number | undefined;
    if (report.errors.length > 0) nextWakeAt = now + backoff(this.#failedPasses, PoolStatusReconciler.WRITE_RETRY, this.#o.random);
    else if (report.skipped || report.stale.length > 0) nextWakeAt = now + 1_000;
    return { status: { pools: report }, ...(nextWakeAt !== undefined ? { nextWakeAt } : {}) };
  }
}

/** Every pass (woken by Pod, EndpointSlice, Service and class changes), and when the writer asks: a lock ends, a drain window ends. */
export class OctaviaBatchReconciler implements LeaderReconciler {
  readonly name = 'octavia';
  readonly backoff = { baseMs: 1_000, maxMs: 60_000 };
  readonly #writer: OctaviaBatchWriter;

  constructor(o: { writer: OctaviaBatchWriter }) {
    this.#writer = o.writer;
  }

  async reconcile(s: LeaderSnapshot, now: number): Promise<ReconcileResult<LeaderContribution>> {
    if (!s.stillLeading()) return {};
    const report = await this.#writer.run(s.octavia, now, s.stillLeading);
    // Caches not listed yet: look again soon.
    const nextWakeAt = report.skipped ? now + 1_000 : report.nextAt;
    return { status: { octavia: report }, ...(nextWakeAt !== undefined ? { nextWakeAt } : {}) };
  }
}

/** The leader's run report from the loop's: each reconciler's part, or the error it failed with. */
export function leaderRunReport(at: number, runs: ReadonlyMap<string, { result?: ReconcileResult<LeaderContribution>; error?: string }>): LeaderRunReport {
  const report: LeaderRunReport = { at };
  for (const [name, run] of runs) {
    if (run.result?.status) Object.assign(report, run.result.status);
    if (run.error !== undefined) Object.assign(report, { [`${name}Error`]: run.error });
  }
  return report;
}
