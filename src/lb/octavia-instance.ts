// LbInstance over one Octavia load balancer (API v2). Every node's agent writes into the same
// pools, so only per-member calls are made: POST one member, PUT one member's weight, DELETE
// one member. NEVER the batch update (PUT /v2/lbaas/pools/{id}/members): it replaces the
// pool's whole member list and would delete every other node's members
// (octavia-ownership.test.ts shows it). A pool tagged `podlb-owned` is the exception: the
// controller's leader writes it in batch; listMembers names it in `batchBackends`, and the
// member reconciler writes nothing there.
//
// - Backend = a pool of this load balancer, by name (or by id).
// - Ownership: member name = podlb member name (encodes the node, naming.ts) and tags
//   `podlb` + `podlb-node:<node>`. Listing filters on both tags server-side and on the name
//   prefix client-side; drain/enable/remove look a member up by name AND tags first, so a
//   member another node (or anyone else) made is never listed or touched.
// - Drain = weight 0 (Octavia's HAProxy then sends no new connections, established ones
//   finish), enable = weight 1, remove = DELETE (404 = already gone). A member the last
//   reading saw with admin_state_up false gets it true in the same PUT, as an add that adopts
//   it does: the amphora does not check an admin-down member (its server is `disabled`), so a
//   warming one would never turn healthy, and weight alone would be PUT again on every run.
// - Every change locks the LB (PENDING_UPDATE) for as long as the amphora takes; a change
//   meanwhile gets 409, retried with jittered backoff (OctaviaClient). Our own parallel
//   changes are queued so they do not collide with each other.
// - The member's health check is the POOL's health monitor (configured by the operator), so
//   MemberSpec.healthCheck is not applied here; a pool without one reports NO_MONITOR →
//   'unchecked'. ONLINE counts only once the monitor's delay × max_retries_down plus a
//   heartbeat have passed since the member was seen ACTIVE (octavia-health.ts), so the
//   monitor is read with the pool list.
// - A member in provisioning ERROR is listed `failed`: the reconciler removes and re-adds it.
// - A 409 "immutable" first asks whether the LB itself is in ERROR: such an LB refuses every
//   change until an operator repairs it, so it fails at once with LB_IN_ERROR instead of
//   spending the 409 retry budget.
import { isIP } from 'node:net';
import { LB_IN_ERROR, type LbInstance, type MemberListing, type MemberSpec, type ObservedMember, type PriorAdmin } from './provider.js';
import { parseMemberName } from './naming.js';
import type { PoolMemberRecord as OctaviaMember } from './octavia-batch.js';
import { OctaviaClient, type OctaviaClientOptions, type OctaviaCounters } from './octavia-client.js';
import { OctaviaApiError } from './octavia-errors.js';
import { octaviaMemberAdmin, octaviaMemberDetail, octaviaMemberHealth, octaviaSettleMs } from './octavia-health.js';
import { OctaviaPools, type PoolRef } from './octavia-pools.js';
import { listTags, MAX_TAG, nodeTag, octaviaInstanceId, TAG_PODLB } from './octavia-tags.js';

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export interface OctaviaInstanceOptions extends OctaviaClientOptions {
  loadBalancerID: string;
  /**
   * The node this agent runs on. Set, every member name and list prefix must be this node's
   * (OCTAVIA_NOT_OWNER otherwise): a second guard besides the reconciler's own prefix filter.
   */
  nodeName?: string;
  /** Default octaviaInstanceId(loadBalancerID, region). */
  id?: string;
  /** subnet_id for new members; unset → Octavia reaches members through the VIP subnet (Pod routes come by BGP). */
  memberSubnetID?: string;
  /** `limit` of member and pool list pages; unset → the server's maximum (Octavia: 1000). */
  pageSize?: number;
  /** Pools of the LB are re-read after this long, and at most every poolRefreshMinMs when a backend is missing. */
  poolCacheTtlMs?: number;
  poolRefreshMinMs?: number;
  /**
   * The amphorae's heartbeat interval (Octavia's `health_manager.heartbeat_interval`, default
   * 10 s): the longest an ONLINE report can lag behind HAProxy. Not readable through the API.
   */
  heartbeatMs?: number;
}

export class OctaviaInstance implements LbInstance {
  readonly id: string;
  readonly client: OctaviaClient;
  readonly loadBalancerID: string;
  readonly #opts: OctaviaInstanceOptions;
  readonly #now: () => number;
  readonly #pools: OctaviaPools;
  /** backend|name → member id, from the last listing or add. */
  readonly #memberIds = new Map<string, { poolId: string; memberId: string }>();
  /** member id → when this client first saw it ACTIVE (programmed on the amphora). */
  readonly #activeSince = new Map<string, number>();
  /** Our own changes, one at a time: parallel ones would only 409 each other. */
  #writeQueue: Promise<unknown> = Promise.resolve();

  constructor(opts: OctaviaInstanceOptions) {
    if (!UUID_RE.test(opts.loadBalancerID))
      throw new OctaviaApiError('OCTAVIA_INVALID_LB_ID', `loadBalancerID ${JSON.stringify(opts.loadBalancerID)} is not a UUID`, {
        status: 0,
        method: '',
        path: '',
      });
    this.#opts = opts;
    this.loadBalancerID = opts.loadBalancerID;
    this.id = opts.id ?? octaviaInstanceId(opts.loadBalancerID, opts.region);
    this.client = new OctaviaClient(opts);
    this.#pools = new OctaviaPools(this.client, opts);
    this.#now = opts.now ?? Date.now;
  }

  /** Every HTTP request this instance made (Keystone and Octavia, retries included). */
  get apiCalls(): number {
    return this.client.counters.octaviaCalls + this.client.counters.keystoneCalls;
  }

  get counters(): Readonly<OctaviaCounters> {
    return this.client.counters;
  }

  /** One member list per pool (both podlb tags filtered server-side, all pages). */
  async listMembers(backends: readonly string[], namePrefix: string): Promise<MemberListing> {
    const unique = [...new Set(backends)];
    const tags = listTags(namePrefix);
    const own = this.#opts.nodeName;
    if (own !== undefined && !tags.includes(nodeTag(own))) {
      throw new OctaviaApiError('OCTAVIA_NOT_OWNER', `listing prefix ${JSON.stringify(namePrefix)} is not node ${own}'s; an agent lists only its own members`, {
        status: 0,
        method: '',
        path: '',
      });
    }
    const pools = await this.#pools.resolve(unique);
    const members: ObservedMember[] = [];
    const missingBackends: string[] = [];
    const batchBackends = unique.filter((b) => pools.get(b)?.batch);
    await Promise.all(
      unique.map(async (backend) => {
        const pool = pools.get(backend);
        if (!pool) {
          missingBackends.push(backend);
          return;
        }
        let list: OctaviaMember[];
        try {
          list = await this.client.listAll<OctaviaMember>(
            `/v2/lbaas/pools/${pool.id}/members`,
            'members',
            new URLSearchParams({ tags: tags.join(',') }),
            this.#opts.pageSize,
          );
        } catch (err) {
          if (err instanceof OctaviaApiError && err.status === 404) {
            // The pool went away since we resolved it.
            this.#pools.forget();
            missingBackends.push(backend);
            return;
          }
          throw err;
        }
        for (const k of [...this.#memberIds.keys()]) {
          const ref = this.#memberIds.get(k)!;
          if (!k.startsWith(`${backend}|`) || ref.poolId !== pool.id) continue;
          this.#memberIds.delete(k);
          if (!list.some((m) => m.id === ref.memberId)) this.#activeSince.delete(ref.memberId);
        }
        const now = this.#now();
        const settleMs = pool.monitor ? octaviaSettleMs(pool.monitor, this.#opts.heartbeatMs ?? 10_000) : 0;
        for (const m of list) {
          // Server-side tag filtering is trusted only as far as the name says it is ours too.
          if (!m.name.startsWith(namePrefix) || !tags.every((t) => m.tags?.includes(t) ?? false)) continue;
          this.#memberIds.set(`${backend}|${m.name}`, { poolId: pool.id, memberId: m.id });
          // PENDING_UPDATE and PENDING_DELETE members are on the amphora too; only PENDING_CREATE and ERROR are not.
          if (!this.#activeSince.has(m.id) && /^(ACTIVE|PENDING_UPDATE|PENDING_DELETE)$/.test(m.provisioning_status)) this.#activeSince.set(m.id, now);
          const since = this.#activeSince.get(m.id);
          members.push({
            backend,
            name: m.name,
            address: m.address,
            port: m.protocol_port,
            admin: octaviaMemberAdmin(m),
            health: octaviaMemberHealth(m, since !== undefined && now - since >= settleMs),
            detail: octaviaMemberDetail(m),
            ...(m.provisioning_status === 'ERROR' ? { failed: true as const } : {}),
          });
        }
      }),
    );
    missingBackends.sort();
    return { members, missingBackends, ...(batchBackends.length > 0 ? { batchBackends } : {}) };
  }

  /**
   * POST one member (weight 1, podlb tags; weight 0 when `warm`: Octavia keeps checking a
   * weight-0 member, octavia-health.ts). A member with this address:port already in the pool (a
   * retried add whose reply was lost, an agent restart) is adopted when it is ours (same name,
   * our node tag) and brought to that weight; anyone else's is a conflict.
   */
  async addMember(m: MemberSpec): Promise<void> {
    const node = this.#ownerNode(m.name);
    if (isIP(m.address) === 0) throw this.#invalid(`member ${m.name}: ${JSON.stringify(m.address)} is not an IP address`);
    if (!Number.isInteger(m.port) || m.port < 1 || m.port > 65535) throw this.#invalid(`member ${m.name}: bad port ${m.port}`);
    if (m.name.length > MAX_TAG) throw this.#invalid(`member name ${m.name} is longer than Octavia's 255 characters`);
    const pool = await this.#poolFor(m.backend, m.name);
    const tags = [TAG_PODLB, nodeTag(node)];
    const weight = m.warm ? 0 : 1;
    const path = `/v2/lbaas/pools/${pool.id}/members`;
    await this.#write(async () => {
      const reply = await this.client.request('POST', path, {
        body: {
          member: {
            name: m.name,
            address: m.address,
            protocol_port: m.port,
            weight,
            admin_state_up: true,
            tags,
            ...(this.#opts.memberSubnetID ? { subnet_id: this.#opts.memberSubnetID } : {}),
          },
        },
        accept: [409],
        retryPending: true,
        onImmutable: this.#lbInError,
      });
      if (reply.status !== 409) {
        const id = reply.body?.member?.id;
        if (typeof id === 'string') this.#memberIds.set(`${m.backend}|${m.name}`, { poolId: pool.id, memberId: id });
        return;
      }
      // 409 that is not "immutable": the address:port is taken in this pool.
      const same = await this.client.listAll<OctaviaMember>(path, 'members', new URLSearchParams({ address: m.address, protocol_port: String(m.port) }));
      const existing = same[0];
      if (!existing)
        throw new OctaviaApiError('OCTAVIA_CONFLICT', `Octavia POST ${path}: ${reply.fault}`, { status: 409, method: 'POST', path, fault: reply.fault });
      if (existing.name !== m.name || !tags.every((t) => existing.tags?.includes(t))) {
        throw new OctaviaApiError(
          'OCTAVIA_MEMBER_CONFLICT',
          `Octavia pool ${m.backend} already has ${m.address}:${m.port} as member ${JSON.stringify(existing.name)} (tags ${JSON.stringify(existing.tags ?? [])}), not made by podlb on this node; podlb leaves it alone`,
          { status: 409, method: 'POST', path, fault: reply.fault },
        );
      }
      this.#memberIds.set(`${m.backend}|${m.name}`, { poolId: pool.id, memberId: existing.id });
      if (existing.weight !== weight || !existing.admin_state_up) {
        await this.client.request('PUT', `${path}/${existing.id}`, {
          body: { member: { weight, admin_state_up: true } },
          retryPending: true,
          onImmutable: this.#lbInError,
        });
      }
    });
  }

  async drainMember(backend: string, name: string, prior?: PriorAdmin): Promise<void> {
    // Absent: nothing can send it new connections, which is all drain asks for.
    await this.#updateWeight(backend, name, 0, 'ignore', prior?.admin === 'maint');
  }

  /** Weight 1 again after a drain. Absent → OCTAVIA_MEMBER_MISSING: the caller re-adds it. */
  async enableMember(backend: string, name: string, prior?: PriorAdmin): Promise<void> {
    await this.#updateWeight(backend, name, 1, 'throw', prior?.admin === 'maint');
  }

  async removeMember(backend: string, name: string): Promise<void> {
    const node = this.#ownerNode(name);
    await this.#write(() =>
      this.#withMember(backend, name, node, async (ref) => {
        const r = await this.client.request('DELETE', `/v2/lbaas/pools/${ref.poolId}/members/${ref.memberId}`, {
          accept: [404],
          retryPending: true,
          onImmutable: this.#lbInError,
        });
        this.#memberIds.delete(`${backend}|${name}`);
        return r.status !== 404;
      }),
    );
  }

  async close(): Promise<void> {
    await this.#writeQueue.catch(() => undefined);
  }

  // ---- internals ----

  async #updateWeight(backend: string, name: string, weight: number, ifAbsent: 'ignore' | 'throw', adminUp: boolean): Promise<void> {
    const node = this.#ownerNode(name);
    const found = await this.#write(() =>
      this.#withMember(backend, name, node, async (ref) => {
        const r = await this.client.request('PUT', `/v2/lbaas/pools/${ref.poolId}/members/${ref.memberId}`, {
          body: { member: { weight, ...(adminUp ? { admin_state_up: true } : {}) } },
          accept: [404],
          retryPending: true,
          onImmutable: this.#lbInError,
        });
        return r.status !== 404;
      }),
    );
    if (!found && ifAbsent === 'throw') {
      throw new OctaviaApiError('OCTAVIA_MEMBER_MISSING', `Octavia load balancer ${this.loadBalancerID}: no member ${name} in ${backend}`, {
        status: 404,
        method: 'PUT',
        path: '',
      });
    }
  }

  /**
   * Runs `fn` on our member `name` in `backend`: the cached id first; when that is gone
   * (404), or not cached, looks it up by name AND our tags. Returns false when it is absent.
   */
  async #withMember(backend: string, name: string, node: string, fn: (ref: { poolId: string; memberId: string }) => Promise<boolean>): Promise<boolean> {
    const key = `${backend}|${name}`;
    const cached = this.#memberIds.get(key);
    if (cached && (await fn(cached))) return true;
    this.#memberIds.delete(key);
    const pools = await this.#pools.resolve([backend]);
    const pool = pools.get(backend);
    if (!pool) return false;
    const found = await this.client.listAll<OctaviaMember>(
      `/v2/lbaas/pools/${pool.id}/members`,
      'members',
      new URLSearchParams({ name, tags: [TAG_PODLB, nodeTag(node)].join(',') }),
    );
    const mine = found.find((x) => x.name === name && x.tags?.includes(nodeTag(node)));
    if (!mine || (cached && cached.memberId === mine.id)) return false;
    const ref = { poolId: pool.id, memberId: mine.id };
    this.#memberIds.set(key, ref);
    return fn(ref);
  }

  /** Queues a change behind our other changes. */
  #write<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#writeQueue.then(fn, fn);
    this.#writeQueue = run.catch(() => undefined);
    return run;
  }

  /**
   * Asked on a write's first 409 "immutable": PENDING_* passes (someone else's change), ERROR
   * (not in Octavia's MUTABLE_STATUSES, octavia/common/constants.py:247) never does by itself.
   */
  readonly #lbInError = async (): Promise<void> => {
    const lb = await this.client.request('GET', `/v2/lbaas/loadbalancers/${this.loadBalancerID}`).catch(() => undefined);
    if (lb?.body?.loadbalancer?.provisioning_status !== 'ERROR') return;
    throw new OctaviaApiError(
      LB_IN_ERROR,
      `Octavia load balancer ${this.loadBalancerID} is in provisioning_status ERROR and refuses every change; an operator must repair or fail it over`,
      { status: 409, method: 'GET', path: `/v2/lbaas/loadbalancers/${this.loadBalancerID}` },
      { transient: true },
    );
  };

  async #poolFor(backend: string, memberName: string): Promise<PoolRef> {
    const pool = (await this.#pools.resolve([backend])).get(backend);
    if (!pool)
      throw new OctaviaApiError(
        'OCTAVIA_BACKEND_MISSING',
        `Octavia load balancer ${this.loadBalancerID} has no pool named ${JSON.stringify(backend)} (for member ${memberName})`,
        { status: 404, method: 'GET', path: '/v2/lbaas/pools' },
      );
    return pool;
  }

  /** The node a podlb member name belongs to; anything else is refused (we only touch our own). */
  #ownerNode(name: string): string {
    const parsed = parseMemberName(name);
    if (!parsed) throw this.#invalid(`${JSON.stringify(name)} is not a podlb member name; podlb only touches members it made`);
    const own = this.#opts.nodeName;
    if (own !== undefined && parsed.node !== own) {
      throw new OctaviaApiError('OCTAVIA_NOT_OWNER', `member ${name} belongs to node ${parsed.node}, not ${own}; an agent touches only its own members`, {
        status: 0,
        method: '',
        path: '',
      });
    }
    return parsed.node;
  }

  #invalid(message: string): OctaviaApiError {
    return new OctaviaApiError('OCTAVIA_INVALID_MEMBER', message, { status: 0, method: '', path: '' });
  }
}
