// Design 5.4: a blackhole route per advertised aggregate, so traffic for unused addresses of
// a node's Pod CIDR is dropped on the node instead of looping back to the ToR.
//
// BlackholeRoutes owns exactly the blackhole routes carrying podlb's RT protocol number in
// one table, and converges them to a given set of prefixes: it adds the missing ones and
// deletes the extra ones, and never touches a route of another protocol or type (the delete
// request itself names our protocol, so the kernel cannot match anyone else's route).
import { PodlbError } from '../util/errors.js';
import { RT_TABLE_MAIN } from './constants.js';
import { NetlinkError } from './errors.js';
import { kernelPrefixText, prefixOrThrow } from '../net/ip.js';
import type { Netlink } from './netlink.js';

/**
 * podlb's rtm_protocol. Unnamed on these machines: /etc/iproute2/rt_protos names 0-4, 8-16,
 * 18, 42, 99 (openr) and 186-192; rt_protos.d/frr.conf names 186-197; the kernel's
 * rtnetlink.h adds 17 (mrouted); FRR uses 198 internally and Calico's Felix uses 80. 201
 * leaves room above FRR's block. `ip route show proto 201` lists podlb's routes.
 */
export const PODLB_RT_PROTOCOL = 201;

/**
 * Metric of podlb's blackholes: above anything a routing daemon, DHCP client or the kernel
 * uses (0-1024 in practice), so a real route to the same prefix (a CNI's `10.244.1.0/24 dev
 * cni0`) keeps winning, and adding ours never collides with it (EEXIST).
 */
export const BLACKHOLE_METRIC = 4_000_000_000;

export interface BlackholeOptions {
  /** rtm_protocol marking podlb's routes; 5..255 (0-4 mean something to the kernel). */
  protocol: number;
  /** Default main (254). */
  table?: number;
  /** Default BLACKHOLE_METRIC. */
  priority?: number;
}

export interface SyncResult {
  added: string[];
  removed: string[];
  /** Wanted prefixes the kernel refused to add as ours (someone else's route with the same key). */
  conflicts: string[];
}

export class BlackholeRoutes {
  readonly #nl: Netlink;
  readonly #protocol: number;
  readonly #table: number;
  readonly #priority: number;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(nl: Netlink, opts: BlackholeOptions) {
    if (!Number.isInteger(opts.protocol) || opts.protocol < 5 || opts.protocol > 255) {
      throw new PodlbError('NETLINK_BAD_PROTOCOL', `RT protocol ${opts.protocol}: must be 5..255 (0-4 belong to the kernel)`);
    }
    this.#nl = nl;
    this.#protocol = opts.protocol;
    this.#table = opts.table ?? RT_TABLE_MAIN;
    this.#priority = opts.priority ?? BLACKHOLE_METRIC;
  }

  /**
   * Converges the kernel to exactly `prefixes` (IPv4 and IPv6 CIDRs, canonical: host bits
   * zero, else InvalidAddressError before anything changes). Idempotent; calls run one at a
   * time. A prefix that already has one of our blackholes (any metric) is left alone.
   */
  sync(prefixes: string[]): Promise<SyncResult> {
    const run = this.#chain.then(() => this.#sync(prefixes));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #sync(prefixes: string[]): Promise<SyncResult> {
    const wanted = new Set(prefixes.map((p) => kernelPrefixText(prefixOrThrow(p))));
    const ours = (await this.#nl.dumpRoutes({ table: this.#table })).filter((r) => r.protocol === this.#protocol && r.type === 'blackhole');
    const have = new Set(ours.map((r) => r.dst));
    const result: SyncResult = { added: [], removed: [], conflicts: [] };
    for (const r of ours) {
      if (wanted.has(r.dst)) continue;
      const spec = { dst: r.dst, type: 'blackhole' as const, protocol: this.#protocol, table: this.#table };
      try {
        await this.#nl.deleteRoute(r.priority === undefined ? spec : { ...spec, priority: r.priority });
      } catch (err) {
        if (!(err instanceof NetlinkError && err.errnoName === 'ESRCH')) throw err; // gone meanwhile: fine
      }
      result.removed.push(r.dst);
    }
    for (const dst of wanted) {
      if (have.has(dst)) continue;
      try {
        await this.#nl.addRoute({ dst, type: 'blackhole', protocol: this.#protocol, table: this.#table, priority: this.#priority });
        result.added.push(dst);
      } catch (err) {
        if (!(err instanceof NetlinkError && err.errnoName === 'EEXIST')) throw err;
        result.conflicts.push(dst);
      }
    }
    return result;
  }
}
