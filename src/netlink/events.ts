// rtnetlink multicast subscriptions: a socket bound to route and/or link groups, drained on
// libuv's poll without blocking, its datagrams parsed into typed events.
import * as libc from '../../native/libc.js';
import { RTM_DELLINK, RTM_DELROUTE, RTM_NEWLINK, RTM_NEWROUTE } from './constants.js';
import { NetlinkError, NetlinkParseError } from './errors.js';
import { parseLink, type Link } from './link.js';
import { splitMessages, type NlMsg } from './message.js';
import { parseRoute, type Route } from './route.js';
import { EAGAIN, EINTR, ENOBUFS, fail, RECV_BUFFER, SLICE_MS } from './socket.js';

/** Event socket receive buffer (SO_RCVBUFFORCE, root): a burst of 20,000 route events fits (measured). */
export const EVENT_RCVBUF = 8 << 20;

export type NetlinkEvent =
  | { kind: 'route'; op: 'new' | 'del'; route: Route }
  | { kind: 'link'; op: 'new' | 'del'; link: Link }
  /**
   * The kernel dropped events (ENOBUFS): the subscriber must re-read the state it cares about.
   * Sent once the queue is drained, when the kernel again reports every drop (see #drain).
   */
  | { kind: 'overrun' }
  /** The subscription failed and is closed. */
  | { kind: 'error'; error: Error };

export interface Subscription {
  /** Delivers now what the kernel queued before this call, rather than at the event loop's next turn. */
  flush(): void;
  close(): void;
}

export class EventSubscription implements Subscription {
  readonly #fd: number;
  readonly #buf = Buffer.allocUnsafe(RECV_BUFFER);
  readonly #cb: (ev: NetlinkEvent) => void;
  readonly #onClose: () => void;
  readonly #poll: libc.PollHandle;
  readonly #tap: ((bytes: Buffer) => void) | undefined;
  #closed = false;
  /** ENOBUFS seen, overrun not yet sent. */
  #dropped = false;

  constructor(fd: number, groups: number, rcvbuf: number, cb: (ev: NetlinkEvent) => void, onClose: () => void, tap?: (bytes: Buffer) => void) {
    this.#fd = fd;
    this.#tap = tap;
    this.#cb = cb;
    this.#onClose = onClose;
    try {
      // A larger buffer as root (FORCE ignores rmem_max); else whatever rmem_max allows.
      if (libc.setsockopt(fd, libc.SOL_SOCKET, libc.SO_RCVBUFFORCE, libc.int32(rcvbuf), 4) < 0) {
        libc.setsockopt(fd, libc.SOL_SOCKET, libc.SO_RCVBUF, libc.int32(rcvbuf), 4);
      }
      if (libc.bind(fd, libc.sockaddrNl(0, groups), 12) < 0) fail(`bind groups 0x${groups.toString(16)}`);
      this.#poll = libc.poll(fd, (status) => this.#onPoll(status));
    } catch (err) {
      libc.close(fd);
      throw err;
    }
  }

  /**
   * A dropped event (the kernel found the receive buffer full) sets the socket error
   * ENOBUFS: epoll reports EPOLLERR, which libuv hands over as status UV_EBADF after stopping
   * the handle. Restart it and let recv() report the real error.
   */
  #onPoll(status: number): void {
    if (this.#closed) return;
    if (status < 0) this.#poll.start({ readable: true }, (st) => this.#onPoll(st));
    this.#drain();
  }

  /**
   * Reads what is queued, for at most SLICE_MS: uv_poll is level-triggered, so anything left
   * fires again next loop turn.
   *
   * The overrun is sent only when the queue is empty. The kernel reports ENOBUFS once per
   * congestion and stays silent about further drops until the reader has emptied the queue
   * (netlink_overrun sets NETLINK_S_CONGESTED, netlink_rcv_wake clears it). A subscriber that
   * re-read its state on the first ENOBUFS, with the queue still full, would miss a change
   * dropped after that read without any second signal; after an empty queue every drop is
   * reported again.
   */
  #drain(): void {
    const start = performance.now();
    while (!this.#closed && performance.now() - start < SLICE_MS) {
      const n = libc.recv(this.#fd, this.#buf, this.#buf.length, libc.MSG_DONTWAIT | libc.MSG_TRUNC);
      if (n < 0) {
        const e = libc.errno();
        if (e === EAGAIN) {
          if (this.#dropped) {
            this.#dropped = false;
            this.#cb({ kind: 'overrun' });
          }
          return;
        }
        if (e === EINTR) continue;
        if (e === ENOBUFS) {
          this.#dropped = true;
          continue;
        }
        this.#fail(new NetlinkError('recv (subscription)', e));
        return;
      }
      let events: NetlinkEvent[];
      try {
        if (n > this.#buf.length) throw new NetlinkParseError(`event datagram of ${n} bytes truncated`);
        this.#tap?.(Buffer.from(this.#buf.subarray(0, n)));
        events = splitMessages(this.#buf.subarray(0, n)).flatMap(toEvent);
      } catch (err) {
        this.#fail(err as Error);
        return;
      }
      for (const ev of events) this.#cb(ev);
    }
  }

  flush(): void {
    if (!this.#closed) this.#drain();
  }

  #fail(error: Error): void {
    this.close();
    this.#cb({ kind: 'error', error });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#poll.close();
    libc.close(this.#fd);
    this.#onClose();
  }
}

function toEvent(m: NlMsg): NetlinkEvent[] {
  switch (m.type) {
    case RTM_NEWROUTE:
    case RTM_DELROUTE: {
      const route = parseRoute(m);
      return route ? [{ kind: 'route', op: m.type === RTM_NEWROUTE ? 'new' : 'del', route }] : [];
    }
    case RTM_NEWLINK:
    case RTM_DELLINK:
      return [{ kind: 'link', op: m.type === RTM_NEWLINK ? 'new' : 'del', link: parseLink(m) }];
    default:
      return [];
  }
}
