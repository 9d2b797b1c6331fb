// Opening NETLINK_ROUTE sockets, in another network namespace when asked, and the errno
// values and buffer sizes the request and event loops share.
//
// Namespaces. open({ netns }) calls setns(2) on the calling thread (Node's main thread, the
// one running JavaScript), creates the socket, and calls setns back to the thread's original
// namespace before returning. That is safe in Node: the three calls run synchronously one
// after the other, so no other JavaScript, callback or I/O on this thread runs in between;
// libuv's worker threads and V8's threads are other threads and setns never affects them. A
// socket keeps the namespace it was created in for its whole life, so every later request,
// dump and event is about that namespace, while the thread is already back in its own.
import * as libc from '../../native/libc.js';
import { errnoName, NetlinkError } from './errors.js';

export const EAGAIN = 11;
export const EINTR = 4;
export const ENOBUFS = 105;
/** Longest the request loop keeps the event loop before yielding. */
export const SLICE_MS = 2;
/** The kernel caps a dump batch at 32 KiB; one datagram never exceeds this. */
export const RECV_BUFFER = 256 * 1024;

export function netnsPath(netns: string): string {
  if (netns.includes('/')) return netns;
  if (!/^[A-Za-z0-9_.-]+$/.test(netns) || netns === '.' || netns === '..') {
    throw new NetlinkError(`netns ${JSON.stringify(netns)}`, 22 /* EINVAL */, 'not a valid namespace name');
  }
  return `/run/netns/${netns}`;
}

export function fail(operation: string): never {
  throw new NetlinkError(operation, libc.errno());
}

function createRouteSocket(): number {
  const fd = libc.socket(libc.AF_NETLINK, libc.SOCK_RAW | libc.SOCK_NONBLOCK | libc.SOCK_CLOEXEC, libc.NETLINK_ROUTE);
  if (fd < 0) fail('socket(AF_NETLINK, NETLINK_ROUTE)');
  return fd;
}

/**
 * A bare NETLINK_ROUTE socket (SOCK_NONBLOCK) in `netns` (see the header on why setns here is
 * safe). The caller owns and closes the fd; Netlink.open is what podlb code should use.
 */
export function openSocketIn(netns: string | undefined): number {
  if (netns === undefined) return createRouteSocket();
  const path = netnsPath(netns);
  const target = libc.open(path, libc.O_RDONLY | libc.O_CLOEXEC);
  if (target < 0) fail(`open ${path}`);
  const home = libc.open('/proc/thread-self/ns/net', libc.O_RDONLY | libc.O_CLOEXEC);
  if (home < 0) {
    const e = libc.errno();
    libc.close(target);
    throw new NetlinkError('open /proc/thread-self/ns/net', e);
  }
  try {
    if (libc.setns(target, libc.CLONE_NEWNET) < 0) fail(`setns ${path}`);
    let fd = -1;
    let err: unknown;
    try {
      fd = createRouteSocket();
    } catch (e) {
      err = e;
    }
    if (libc.setns(home, libc.CLONE_NEWNET) < 0) {
      // The JavaScript thread is stuck in another namespace: every socket it opens from now
      // on (API server, HAProxy, BIRD) would be in the wrong one. Nothing can be trusted.
      process.stderr.write(`podlb: FATAL: setns back to the original network namespace failed: ${errnoName(libc.errno())}\n`);
      process.abort();
    }
    if (err !== undefined) throw err;
    return fd;
  } finally {
    libc.close(target);
    libc.close(home);
  }
}
