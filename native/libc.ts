// The libc calls the netlink binding makes, declared with koffi (see README.md here for why
// there is no C in this directory). Every function is a thin, typed wrapper: it returns what
// libc returns (-1 on failure) and the caller reads errno() right after, on the same thread.
//
// Only the calls below exist. All of them return at once when used as src/netlink uses
// them: sockets are created SOCK_NONBLOCK and recv() is called with MSG_DONTWAIT, so nothing
// here ever waits for the kernel; waiting for data is done by poll(), which registers the fd
// with libuv's own epoll loop and calls back on the event loop when the fd is readable.
import koffi from 'koffi';

/** Linux x86-64 / arm64 values (asm-generic); this module is only loaded on Linux. */
export const AF_NETLINK = 16;
export const AF_INET = 2;
export const SOCK_STREAM = 1;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const NETLINK_ROUTE = 0;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_RCVBUF = 8;
export const SO_RCVBUFFORCE = 33;
export const SOL_NETLINK = 270;
export const NETLINK_ADD_MEMBERSHIP = 1;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
export const NETLINK_GET_STRICT_CHK = 12;
export const MSG_DONTWAIT = 0x40;
export const MSG_TRUNC = 0x20;
export const O_RDONLY = 0;
export const O_CLOEXEC = 0o2000000;
export const CLONE_NEWNET = 0x40000000;

if (process.platform !== 'linux') {
  throw new Error(`native/libc: netlink needs Linux, not ${process.platform}`);
}

const libc = koffi.load('libc.so.6');

type Fn<A extends unknown[]> = (...args: A) => number;

// `void *` parameters take a Buffer: koffi passes a pointer to the Buffer's own memory (no
// copy), so recv() writes straight into the caller's buffer.
export const socket = libc.func('int socket(int domain, int type, int protocol)') as Fn<[number, number, number]>;
export const bind = libc.func('int bind(int fd, const void *addr, uint32_t addrlen)') as Fn<[number, Buffer, number]>;
export const getsockname = libc.func('int getsockname(int fd, void *addr, _Inout_ uint32_t *addrlen)') as Fn<[number, Buffer, number[]]>;
export const setsockopt = libc.func('int setsockopt(int fd, int level, int optname, const void *optval, uint32_t optlen)') as Fn<
  [number, number, number, Buffer, number]
>;
export const sendto = libc.func('long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)') as Fn<
  [number, Buffer, number, number, Buffer | null, number]
>;
const recvFn = libc.func('long recv(int fd, void *buf, size_t len, int flags)');
export const recv = recvFn as Fn<[number, Buffer, number, number]>;
/**
 * recv() on one of koffi's worker threads (koffi `.async`). NOT used by src/netlink: only
 * bench/netlink.ts, to measure the thread-hop design the binding rejected. errno() is not
 * meaningful after it (it ran on another thread).
 */
export function recvOnWorker(fd: number, buf: Buffer, len: number, flags: number): Promise<number> {
  return new Promise((resolve, reject) => {
    recvFn.async(fd, buf, len, flags, (err: unknown, n: number) => (err ? reject(err as Error) : resolve(n)));
  });
}
export const listen = libc.func('int listen(int fd, int backlog)') as Fn<[number, number]>;
export const close = libc.func('int close(int fd)') as Fn<[number]>;
export const open = libc.func('int open(const char *path, int flags)') as Fn<[string, number]>;
/** Moves the CALLING THREAD into the namespace referred to by fd (man 2 setns). */
export const setns = libc.func('int setns(int fd, int nstype)') as Fn<[number, number]>;

/** errno of the last libc call made on this thread through koffi. */
export function errno(): number {
  return koffi.errno();
}

export interface PollEvents {
  readable: boolean;
  writable: boolean;
  disconnect: boolean;
}

/** A libuv poll handle on an fd: the callback runs on the event loop, never in a thread. */
export interface PollHandle {
  start(opts: { readable?: boolean }, cb: (status: number, ev: PollEvents) => void): void;
  stop(): void;
  close(): void;
  ref(): void;
  unref(): void;
}

/**
 * koffi's libuv integration (koffi >= 2.15, `koffi.node.poll`): uv_poll_init_socket +
 * uv_poll_start on the fd. The handle starts at once; the callback gets (status, events)
 * (status < 0 is a libuv error). The typings in koffi's index.d.ts omit the status argument.
 */
export function poll(fd: number, cb: (status: number, ev: PollEvents) => void): PollHandle {
  const p = (koffi as unknown as { node: { poll(fd: number, opts: { readable: boolean }, cb: (status: number, ev: PollEvents) => void): PollHandle } }).node.poll;
  return p(fd, { readable: true }, cb);
}

/**
 * Runs `fn` with the calling thread in the network namespace at `nsPath` (/run/netns/NAME) and
 * moves it back before returning. Safe on Node's JavaScript thread: the setns calls and `fn` run
 * synchronously one after the other, so no other JavaScript, callback or I/O of this thread runs
 * in between; libuv's and V8's threads are other threads and setns never moves them. A socket
 * `fn` creates keeps that namespace for its whole life. `error(operation, errno)` makes what is
 * thrown when a call here fails.
 */
export function inNetns<T>(nsPath: string, fn: () => T, error: (operation: string, errno: number) => Error): T {
  const target = open(nsPath, O_RDONLY | O_CLOEXEC);
  if (target < 0) throw error(`open ${nsPath}`, errno());
  const home = open('/proc/thread-self/ns/net', O_RDONLY | O_CLOEXEC);
  if (home < 0) {
    const e = errno();
    close(target);
    throw error('open /proc/thread-self/ns/net', e);
  }
  try {
    if (setns(target, CLONE_NEWNET) < 0) throw error(`setns ${nsPath}`, errno());
    try {
      return fn();
    } finally {
      if (setns(home, CLONE_NEWNET) < 0) {
        // The JavaScript thread is stuck in another namespace: every socket it opens from now
        // on would be in the wrong one. Nothing can be trusted.
        process.stderr.write(`podlb: FATAL: setns back to the original network namespace failed: errno ${errno()}\n`);
        process.abort();
      }
    }
  } finally {
    close(target);
    close(home);
  }
}

/** struct sockaddr_in { sa_family_t sin_family; in_port_t sin_port (network order); struct in_addr sin_addr; char zero[8]; } */
export function sockaddrIn(ip: string, port: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(port, 2);
  ip.split('.').forEach((octet, i) => b.writeUInt8(Number(octet), 4 + i));
  return b;
}

/** struct sockaddr_nl { sa_family_t nl_family; unsigned short nl_pad; __u32 nl_pid; __u32 nl_groups; } */
export function sockaddrNl(pid = 0, groups = 0): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(AF_NETLINK, 0);
  b.writeUInt32LE(pid, 4);
  b.writeUInt32LE(groups, 8);
  return b;
}

export function int32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value, 0);
  return b;
}
