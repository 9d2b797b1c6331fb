// The pools of one Octavia load balancer, by name and by id, with each pool's health-monitor
// timing (the gate rule needs it, octavia-health.ts): read once, kept for a TTL, re-read early
// (at most every poolRefreshMinMs) when a backend is missing. The first read also checks that
// the load balancer exists for these credentials.
import type { OctaviaClient } from './octavia-client.js';
import { OctaviaApiError } from './octavia-errors.js';
import type { OctaviaMonitorTiming } from './octavia-health.js';
import { isPodlbOwnedPool } from './octavia-tags.js';

export interface PoolRef {
  id: string;
  name: string;
  healthmonitor_id?: string | null;
  /** The pool's monitor timing; undefined = no monitor. */
  monitor?: OctaviaMonitorTiming;
  /** Tagged podlb-owned: the controller's leader writes its members in batch, this agent does not. */
  batch?: boolean;
}

export interface OctaviaPoolsOptions {
  loadBalancerID: string;
  now?: () => number;
  pageSize?: number;
  poolCacheTtlMs?: number;
  poolRefreshMinMs?: number;
}

export class OctaviaPools {
  readonly #client: OctaviaClient;
  readonly #opts: OctaviaPoolsOptions;
  readonly #lbId: string;
  readonly #now: () => number;
  #pools?: { byName: Map<string, PoolRef[]>; byId: Map<string, PoolRef>; fetchedAt: number };
  #lbChecked = false;

  constructor(client: OctaviaClient, opts: OctaviaPoolsOptions) {
    this.#client = client;
    this.#opts = opts;
    this.#lbId = opts.loadBalancerID;
    this.#now = opts.now ?? Date.now;
  }

  /** A pool went away: read them all again next time. */
  forget(): void {
    this.#pools = undefined;
  }

  /** backend → pool, from a cached pool list of this LB; re-read when stale or when a backend is missing. */
  async resolve(backends: readonly string[]): Promise<Map<string, PoolRef>> {
    const now = this.#now();
    const ttl = this.#opts.poolCacheTtlMs ?? 300_000;
    const minRefresh = this.#opts.poolRefreshMinMs ?? 5_000;
    const lookup = (): Map<string, PoolRef> => {
      const out = new Map<string, PoolRef>();
      for (const b of backends) {
        const byName = this.#pools!.byName.get(b);
        if (byName && byName.length > 1) {
          throw new OctaviaApiError(
            'OCTAVIA_POOL_AMBIGUOUS',
            `Octavia load balancer ${this.#lbId} has ${byName.length} pools named ${JSON.stringify(b)}; name the pool by id in podlb.io/backend`,
            { status: 200, method: 'GET', path: '/v2/lbaas/pools' },
          );
        }
        const p = byName?.[0] ?? this.#pools!.byId.get(b);
        if (p) out.set(b, p);
      }
      return out;
    };
    if (this.#pools && now - this.#pools.fetchedAt < ttl) {
      const found = lookup();
      if (found.size === backends.length || now - this.#pools.fetchedAt < minRefresh) return found;
    }
    if (!this.#lbChecked) {
      const r = await this.#client.request('GET', `/v2/lbaas/loadbalancers/${this.#lbId}`, { accept: [404] });
      if (r.status === 404) {
        throw new OctaviaApiError(
          'OCTAVIA_LB_NOT_FOUND',
          `Octavia has no load balancer ${this.#lbId} visible to these credentials: check spec.octavia.loadBalancerID and the credentials' project`,
          { status: 404, method: 'GET', path: `/v2/lbaas/loadbalancers/${this.#lbId}`, fault: r.fault },
        );
      }
      this.#lbChecked = true;
    }
    const pools = await this.#client.listAll<PoolRef & { tags?: string[] }>(
      '/v2/lbaas/pools',
      'pools',
      new URLSearchParams({ loadbalancer_id: this.#lbId }),
      this.#opts.pageSize,
    );
    const byName = new Map<string, PoolRef[]>();
    const byId = new Map<string, PoolRef>();
    await Promise.all(pools.map(async (p) => (p.monitor = await this.#monitor(p.healthmonitor_id))));
    for (const p of pools) {
      const ref: PoolRef = { id: p.id, name: p.name, ...(p.monitor ? { monitor: p.monitor } : {}), ...(isPodlbOwnedPool(p.tags) ? { batch: true } : {}) };
      byId.set(p.id, ref);
      if (p.name) byName.set(p.name, [...(byName.get(p.name) ?? []), ref]);
    }
    this.#pools = { byName, byId, fetchedAt: now };
    return lookup();
  }

  /**
   * The timing of a pool's monitor. One it cannot read (gone meanwhile, a malformed reply)
   * counts as a slow setting (60 s × 10), so an ONLINE is never trusted early.
   */
  async #monitor(id: string | null | undefined): Promise<OctaviaMonitorTiming | undefined> {
    if (!id) return undefined;
    const r = await this.#client.request('GET', `/v2/lbaas/healthmonitors/${id}`, { accept: [404] });
    const hm = r.body?.healthmonitor as { delay?: unknown; max_retries_down?: unknown } | undefined;
    const num = (v: unknown, d: number): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : d);
    return { delay: num(hm?.delay, 60), max_retries_down: num(hm?.max_retries_down, 10) };
  }
}
