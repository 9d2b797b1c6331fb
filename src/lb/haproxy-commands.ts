// The HAProxy runtime API's words that HaproxyInstance writes and the replies it recognises:
// pure helpers, no I/O.
import { isIP } from 'node:net';
import { PodlbError } from '../util/errors.js';

export const REPLY_ADDED = 'New server registered.';
export const REPLY_DELETED = 'Server deleted.';
export const REPLY_NO_SERVER = 'No such server.';
export const REPLY_NO_BACKEND = 'No such backend.';
export const REPLY_STATIC_BACKEND = 'Backend must use a dynamic load balancing to support dynamic servers.';
export const REPLY_BUSY = 'Server still has connections attached to it, cannot remove it.';

// A dynamic server does not inherit `default-server` nor the defaults a config `server` line
// gets: before 3.0 (fixed by commit 8a31783b6, "BUG/MEDIUM: server: fix dynamic servers initial
// settings") its pool-purge-delay and pool-max-conn stay 0, and srv_add_to_idle_list() then
// never keeps a connection, so every request opened a new one to the Pod (measured:
// test/haproxy-reuse.test.ts). These are the config defaults: on a fixed HAProxy they change nothing. (`max-reuse`, 0 as well on 2.6, which
// would limit a `proto h2` server to one stream per connection by 2.6's mux_h2.c, is refused
// by `add server` there.)
export const IDLE_POOL_KEYWORDS = ['pool-max-conn', '-1', 'pool-purge-delay', '5s'];
/** `add server … id N` when N is taken: "'id' : custom id N already used at (null):0 ('server x')." */
export const ID_TAKEN_RE = /^'id' : custom id \d+ already used/;
export const ID_ATTEMPTS = 4;

/**
 * Out of maintenance (after `add server`, or for a server found there) into taking traffic,
 * or into `state drain` when `warm`, and with a health check, taking traffic only once `rise`
 * checks passed. `enable health` is what starts the checks: leaving maintenance by `enable
 * server` or `set server … state ready|drain` only resumes checks that were enabled before,
 * so a server added with `check` and never enabled, or one whose checks were disabled, would
 * never be checked. `health down` drops a check result from before the maintenance (HAProxy
 * resumes a paused server UP on it), so only a fresh check counts. Measured on 2.6:
 * test/haproxy-instance.test.ts, test/member-executors.test.ts.
 */
export function bringUp(srv: string, withCheck: boolean, warm: boolean): string[] {
  const enable = warm ? `set server ${srv} state drain` : `enable server ${srv}`;
  return withCheck ? [`enable health ${srv}`, enable, `set server ${srv} health down`] : [enable];
}

export function serverKey(backend: string, name: string): string {
  return `${backend}/${name}`;
}

/**
 * The id podlb gives a server it adds: a hash of its name, above the ids HAProxy hands out
 * itself (it takes the lowest free ones, from 1), below 2^31. Another `attempt` gives another
 * pick after a collision.
 */
export function serverIdFor(backend: string, name: string, attempt: number): number {
  let h = 0x811c9dc5;
  for (const ch of `${backend}/${name}#${attempt}`) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return 1_000_000 + (h % 2_000_000_000);
}

/** HAProxy proxy and server names: letters, digits, `_ . : -`. */
const NAME_RE = /^[A-Za-z0-9_.:-]+$/;

export function assertName(what: string, name: string): void {
  if (!NAME_RE.test(name)) throw new PodlbError('HAPROXY_INVALID_NAME', `${what} ${JSON.stringify(name)}: HAProxy allows only [A-Za-z0-9_.:-]`);
}

export function isAbsent(reply: string): boolean {
  const r = reply.trim();
  return r === REPLY_NO_SERVER || r === REPLY_NO_BACKEND;
}

/** HAProxy prints IPv6 addresses in canonical form (`fd00:0:0::1` → `fd00::1`); compare that way. */
export function canonicalAddress(address: string): string {
  return isIP(address) === 6 ? new URL(`http://[${address}]/`).hostname.slice(1, -1) : address;
}

/** IPv6 server addresses are written in brackets on the add line. */
export function hostPort(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}
