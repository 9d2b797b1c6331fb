// The rtnetlink client: one request socket (dumps, add/replace/delete with ACK) and, per
// subscribe(), one socket bound to multicast groups.
//
// Never blocking the event loop. Both sockets are SOCK_NONBLOCK and every recv() uses
// MSG_DONTWAIT, so no libc call here waits. rtnetlink answers inside the kernel's handling
// of our sendto() (the ACK or the first dump batch is queued before sendto returns) and
// produces the next dump batch inside our recv(), so a request is a tight send/recv loop
// that in practice never sees EAGAIN. That loop gives the event loop back (setImmediate)
// every SLICE_MS, so even a 10,000-route dump never holds it for more than about SLICE_MS.
// When a recv does find nothing (EAGAIN: an event socket, or a slow kernel), the fd is handed
// to libuv's own epoll through koffi.node.poll and the callback resumes the loop: no thread,
// no timer polling. The alternative, koffi's `.async` calls (a blocking recv on a koffi
// worker thread per call), costs a thread hop per batch (~100 batches for 10,000 routes)
// and would leave a blocked thread behind on every idle event socket; bench/netlink.ts
// measures what the chosen design costs.
//
// Namespaces: see socket.ts.
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import * as libc from '../../native/libc.js';
import {
  NLMSG_DONE,
  NLMSG_ERROR,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP_INTR,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RTM_F_CLONED,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTNLGRP_IPV4_ROUTE,
  RTNLGRP_IPV6_ROUTE,
  RTNLGRP_LINK,
  RT_TABLE_MAIN,
} from './constants.js';
import { NetlinkError, NetlinkParseError } from './errors.js';
import { EVENT_RCVBUF, EventSubscription, type NetlinkEvent, type Subscription } from './events.js';
import type { Family } from '../net/ip.js';
import { encodeLinkDump, parseLink, type Link } from './link.js';
import { hasMessageAt, NlMsg, parseDone, parseError } from './message.js';
import { encodeRouteDump, encodeRouteRequest, parseRoute, type Route, type RouteSpec } from './route.js';
import { EAGAIN, EINTR, fail, openSocketIn, RECV_BUFFER, SLICE_MS } from './socket.js';

export type { NetlinkEvent, Subscription } from './events.js';

const ETIMEDOUT = 110;
/** Kernel answers are synchronous; this only guards against a bug leaving a request hanging. */
const REQUEST_TIMEOUT_MS = 10_000;
const DUMP_RETRIES = 3;

export interface OpenOptions {
  /** A name under /run/netns (`ip netns add NAME`) or a path such as /proc/PID/ns/net. */
  netns?: string;
  /** Fixture capture and debugging: a copy of every datagram received, on either socket. */
  onDatagram?: (bytes: Buffer) => void;
}

export interface DumpOptions {
  /** Default: both. */
  family?: Family;
  /** Routing table id, or 'all'. Default: main (254), like `ip route show`. */
  table?: number | 'all';
}

export interface DefaultGateway {
  gateway: string;
  ifindex: number;
  ifname?: string;
}

/** Counters for the bench and tests: how the request loop behaved. */
export interface NetlinkStats {
  requests: number;
  recvCalls: number;
  /** recv found nothing and the loop waited on libuv's poll. */
  pollWaits: number;
  /** The loop gave the event loop back after SLICE_MS. */
  yields: number;
  /** Longest stretch the request loop ran without yielding, ms. */
  maxSliceMs: number;
}

export class Netlink {
  readonly netns: string | undefined;
  readonly stats: NetlinkStats = { requests: 0, recvCalls: 0, pollWaits: 0, yields: 0, maxSliceMs: 0 };
  readonly #fd: number;
  readonly #buf = Buffer.allocUnsafe(RECV_BUFFER);
  readonly #subscriptions = new Set<EventSubscription>();
  readonly #tap: ((bytes: Buffer) => void) | undefined;
  #seq = 0;
  #poll: libc.PollHandle | undefined;
  #onReadable: ((failure?: number) => void) | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(fd: number, opts: OpenOptions) {
    this.#fd = fd;
    this.netns = opts.netns;
    this.#tap = opts.onDatagram;
  }

  /** Opens a request socket, in `opts.netns` when given. Synchronous: setns is undone before it returns. */
  static open(opts: OpenOptions = {}): Netlink {
    const fd = openSocketIn(opts.netns);
    try {
      // Extended ACKs carry the kernel's reason (4.12+); capped ACKs do not echo our request
      // back (4.3+); strict checking (4.20+) lets the kernel filter dumps by table instead of
      // sending everything. All optional: dumps are filtered here too, errors keep errno.
      libc.setsockopt(fd, libc.SOL_NETLINK, libc.NETLINK_EXT_ACK, libc.int32(1), 4);
      libc.setsockopt(fd, libc.SOL_NETLINK, libc.NETLINK_CAP_ACK, libc.int32(1), 4);
      libc.setsockopt(fd, libc.SOL_NETLINK, libc.NETLINK_GET_STRICT_CHK, libc.int32(1), 4);
      if (libc.bind(fd, libc.sockaddrNl(), 12) < 0) fail('bind');
    } catch (err) {
      libc.close(fd);
      throw err;
    }
    return new Netlink(fd, opts);
  }

  /** Routes of one or both families in one table (default main) or all tables; cloned/cached routes left out. */
  async dumpRoutes(opts: DumpOptions = {}): Promise<Route[]> {
    const table = opts.table ?? RT_TABLE_MAIN;
    const out: Route[] = [];
    for (const family of opts.family ? [opts.family] : ([4, 6] as const)) {
      const routes = await this.#dump(
        `RTM_GETROUTE dump IPv${family}`,
        (seq) => encodeRouteDump(family, seq, table === 'all' ? undefined : table),
        (m, acc: Route[]) => {
          if (m.type !== RTM_NEWROUTE) return;
          const r = parseRoute(m);
          if (r && (table === 'all' || r.table === table) && !(r.flags & RTM_F_CLONED)) acc.push(r);
        },
      ).catch((err: unknown) => {
        // A strict dump of a table the family has never had a route in ends with ENOENT.
        if (table !== 'all' && err instanceof NetlinkError && err.errnoName === 'ENOENT') return [];
        throw err;
      });
      for (const r of routes) out.push(r);
    }
    return out;
  }

  /** NLM_F_CREATE|NLM_F_EXCL: fails with NetlinkError EEXIST when the route exists. */
  addRoute(spec: RouteSpec): Promise<void> {
    return this.#ack(`RTM_NEWROUTE ${spec.dst}`, (seq) => encodeRouteRequest('new', spec, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, seq));
  }

  /** NLM_F_CREATE|NLM_F_REPLACE: creates or replaces the route with the same key (dst, table, tos, metric). */
  replaceRoute(spec: RouteSpec): Promise<void> {
    return this.#ack(`RTM_NEWROUTE(replace) ${spec.dst}`, (seq) => encodeRouteRequest('new', spec, NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK, seq));
  }

  /** Deletes the first route matching the given fields; fails with NetlinkError ESRCH when none does. */
  deleteRoute(spec: RouteSpec): Promise<void> {
    return this.#ack(`RTM_DELROUTE ${spec.dst}`, (seq) => encodeRouteRequest('del', spec, NLM_F_ACK, seq));
  }

  /** The main table's default route with a gateway and the lowest metric, if any. */
  async defaultGateway(family: Family): Promise<DefaultGateway | undefined> {
    const candidates = (await this.dumpRoutes({ family })).filter((r) => r.type === 'unicast' && r.dst.endsWith('/0'));
    candidates.sort((a, b) => (a.priority ?? 0) - (b.priority ?? 0));
    for (const r of candidates) {
      const hop = r.gateway !== undefined ? { gateway: r.gateway, oif: r.oif ?? 0 } : r.multipath?.find((h) => h.gateway !== undefined);
      if (!hop?.gateway) continue;
      const gw: DefaultGateway = { gateway: hop.gateway, ifindex: hop.oif };
      const name = (await this.links()).find((l) => l.index === hop.oif)?.name;
      if (name !== undefined) gw.ifname = name;
      return gw;
    }
    return undefined;
  }

  async links(): Promise<Link[]> {
    return this.#dump(
      'RTM_GETLINK dump',
      (seq) => encodeLinkDump(seq),
      (m, acc: Link[]) => {
        if (m.type === RTM_NEWLINK) acc.push(parseLink(m));
      },
    );
  }

  /**
   * Route and/or link events of this socket's namespace, on a second socket bound to
   * RTNLGRP_IPV4_ROUTE/IPV6_ROUTE and/or RTNLGRP_LINK. `cb` runs on the event loop.
   * `receiveBuffer` (bytes, default 8 MiB: holds a burst of 20,000 route events measured)
   * bounds what queues while the event loop is busy; beyond it the kernel drops events
   * and the subscriber gets { kind: 'overrun' }. An exception thrown by `cb` becomes an
   * uncaught exception, as one thrown by an EventEmitter listener does.
   */
  subscribe(what: { routes?: boolean; links?: boolean; receiveBuffer?: number }, cb: (ev: NetlinkEvent) => void): Subscription {
    this.#assertOpen();
    const bit = (g: number): number => 1 << (g - 1);
    const groups = (what.routes ? bit(RTNLGRP_IPV4_ROUTE) | bit(RTNLGRP_IPV6_ROUTE) : 0) | (what.links ? bit(RTNLGRP_LINK) : 0);
    if (groups === 0) throw new NetlinkError('subscribe', 22, 'nothing to subscribe to: set routes and/or links');
    const sub = new EventSubscription(
      openSocketIn(this.netns),
      groups,
      what.receiveBuffer ?? EVENT_RCVBUF,
      cb,
      () => this.#subscriptions.delete(sub),
      this.#tap,
    );
    this.#subscriptions.add(sub);
    return sub;
  }

  /** Closes the request socket and every subscription. Pending requests fail with EBADF. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [...this.#subscriptions]) s.close();
    this.#poll?.close();
    this.#poll = undefined;
    this.#onReadable?.(9 /* EBADF */);
    libc.close(this.#fd);
  }

  #assertOpen(): void {
    if (this.#closed) throw new NetlinkError('netlink socket', 9 /* EBADF */, 'closed');
  }

  /** Runs requests one at a time: a netlink socket carries one dump at a time (else EBUSY). */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  #ack(what: string, build: (seq: number) => Buffer): Promise<void> {
    return this.#exclusive(async () => {
      await this.#transact(what, build, () => {
        throw new NetlinkParseError(`${what}: unexpected data message in reply`);
      });
    });
  }

  /** A dump, restarted (up to DUMP_RETRIES times) when the kernel flags it inconsistent (NLM_F_DUMP_INTR). */
  #dump<T>(what: string, build: (seq: number) => Buffer, each: (m: NlMsg, acc: T[]) => void): Promise<T[]> {
    return this.#exclusive(async () => {
      for (let attempt = 0; ; attempt++) {
        const acc: T[] = [];
        const interrupted = await this.#transact(what, build, (m) => each(m, acc));
        if (!interrupted) return acc;
        if (attempt + 1 >= DUMP_RETRIES) throw new NetlinkError(what, EAGAIN, `dump interrupted by concurrent changes ${DUMP_RETRIES} times`);
      }
    });
  }

  /**
   * Sends one request and reads until its ACK/error (or NLMSG_DONE for a dump). Returns
   * whether a dump was flagged NLM_F_DUMP_INTR. Replies to other sequence numbers (left over
   * from a request that failed half-way) are dropped.
   */
  async #transact(what: string, build: (seq: number) => Buffer, onData: (m: NlMsg) => void): Promise<boolean> {
    this.#assertOpen();
    this.stats.requests++;
    this.#seq = (this.#seq + 1) >>> 0 || 1;
    const seq = this.#seq;
    const req = build(seq);
    if (libc.sendto(this.#fd, req, req.length, 0, libc.sockaddrNl(), 12) < 0) fail(`sendto (${what})`);
    const deadline = performance.now() + REQUEST_TIMEOUT_MS;
    let sliceStart = performance.now();
    let interrupted = false;
    for (;;) {
      this.stats.recvCalls++;
      const n = libc.recv(this.#fd, this.#buf, this.#buf.length, libc.MSG_DONTWAIT | libc.MSG_TRUNC);
      if (n < 0) {
        const e = libc.errno();
        if (e === EINTR) continue;
        if (e !== EAGAIN) throw new NetlinkError(`recv (${what})`, e);
        this.#noteSlice(sliceStart);
        await this.#readable(what, deadline);
        sliceStart = performance.now();
        continue;
      }
      if (n > this.#buf.length) throw new NetlinkParseError(`${what}: datagram of ${n} bytes truncated to ${this.#buf.length}`);
      this.#tap?.(Buffer.from(this.#buf.subarray(0, n)));
      // One NlMsg read in place for every message of the datagram (see NlMsg).
      const datagram = this.#buf.subarray(0, n);
      const m = new NlMsg(datagram);
      for (let i = 0, off = 0; hasMessageAt(datagram, off); i++) {
        // Yield inside a datagram too (a 32 KiB batch is ~450 routes): #buf is only
        // overwritten by the next recv, which comes after this loop.
        if ((i & 63) === 63 && performance.now() - sliceStart >= SLICE_MS) {
          this.#noteSlice(sliceStart);
          this.stats.yields++;
          await yieldToLoop();
          this.#assertOpen();
          sliceStart = performance.now();
        }
        off = m.readAt(off);
        if (m.seq !== seq) continue;
        if (m.flags & NLM_F_DUMP_INTR) interrupted = true;
        if (m.type === NLMSG_ERROR) {
          const err = parseError(m);
          if (err.errno !== 0) throw new NetlinkError(what, err.errno, err.message);
          return interrupted;
        }
        if (m.type === NLMSG_DONE) {
          const errno = parseDone(m);
          if (errno !== 0) throw new NetlinkError(what, errno);
          return interrupted;
        }
        if (m.type < 16) continue; // NOOP, OVERRUN: control messages without data
        onData(m);
      }
      if (performance.now() - sliceStart >= SLICE_MS) {
        this.#noteSlice(sliceStart);
        this.stats.yields++;
        await yieldToLoop();
        this.#assertOpen();
        sliceStart = performance.now();
      }
    }
  }

  #noteSlice(start: number): void {
    this.stats.maxSliceMs = Math.max(this.stats.maxSliceMs, performance.now() - start);
  }

  /**
   * Resolves when libuv's epoll reports the socket readable. libuv reports EPOLLERR (a
   * pending socket error) as status UV_EBADF and stops the handle; the loop's next recv()
   * then returns the real error, so any wake-up resumes the loop. Only close() and the
   * deadline reject here.
   */
  #readable(what: string, deadline: number): Promise<void> {
    this.stats.pollWaits++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(ETIMEDOUT), Math.max(0, deadline - performance.now()));
      const done = (failure?: number): void => {
        clearTimeout(timer);
        this.#onReadable = undefined;
        this.#poll?.stop();
        if (failure !== undefined) reject(new NetlinkError(`poll (${what})`, failure, failure === ETIMEDOUT ? 'no reply from the kernel' : 'socket closed'));
        else resolve();
      };
      this.#onReadable = done;
      const cb = (): void => this.#onReadable?.();
      if (this.#poll) this.#poll.start({ readable: true }, cb);
      else this.#poll = libc.poll(this.#fd, cb);
    });
  }
}
