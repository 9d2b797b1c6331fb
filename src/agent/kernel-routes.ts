// Kernel routes via netlink (design §5.4): a blackhole per advertised aggregate, so traffic for
// unused addresses in the block is dropped on the node instead of looping back to the ToR, and
// the default gateways `Gateway` peers resolve to. Route and link changes signal a run like any
// informer. Failures reach PodLBNode status (KernelRoutesSynced) rather than only the log.
import type { Logger } from 'pino';
import { API_VERSION, type Condition } from '../api/types.js';
import { BlackholeRoutes, Netlink, PODLB_RT_PROTOCOL, type Subscription } from '../netlink/index.js';
import type { Reconciler, ReconcileResult } from '../reconcile/reconciler.js';
import { errorMessage } from '../util/errors.js';
import type { NodeStatusContribution } from './node-status.js';
import type { AgentSnapshot, Gateways } from './snapshot.js';

export const KERNEL_CONDITION = 'KernelRoutesSynced';
/** Re-sync unchanged blackholes this often, so a route deleted by hand comes back. */
export const KERNEL_REFRESH_MS = 60_000;

export interface KernelRoutesOptions {
  nodeName: string;
  /** The node's network namespace when the agent does not run in it (the lab). */
  netns?: string;
  /** The aggregates BIRD advertises; undefined until BIRD took a config (then nothing is touched). */
  aggregates: () => readonly string[] | undefined;
  /** A route or link changed. */
  onChange: () => void;
  log: Logger;
}

export class KernelRoutesReconciler implements Reconciler<AgentSnapshot, NodeStatusContribution> {
  readonly name = 'kernel';
  readonly backoff = { baseMs: 1_000, maxMs: 60_000 };
  readonly #o: KernelRoutesOptions;
  #kernel: { nl: Netlink; blackholes: BlackholeRoutes; events: Subscription } | undefined;
  #error: string | undefined;
  #syncedKey: string | undefined;
  #syncedAt = 0;
  #count = 0;
  #gateway: Gateways = {};

  constructor(o: KernelRoutesOptions) {
    this.#o = o;
  }

  /** Opens netlink; without NET_ADMIN or netlink the agent still advertises and registers, and says so. */
  open(): void {
    try {
      const nl = Netlink.open(this.#o.netns ? { netns: this.#o.netns } : {});
      const events = nl.subscribe({ routes: true, links: true }, (ev) => {
        if (ev.kind === 'route' && ev.route.protocol === PODLB_RT_PROTOCOL) return; // our own writes
        this.#o.onChange();
      });
      this.#kernel = { nl, blackholes: new BlackholeRoutes(nl, { protocol: PODLB_RT_PROTOCOL }), events };
      this.#error = undefined;
    } catch (err) {
      this.#error = `netlink unavailable: ${errorMessage(err)}`;
      this.#o.log.warn({ err }, 'kernel routes disabled');
    }
  }

  /** Blackhole routes stay: they belong with the routes BIRD keeps advertising while the agent restarts. */
  close(): void {
    this.#kernel?.events.close();
    this.#kernel?.nl.close();
    this.#kernel = undefined;
  }

  /** The default gateways now; undefined without netlink (Gateway peers are then reported, not guessed). */
  async gateways(): Promise<Gateways | undefined> {
    if (!this.#kernel) return undefined;
    try {
      const [v4, v6] = await Promise.all([this.#kernel.nl.defaultGateway(4), this.#kernel.nl.defaultGateway(6)]);
      this.#gateway = { ...(v4 ? { v4: v4.gateway } : {}), ...(v6 ? { v6: v6.gateway } : {}) };
    } catch (err) {
      this.#o.log.warn({ err }, 'could not read the default gateway');
    }
    return this.#gateway;
  }

  async reconcile(_s: AgentSnapshot, now: number): Promise<ReconcileResult<NodeStatusContribution>> {
    const wanted = this.#o.aggregates();
    if (!this.#kernel || wanted === undefined) return { status: this.#status() };
    const key = [...wanted].sort().join(',');
    if (key === this.#syncedKey && now - this.#syncedAt < KERNEL_REFRESH_MS && !this.#error) return { status: this.#status() };
    try {
      const r = await this.#kernel.blackholes.sync([...wanted]);
      if (r.added.length || r.removed.length) this.#o.log.info({ added: r.added, removed: r.removed }, 'blackhole routes synced');
      if (r.conflicts.length) this.#o.log.warn({ prefixes: r.conflicts }, 'another route already holds these prefixes at our metric; left alone');
      this.#syncedKey = key;
      this.#syncedAt = now;
      this.#count = wanted.length - r.conflicts.length;
      this.#error = undefined;
      return { status: this.#status() };
    } catch (err) {
      const first = this.#error === undefined;
      this.#error = `blackhole routes: ${errorMessage(err)}`;
      return {
        failed: { error: this.#error, err },
        status: this.#status(),
        ...(first
          ? {
              events: [
                {
                  object: { apiVersion: API_VERSION, kind: 'PodLBNode', name: this.#o.nodeName },
                  type: 'Warning' as const,
                  reason: 'KernelRoutesFailed',
                  message: `${this.#error}; retrying, BGP advertisements are not affected`,
                },
              ],
            }
          : {}),
      };
    }
  }

  #status(): NodeStatusContribution {
    const c: Omit<Condition, 'lastTransitionTime'> = this.#error
      ? { type: KERNEL_CONDITION, status: 'False', reason: this.#kernel ? 'BlackholeSyncFailed' : 'NetlinkUnavailable', message: this.#error.slice(0, 1024) }
      : this.#syncedKey === undefined
        ? { type: KERNEL_CONDITION, status: 'Unknown', reason: 'WaitingForBird', message: 'blackhole routes follow the first configuration BIRD takes' }
        : { type: KERNEL_CONDITION, status: 'True', reason: 'Synced', message: `${this.#count} blackhole route(s) for advertised aggregates` };
    return { conditions: [c] };
  }
}
