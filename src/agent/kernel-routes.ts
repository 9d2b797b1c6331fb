// Kernel routes via netlink (design §5.4): a blackhole per advertised aggregate, so traffic for
// unused addresses in the block is dropped on the node instead of looping back to the ToR, and
// the default gateways `Gateway` peers resolve to. Route and link changes signal a run like any
// informer. Failures reach PodLBNode status (KernelRoutesSynced) rather than only the log.
import type { Logger } from 'pino';
import { API_VERSION, type Condition } from '../api/types.js';
import { BlackholeRoutes, Netlink, PODLB_RT_PROTOCOL, type Subscription } from '../netlink/index.js';
import type { Reconciler, ReconcileResult } from '../reconcile/reconciler.js';
import { errorMessage } from '../util/errors.js';
import type { EventToRecord } from '../kube/events.js';
import { HoldDown, type Held } from './hold-down.js';
import type { NodeStatusContribution } from './node-status.js';
import type { AgentSnapshot, Gateways } from './snapshot.js';

export const KERNEL_CONDITION = 'KernelRoutesSynced';
/** Present (True) only while a vanished default gateway is held for Gateway peers. */
export const GATEWAY_HELD_CONDITION = 'GatewayHeld';

type HeldGateway = Held<string> & { family: 'v4' | 'v6' };

function heldMessage(h: HeldGateway): string {
  return `the ${h.family === 'v4' ? 'IPv4' : 'IPv6'} default route is gone since ${new Date(h.since).toISOString()}: Gateway BGPPeers keep peering with ${h.value} until ${new Date(h.until).toISOString()}, then their sessions are removed unless a default route is back`;
}
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
  /** How long a vanished default gateway is kept for Gateway peers (default HOLD_DOWN_MS). */
  holdDownMs?: number;
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
  /** The gateways Gateway peers use: read, or held through a gap. */
  #gateway: Gateways = {};
  /**
   * The default gateways as last read from the kernel, and whether a route or link event came
   * since (or the events stopped). A read is a route dump and a link dump; on a node with 200
   * Pods (a veth and a host route each) it cost the agent about a quarter of its CPU during a
   * burst of Pods, where every run read them again and none had changed.
   */
  #read: Gateways = {};
  #readStale = true;
  #eventsFailed = false;
  readonly #hold: HoldDown<string>;
  #held: HeldGateway[] = [];
  /** Gaps already reported by an Event, by family@since. */
  #reported = new Set<string>();

  constructor(o: KernelRoutesOptions) {
    this.#o = o;
    this.#hold = new HoldDown(o.holdDownMs);
  }

  /** Opens netlink; without NET_ADMIN or netlink the agent still advertises and registers, and says so. */
  open(): void {
    try {
      const nl = Netlink.open(this.#o.netns ? { netns: this.#o.netns } : {});
      const events = nl.subscribe({ routes: true, links: true }, (ev) => {
        if (ev.kind === 'route' && ev.route.protocol === PODLB_RT_PROTOCOL) return; // our own writes
        this.#readStale = true;
        if (ev.kind === 'error') this.#eventsFailed = true;
        this.#o.onChange();
      });
      this.#readStale = true;
      this.#eventsFailed = false;
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

  /**
   * The default gateways now; undefined without netlink (Gateway peers are then reported, not
   * guessed). A gateway that vanishes is kept for the hold-down (hold-down.ts): a default route
   * replaced or a link flapping must not tear down the `Gateway` sessions.
   */
  async gateways(now: number = Date.now()): Promise<Gateways | undefined> {
    if (!this.#kernel) return undefined;
    // A change made before this call is seen by it, even if its event still waits for the loop.
    this.#kernel.events.flush();
    if (this.#readStale || this.#eventsFailed) {
      this.#readStale = false;
      try {
        const [v4, v6] = await Promise.all([this.#kernel.nl.defaultGateway(4), this.#kernel.nl.defaultGateway(6)]);
        this.#read = { ...(v4 ? { v4: v4.gateway } : {}), ...(v6 ? { v6: v6.gateway } : {}) };
      } catch (err) {
        this.#readStale = true;
        this.#o.log.warn({ err }, 'could not read the default gateway');
        return this.#gateway;
      }
    }
    const out: Gateways = {};
    const held: HeldGateway[] = [];
    for (const family of ['v4', 'v6'] as const) {
      const r = this.#hold.resolve(family, this.#read[family], this.#gateway[family], now);
      if (r.value !== undefined) out[family] = r.value;
      if (r.held) held.push({ family, ...r.held });
    }
    this.#gateway = out;
    this.#held = held;
    return this.#gateway;
  }

  /** Netlink requests made so far: what reading the kernel costs (tests). */
  get netlinkRequests(): number {
    return this.#kernel?.nl.stats.requests ?? 0;
  }

  async reconcile(s: AgentSnapshot, now: number): Promise<ReconcileResult<NodeStatusContribution>> {
    const res = await this.#sync(s, now);
    if (this.#held.length === 0) {
      this.#reported.clear();
      return res;
    }
    const events: EventToRecord[] = [...(res.events ?? [])];
    for (const h of this.#held) {
      const key = `${h.family}@${h.since}`;
      if (this.#reported.has(key)) continue;
      this.#reported.add(key);
      events.push({
        object: { apiVersion: API_VERSION, kind: 'PodLBNode', name: this.#o.nodeName },
        type: 'Warning',
        reason: 'GatewayHeld',
        message: heldMessage(h),
      });
    }
    const until = Math.min(...this.#held.map((h) => h.until));
    const status = {
      ...res.status,
      conditions: [
        ...(res.status?.conditions ?? []),
        { type: GATEWAY_HELD_CONDITION, status: 'True' as const, reason: 'DefaultRouteMissing', message: this.#held.map(heldMessage).join('; ') },
      ],
    };
    return { ...res, events, status, nextWakeAt: Math.min(res.nextWakeAt ?? Infinity, until) };
  }

  async #sync(_s: AgentSnapshot, now: number): Promise<ReconcileResult<NodeStatusContribution>> {
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
