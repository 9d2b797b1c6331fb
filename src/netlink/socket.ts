// Opening NETLINK_ROUTE sockets, in another network namespace when asked, and the errno
// values and buffer sizes the request and event loops share.
//
// Namespaces. open({ netns }) creates the socket inside libc.inNetns (setns there and back on
// the JavaScript thread; native/libc.ts says why that is safe in Node). A socket keeps the
// namespace it was created in for its whole life, so every later request, dump and event is
// about that namespace, while the thread is already back in its own.
import * as libc from '../../native/libc.js';
import { NetlinkError } from './errors.js';

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
  return libc.inNetns(netnsPath(netns), createRouteSocket, (operation, errno) => new NetlinkError(operation, errno));
}
