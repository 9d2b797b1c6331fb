// Errors of the netlink binding. A kernel NLMSG_ERROR and a failed libc call both become a
// NetlinkError carrying the positive errno and its name, so callers match on
// `err.errnoName === 'EEXIST'` (or `err.code === 'NETLINK_EEXIST'`) instead of on text.
import { getSystemErrorMap } from 'node:util';
import { PodlbError } from '../util/errors.js';

const SYSTEM_ERRORS = getSystemErrorMap();

/** 'EEXIST' for 17, 'E<n>' for a number libuv does not name. */
export function errnoName(errno: number): string {
  return SYSTEM_ERRORS.get(-errno)?.[0] ?? `E${errno}`;
}

function errnoMessage(errno: number): string {
  return SYSTEM_ERRORS.get(-errno)?.[1] ?? `errno ${errno}`;
}

/** Errors worth retrying as they are: contention or a full buffer, not a wrong request. */
const TRANSIENT = new Set(['EAGAIN', 'EBUSY', 'EINTR', 'ENOBUFS', 'ENOMEM', 'ETIMEDOUT']);

export class NetlinkError extends PodlbError {
  /** Positive errno, as in errno.h (EEXIST = 17). */
  readonly errno: number;
  /** Symbolic name of errno: 'EEXIST', 'ESRCH', 'EPERM', ... */
  readonly errnoName: string;
  /** What failed: 'RTM_NEWROUTE 10.0.0.0/24', 'socket', 'setns /run/netns/x', ... */
  readonly operation: string;
  /** The kernel's extended-ack message (NLMSGERR_ATTR_MSG), when it sent one. */
  readonly kernelMessage: string | undefined;

  constructor(operation: string, errno: number, kernelMessage?: string) {
    const name = errnoName(errno);
    super(`NETLINK_${name}`, `${operation}: ${name} (${errnoMessage(errno)})${kernelMessage ? `: ${kernelMessage}` : ''}`, {
      transient: TRANSIENT.has(name),
    });
    this.errno = errno;
    this.errnoName = name;
    this.operation = operation;
    this.kernelMessage = kernelMessage;
  }
}

/** Bytes from the kernel that do not follow the netlink format: a bug here or in the kernel. */
export class NetlinkParseError extends PodlbError {
  constructor(message: string) {
    super('NETLINK_PARSE', message);
  }
}
