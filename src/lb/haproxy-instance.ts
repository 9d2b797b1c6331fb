// LbInstance over one HAProxy runtime API address. Only per-member commands: never a
// backend-wide change, since every node's agent writes into the same backends.
//
// HAProxy 2.6 behaviours this relies on (measured, see test/haproxy-instance.test.ts):
// - `add server` starts the server in maintenance; `enable health` is required or `check`
//   does nothing; after `enable server` the server is UP and takes traffic before any check
//   ran. Sending `add …; enable health; enable server; set server … health down` as ONE line
//   keeps it DOWN until `rise` checks passed. `set server … state drain` in place of `enable
//   server` leaves maintenance as well: checks run (DRAIN, L7OK once they pass) and no new
//   request reaches the server until `state ready` (pre-registration's warm add).
// - Leaving maintenance (`enable server`, `set server … state ready|drain`) only resumes checks
//   that were enabled (maintenance pauses them); a server whose checks were never enabled (added
//   in maintenance) or were disabled comes out UP and never checked, `state ready` then sends
//   it traffic at once. A resumed server is UP on its last result from before the maintenance.
//   So a server found in maintenance is brought out the way an add is (bringUp).
// - `del server` answers "Only servers in maintenance mode can be deleted." unless disabled,
//   and "Server still has connections attached to it, cannot remove it." while sessions are
//   open: removeMember then runs `shutdown sessions server` (the drain window is over when
//   the reconciler removes) and retries.
// - A backend with a static algorithm answers "Backend must use a dynamic load balancing to
//   support dynamic servers."; a missing one "No such backend." (commands) or "Can't find
//   backend." (`show servers state`).
// - `add server be/x … id N` takes a chosen numeric id (refused with "'id' : custom id N
//   already used …" when taken); `show stat <be_id> 4 N` then reports that one server.
//   The backend is named by its numeric id there: by name, HAProxy may pick a frontend that
//   has the same name. `get weight be/x` answers "No such server." / "No such backend." for
//   one server, at no cost that grows with the backend.
import { isIP } from 'node:net';
import type { LbInstance, MemberListing, MemberQuery, MemberReading, MemberSpec, ObservedMember, PriorAdmin } from './provider.js';
import {
  assertName,
  bringUp,
  canonicalAddress,
  hostPort,
  ID_ATTEMPTS,
  ID_TAKEN_RE,
  IDLE_POOL_KEYWORDS,
  isAbsent,
  REPLY_ADDED,
  REPLY_BUSY,
  REPLY_DELETED,
  REPLY_NO_BACKEND,
  REPLY_NO_SERVER,
  REPLY_STATIC_BACKEND,
  serverIdFor,
  serverKey,
} from './haproxy-commands.js';
import { HaproxyCommandError, HaproxyRuntime, type HaproxyRuntimeOptions } from './haproxy-runtime.js';
import { parseServersState, toObservedMember, type ServerStateRow } from './haproxy-servers-state.js';
import { isListingCheaper, parseStat, processIdentity, stateRowOfStat } from './haproxy-server-stat.js';
import { PodlbError } from '../util/errors.js';

export interface HaproxyInstanceOptions extends HaproxyRuntimeOptions {
  /** Use this runtime client (shared, or a fake) instead of opening one. */
  runtime?: HaproxyRuntime;
  /** How long removeMember keeps retrying `del server` after `shutdown sessions server`. Default 2000 ms. */
  removeRetryMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export class HaproxyInstance implements LbInstance {
  readonly id: string;
  readonly runtime: HaproxyRuntime;
  readonly #removeRetryMs: number;
  readonly #sleep: (ms: number) => Promise<void>;
  /** backend name → be_id, and backend/server → ids, as the last listing or add taught them. */
  readonly #backendIds = new Map<string, number>();
  readonly #ids = new Map<string, { backendId: number; serverId: number }>();
  /** Servers in each backend at its last listing: when a listing is the cheaper read. */
  readonly #backendSizes = new Map<string, number>();

  constructor(address: string, options: HaproxyInstanceOptions = {}) {
    this.id = address;
    this.runtime = options.runtime ?? new HaproxyRuntime(address, options);
    this.#removeRetryMs = options.removeRetryMs ?? 2000;
    this.#sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async listMembers(backends: readonly string[], namePrefix: string): Promise<MemberListing> {
    const unique = [...new Set(backends)];
    for (const b of unique) assertName('backend', b);
    // The identity first: a restart between the two replies then shows as a changed identity
    // on the next check, never as a listing taken for the new process's.
    const [info, ...replies] = await this.runtime.pipeline(['show info', ...unique.map((b) => `show servers state ${b}`)]);
    const members: ObservedMember[] = [];
    const missingBackends: string[] = [];
    unique.forEach((backend, i) => {
      const rows = this.#parse(`show servers state ${backend}`, replies[i]!);
      this.#forgetBackend(backend);
      if (rows === null) {
        missingBackends.push(backend);
        return;
      }
      if (rows[0]) this.#backendIds.set(backend, rows[0].backendId);
      this.#backendSizes.set(backend, rows.length);
      for (const row of rows) {
        if (!row.name.startsWith(namePrefix)) continue;
        this.#learn(row);
        members.push(toObservedMember(row));
      }
    });
    return { members, missingBackends, identity: this.#identity(info!) };
  }

  /**
   * One `show stat <backend id> 4 <server id>` per asked member, pipelined: the reply grows
   * with the asked members, not with the backends. A backend is listed instead where that is
   * cheaper for HAProxy (many asked in a small backend: isListingCheaper), or where this client
   * does not know a member's ids (added by an earlier agent process and not listed since).
   */
  async readMembers(asked: readonly MemberQuery[], options: { identity: boolean }): Promise<MemberReading> {
    for (const q of asked) {
      assertName('backend', q.backend);
      assertName('server', q.name);
    }
    const cmds: string[] = options.identity ? ['show info'] : [];
    const perBackend = new Map<string, number>();
    for (const q of asked) perBackend.set(q.backend, (perBackend.get(q.backend) ?? 0) + 1);
    const listed = [...perBackend]
      .filter(
        ([b, n]) =>
          asked.some((q) => q.backend === b && !this.#ids.has(serverKey(b, q.name))) ||
          (this.#backendSizes.has(b) && isListingCheaper(n, this.#backendSizes.get(b)!)),
      )
      .map(([b]) => b);
    for (const b of listed) cmds.push(`show servers state ${b}`);
    const targeted = asked.filter((q) => !listed.includes(q.backend));
    for (const q of targeted) {
      const id = this.#ids.get(serverKey(q.backend, q.name))!;
      cmds.push(`show stat ${id.backendId} 4 ${id.serverId}`);
    }
    const replies = await this.runtime.pipeline(cmds);
    const identity = options.identity ? this.#identity(replies.shift()!) : undefined;
    const members: ObservedMember[] = [];
    const missing = new Set<string>();
    const rowsByBackend = new Map<string, ServerStateRow[]>();
    listed.forEach((backend) => {
      const rows = this.#parse(`show servers state ${backend}`, replies.shift()!);
      if (rows === null) missing.add(backend);
      else {
        rowsByBackend.set(backend, rows);
        this.#backendSizes.set(backend, rows.length);
      }
    });
    for (const q of asked) {
      const key = serverKey(q.backend, q.name);
      if (listed.includes(q.backend)) {
        const row = rowsByBackend.get(q.backend)?.find((r) => r.name === q.name);
        if (row) {
          this.#learn(row);
          members.push(toObservedMember(row));
        }
        continue;
      }
      const cmd = `show stat ${this.#ids.get(key)!.backendId} 4 ${this.#ids.get(key)!.serverId}`;
      const reply = replies.shift()!;
      let rows: ReturnType<typeof parseStat>;
      try {
        rows = parseStat(reply);
      } catch (err) {
        throw new HaproxyCommandError(cmd, reply, { code: 'HAPROXY_UNEXPECTED_REPLY', message: `HAProxy ${this.id}: ${(err as Error).message}` });
      }
      // The ids may now name another server (ours was deleted, or HAProxy restarted): absent.
      const row = rows?.find((r) => r.get('pxname') === q.backend && r.get('svname') === q.name);
      if (!row) {
        this.#ids.delete(key);
        if (rows === null) missing.add(q.backend);
        continue;
      }
      members.push(toObservedMember(stateRowOfStat(row, q.withHealthCheck)));
    }
    return { members, missingBackends: [...missing], ...(identity !== undefined ? { identity } : {}) };
  }

  async addMember(m: MemberSpec): Promise<void> {
    assertName('backend', m.backend);
    assertName('server', m.name);
    if (isIP(m.address) === 0) throw new PodlbError('HAPROXY_INVALID_ADDRESS', `member ${m.name}: ${JSON.stringify(m.address)} is not an IP address`);
    if (!Number.isInteger(m.port) || m.port < 1 || m.port > 65535) throw new PodlbError('HAPROXY_INVALID_ADDRESS', `member ${m.name}: bad port ${m.port}`);
    const hc = m.healthCheck;
    if (hc && !(hc.intervalMs >= 1 && hc.rise >= 1 && hc.fall >= 1)) {
      throw new PodlbError('HAPROXY_INVALID_HEALTH_CHECK', `member ${m.name}: health check needs interval, rise and fall >= 1`);
    }
    const srv = `${m.backend}/${m.name}`;

    // Look first: the add line below would otherwise run its `set server … health down` on an
    // existing (adopted, serving) server of the same name after `add` failed. `get weight`
    // answers for one server; only an existing one costs a listing of its backend.
    const look = `get weight ${srv}`;
    const lookReply = (await this.runtime.command(look)).trim();
    if (lookReply === REPLY_NO_BACKEND) {
      throw new HaproxyCommandError(look, lookReply, {
        code: 'HAPROXY_BACKEND_MISSING',
        message: `HAProxy ${this.id} has no backend ${m.backend} (for member ${m.name})`,
      });
    }
    if (lookReply !== REPLY_NO_SERVER) {
      const showCmd = `show servers state ${m.backend}`;
      const existing = this.#parse(showCmd, await this.runtime.command(showCmd))?.find((r) => r.name === m.name);
      if (existing) {
        this.#learn(existing);
        return this.#adopt(m, existing);
      }
    }

    // podlb picks the server id so that the health poll can address the server without a
    // listing; ids taken by another server (a hash collision) are retried with the next pick.
    let replies: string[] = [];
    let addCmd = '';
    let cmds: string[] = [];
    let addReply = '';
    let serverId = 0;
    for (let attempt = 0; attempt < ID_ATTEMPTS; attempt++) {
      serverId = serverIdFor(m.backend, m.name, attempt);
      const add = [`add server ${srv} ${hostPort(m.address, m.port)}`, 'id', String(serverId), ...IDLE_POOL_KEYWORDS];
      if (hc) add.push('check', 'inter', `${Math.round(hc.intervalMs)}ms`, 'rise', String(hc.rise), 'fall', String(hc.fall));
      addCmd = add.join(' ');
      cmds = [addCmd, ...bringUp(srv, hc !== undefined, m.warm === true)];
      // One line: HAProxy runs these back to back, so no request and no check can see the
      // server UP between `enable server` (or `state drain`) and `health down`.
      replies = await this.runtime.pipeline(cmds, { oneLine: true });
      addReply = replies[0]!.trim();
      if (!ID_TAKEN_RE.test(addReply)) break;
    }
    if (addReply !== REPLY_ADDED) {
      if (addReply === REPLY_STATIC_BACKEND) {
        throw new HaproxyCommandError(addCmd, addReply, {
          code: 'HAPROXY_BACKEND_NOT_DYNAMIC',
          message: `HAProxy ${this.id}: backend ${m.backend} uses a static load-balancing algorithm and refuses dynamic servers; use roundrobin, leastconn or a consistent hash`,
        });
      }
      if (addReply === REPLY_NO_BACKEND) {
        throw new HaproxyCommandError(addCmd, addReply, { code: 'HAPROXY_BACKEND_MISSING', message: `HAProxy ${this.id} has no backend ${m.backend}` });
      }
      throw new HaproxyCommandError(addCmd, addReply);
    }
    const backendId = this.#backendIds.get(m.backend);
    if (backendId !== undefined) this.#ids.set(serverKey(m.backend, m.name), { backendId, serverId });
    cmds.slice(1).forEach((cmd, i) => {
      // Left in maintenance (or DOWN) on failure: safe, and the next add adopts and completes it.
      if (replies[i + 1]!.trim() !== '') throw new HaproxyCommandError(cmd, replies[i + 1]!);
    });
  }

  /**
   * The name exists (agent restart, or a retried add). Same address: done, except that a
   * server left in maintenance by an interrupted add (or remove) or left draining is brought
   * back the safe way. Another address: a conflict the caller must resolve by removing it.
   */
  async #adopt(m: MemberSpec, row: ServerStateRow): Promise<void> {
    const srv = `${m.backend}/${m.name}`;
    if (canonicalAddress(row.address) !== canonicalAddress(m.address) || row.port !== m.port) {
      throw new HaproxyCommandError(`add server ${srv}`, 'Already exists a server with the same name in backend.', {
        code: 'HAPROXY_MEMBER_CONFLICT',
        message: `HAProxy ${this.id}: ${srv} exists with address ${hostPort(row.address, row.port)}, not ${hostPort(m.address, m.port)}`,
      });
    }
    const observed = toObservedMember(row);
    const want = m.warm ? 'drain' : 'ready';
    if (observed.admin === want) return;
    const refused = await this.#setAdmin(m.backend, m.name, want, observed);
    if (refused) throw new HaproxyCommandError(refused.cmd, refused.reply);
  }

  /** `prior` in maintenance: brought out with its check started afresh (bringUp), not just resumed. */
  async drainMember(backend: string, name: string, prior?: PriorAdmin): Promise<void> {
    const refused = await this.#setAdmin(backend, name, 'drain', prior);
    // Absent: nothing can send it new connections, which is all drain asks for.
    if (refused && !isAbsent(refused.reply)) throw new HaproxyCommandError(refused.cmd, refused.reply);
  }

  /**
   * `set server … state ready`: leaves drain (health checks kept running during the drain, so
   * the check state is current). `prior` in maintenance: as drainMember. Absent →
   * HAPROXY_MEMBER_MISSING: the caller re-adds it.
   */
  async enableMember(backend: string, name: string, prior?: PriorAdmin): Promise<void> {
    const refused = await this.#setAdmin(backend, name, 'ready', prior);
    if (!refused) return;
    if (isAbsent(refused.reply)) throw new HaproxyCommandError(refused.cmd, refused.reply, { code: 'HAPROXY_MEMBER_MISSING' });
    throw new HaproxyCommandError(refused.cmd, refused.reply);
  }

  /** The first command HAProxy refused, if any. */
  async #setAdmin(backend: string, name: string, want: 'drain' | 'ready', prior?: PriorAdmin): Promise<{ cmd: string; reply: string } | undefined> {
    assertName('backend', backend);
    assertName('server', name);
    const srv = `${backend}/${name}`;
    const cmds = prior?.admin === 'maint' ? bringUp(srv, prior.health !== 'unchecked', want === 'drain') : [`set server ${srv} state ${want}`];
    const replies = await this.runtime.pipeline(cmds, { oneLine: true });
    const i = replies.findIndex((r) => r.trim() !== '');
    return i < 0 ? undefined : { cmd: cmds[i]!, reply: replies[i]! };
  }

  async removeMember(backend: string, name: string): Promise<void> {
    assertName('backend', backend);
    assertName('server', name);
    const srv = `${backend}/${name}`;
    const disable = `disable server ${srv}`;
    const del = `del server ${srv}`;
    const [disableReply, delReply] = await this.runtime.pipeline([disable, del]);
    this.#ids.delete(serverKey(backend, name));
    if (isAbsent(disableReply!)) return; // already gone
    if (disableReply!.trim() !== '') throw new HaproxyCommandError(disable, disableReply!);
    let reply = delReply!.trim();
    if (reply === REPLY_DELETED || isAbsent(reply)) return;
    if (reply !== REPLY_BUSY) throw new HaproxyCommandError(del, reply);

    // Sessions still open after the drain window: cut them, then HAProxy frees the server
    // once they are released (asynchronously, so retry briefly).
    const shutdown = `shutdown sessions server ${srv}`;
    const deadline = Date.now() + this.#removeRetryMs;
    let delay = 10;
    for (;;) {
      const [shutReply, again] = await this.runtime.pipeline([shutdown, del]);
      if (shutReply!.trim() !== '' && !isAbsent(shutReply!)) throw new HaproxyCommandError(shutdown, shutReply!);
      reply = again!.trim();
      if (reply === REPLY_DELETED || isAbsent(reply)) return;
      if (reply !== REPLY_BUSY) throw new HaproxyCommandError(del, reply);
      if (Date.now() > deadline) {
        throw new HaproxyCommandError(del, reply, { code: 'HAPROXY_MEMBER_BUSY', transient: true });
      }
      await this.#sleep(delay);
      delay = Math.min(delay * 2, 200);
    }
  }

  close(): Promise<void> {
    return this.runtime.close();
  }

  #learn(row: ServerStateRow): void {
    this.#backendIds.set(row.backendName, row.backendId);
    this.#ids.set(serverKey(row.backendName, row.name), { backendId: row.backendId, serverId: row.id });
  }

  /** A fresh listing of the backend replaces what was known of it. */
  #forgetBackend(backend: string): void {
    this.#backendIds.delete(backend);
    for (const k of this.#ids.keys()) if (k.startsWith(`${backend}/`)) this.#ids.delete(k);
  }

  #identity(info: string): string {
    try {
      return processIdentity(info);
    } catch (err) {
      throw new HaproxyCommandError('show info', info, { code: 'HAPROXY_UNEXPECTED_REPLY', message: `HAProxy ${this.id}: ${(err as Error).message}` });
    }
  }

  #parse(cmd: string, reply: string): ServerStateRow[] | null {
    try {
      return parseServersState(reply);
    } catch (err) {
      throw new HaproxyCommandError(cmd, reply, { code: 'HAPROXY_UNEXPECTED_REPLY', message: `HAProxy ${this.id}: ${(err as Error).message}` });
    }
  }
}
