// The in-process Octavia's resources and their status machine (tests and the bench).
// Follows the Octavia v2 API reference and the Octavia source where the reference is silent:
// - A member change locks the load balancer: LB, pool and member go PENDING_* and the LB
//   answers every further change with 409 "Load Balancer <id> is immutable and cannot be
//   updated." until the provider finishes (here: `pendingMs` later), then ACTIVE.
//   The window is seconds on a real cloud (one amphora reload per change): REALISTIC_PENDING_MS.
// - A provider failure (faults.failProvisioning) leaves the members it touched in
//   provisioning_status ERROR and the LB and pool ACTIVE again
//   (octavia/controller/worker/v2/tasks/lifecycle_tasks.py:184-207 MemberToErrorOnRevertTask).
//   A load balancer in ERROR is not in MUTABLE_STATUSES (octavia/common/constants.py:247): every
//   change is 409 "immutable" for as long as it stays so.
// - A new member's operating_status is OFFLINE when its pool has a health monitor and
//   NO_MONITOR otherwise (octavia/db/prepare.py:171-179); the health manager's heartbeats
//   (health.ts) then move it. Tests set it by hand, or `heartbeatMs` runs the health manager.
// - Members are unique per pool by (address, protocol_port): 409 on a duplicate.
// - A member quota: 403 "Quota has been met for resources: Member"
//   (octavia/common/exceptions.py:314-316), checked before the lock on a create
//   (octavia/api/v2/controllers/member.py:197-201).
// - The batch update (PUT /pools/{id}/members): see batchUpdate.
import { randomUUID } from 'node:crypto';
import { FakeHealthManager, type CheckResult, type FakeHealthMonitor, type MonitorInput } from './health.js';

export type ProvisioningStatus = 'ACTIVE' | 'PENDING_CREATE' | 'PENDING_UPDATE' | 'PENDING_DELETE' | 'ERROR' | 'DELETED';
export type OperatingStatus = 'ONLINE' | 'OFFLINE' | 'DEGRADED' | 'ERROR' | 'DRAINING' | 'NO_MONITOR';

export interface FakeLoadBalancer {
  id: string;
  name: string;
  project_id: string;
  vip_address: string;
  provisioning_status: ProvisioningStatus;
  operating_status: OperatingStatus;
  tags: string[];
  created_at: string;
  updated_at: string | null;
}

export interface FakePool {
  id: string;
  name: string;
  loadbalancer_id: string;
  project_id: string;
  protocol: 'HTTP' | 'TCP';
  lb_algorithm: 'ROUND_ROBIN' | 'LEAST_CONNECTIONS' | 'SOURCE_IP';
  healthmonitor_id: string | null;
  /** Listeners using the pool (ids only). A pool no listener uses is never in a heartbeat. */
  listeners: { id: string }[];
  provisioning_status: ProvisioningStatus;
  operating_status: OperatingStatus;
  tags: string[];
  created_at: string;
  updated_at: string | null;
}

export interface FakeMember {
  id: string;
  pool_id: string;
  project_id: string;
  name: string;
  address: string;
  protocol_port: number;
  weight: number;
  admin_state_up: boolean;
  backup: boolean;
  subnet_id: string | null;
  monitor_address: string | null;
  monitor_port: number | null;
  provisioning_status: ProvisioningStatus;
  operating_status: OperatingStatus;
  tags: string[];
  created_at: string;
  updated_at: string | null;
}

/** Thrown by the state operations; the server turns it into Octavia's error reply. */
export class FakeApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface MemberInput {
  name?: string;
  address: string;
  protocol_port: number;
  weight?: number;
  admin_state_up?: boolean;
  backup?: boolean;
  subnet_id?: string | null;
  monitor_address?: string | null;
  monitor_port?: number | null;
  tags?: string[];
}

export const DEFAULT_PROJECT_ID = 'f0e1d2c3b4a5968778695a4b3c2d1e0f';
/**
 * How long one change keeps the LB PENDING_* unless a test says otherwise: one amphora
 * configuration push and HAProxy reload (an active-standby pair does it twice), seconds on a
 * real cloud. The low end of that, so the suites stay fast enough.
 */
export const REALISTIC_PENDING_MS = 2_000;

export class OctaviaFakeState {
  readonly loadBalancers = new Map<string, FakeLoadBalancer>();
  readonly pools = new Map<string, FakePool>();
  /** Insertion order = created_at order (the API's default sort). */
  readonly members = new Map<string, FakeMember>();
  readonly healthMonitors = new Map<string, FakeHealthMonitor>();
  pendingMs: number;
  /** Members per project, null = unlimited. */
  memberQuota: number | null = null;
  /** The next this-many provider operations fail (members ERROR, LB ACTIVE again). */
  failProvisioning = 0;
  readonly health: FakeHealthManager;
  readonly #timers = new Set<NodeJS.Timeout>();
  /**
   * Members updated while in ERROR: the update's ListenersUpdate sends the whole pool to the
   * amphorae (member_flows.py:119, :206), so once it succeeds they are programmed like new ones.
   */
  readonly #reprogram = new Set<string>();

  constructor(opts: { pendingMs?: number; heartbeatMs?: number | null } = {}) {
    this.pendingMs = opts.pendingMs ?? REALISTIC_PENDING_MS;
    this.health = new FakeHealthManager(this, opts.heartbeatMs ?? null);
  }

  // ---- set-up helpers for tests (no status machine, no locking) ----

  createLoadBalancer(opts: { id?: string; name?: string; projectId?: string } = {}): FakeLoadBalancer {
    const lb: FakeLoadBalancer = {
      id: opts.id ?? randomUUID(),
      name: opts.name ?? 'lb',
      project_id: opts.projectId ?? DEFAULT_PROJECT_ID,
      vip_address: '198.51.100.10',
      provisioning_status: 'ACTIVE',
      operating_status: 'ONLINE',
      tags: [],
      created_at: stamp(),
      updated_at: null,
    };
    this.loadBalancers.set(lb.id, lb);
    return lb;
  }

  createPool(
    loadBalancerId: string,
    opts: { id?: string; name: string; healthMonitor?: boolean | MonitorInput; listener?: boolean; tags?: string[] },
  ): FakePool {
    const lb = this.#lb(loadBalancerId);
    const pool: FakePool = {
      id: opts.id ?? randomUUID(),
      name: opts.name,
      loadbalancer_id: lb.id,
      project_id: lb.project_id,
      protocol: 'HTTP',
      lb_algorithm: 'ROUND_ROBIN',
      healthmonitor_id: null,
      listeners: opts.listener === false ? [] : [{ id: randomUUID() }],
      provisioning_status: 'ACTIVE',
      operating_status: 'ONLINE',
      tags: opts.tags ?? [],
      created_at: stamp(),
      updated_at: null,
    };
    this.pools.set(pool.id, pool);
    if (opts.healthMonitor) this.setHealthMonitor(pool.id, opts.healthMonitor);
    return pool;
  }

  /** Adds or removes the pool's health monitor; members follow (NO_MONITOR ↔ OFFLINE) as Octavia does. */
  setHealthMonitor(poolId: string, on: boolean | MonitorInput): void {
    const pool = this.#pool(poolId);
    if (pool.healthmonitor_id) this.healthMonitors.delete(pool.healthmonitor_id);
    pool.healthmonitor_id = on ? this.health.newMonitor(pool, on === true ? {} : on).id : null;
    for (const m of this.membersOf(poolId)) {
      if (!on) m.operating_status = 'NO_MONITOR';
      else if (m.operating_status === 'NO_MONITOR') m.operating_status = 'OFFLINE';
    }
  }

  /** Inserts an ACTIVE member directly (e.g. one another tool or another node made). */
  insertMember(poolId: string, input: MemberInput & { operating_status?: OperatingStatus }): FakeMember {
    const pool = this.#pool(poolId);
    const m = this.#newMember(pool, input);
    m.provisioning_status = 'ACTIVE';
    if (input.operating_status) m.operating_status = input.operating_status;
    this.members.set(m.id, m);
    this.health.programmed(m.id);
    return m;
  }

  /** The health manager's report for one member, by hand. */
  setOperatingStatus(memberId: string, status: OperatingStatus): void {
    const m = this.members.get(memberId);
    if (!m) throw new Error(`no member ${memberId}`);
    m.operating_status = status;
  }

  /** What the member's server answers to health checks from now on (default pass). */
  setCheckResult(memberId: string, result: CheckResult): void {
    this.health.setCheckResult(memberId, result);
  }

  /** An LB an operator must repair (a failed failover): ERROR, immutable. */
  setLoadBalancerStatus(id: string, status: ProvisioningStatus): void {
    this.#lb(id).provisioning_status = status;
  }

  membersOf(poolId: string): FakeMember[] {
    return [...this.members.values()].filter((m) => m.pool_id === poolId);
  }

  memberByName(poolId: string, name: string): FakeMember | undefined {
    return this.membersOf(poolId).find((m) => m.name === name);
  }

  // ---- API semantics ----

  getPool(poolId: string): FakePool {
    return this.#pool(poolId);
  }

  getMember(poolId: string, memberId: string): FakeMember {
    const m = this.members.get(memberId);
    if (!m || m.pool_id !== poolId) throw new FakeApiError(404, `Member ${memberId} not found.`);
    return m;
  }

  createMember(poolId: string, input: MemberInput): FakeMember {
    const pool = this.#pool(poolId);
    this.#checkQuota(pool.project_id, 1);
    this.#lock(pool);
    if (this.membersOf(poolId).some((o) => o.address === input.address && o.protocol_port === input.protocol_port)) {
      this.#unlockNow(pool);
      throw new FakeApiError(409, `Another member on this pool is already using ip ${input.address} on protocol_port ${input.protocol_port}`);
    }
    const m = this.#newMember(pool, input);
    this.members.set(m.id, m);
    const reply = snapshot(m); // the reply shows PENDING_CREATE, as Octavia's does
    this.#scheduleFinish(pool);
    return reply;
  }

  updateMember(
    poolId: string,
    memberId: string,
    patch: Partial<Pick<FakeMember, 'name' | 'weight' | 'admin_state_up' | 'backup' | 'tags' | 'monitor_address' | 'monitor_port'>>,
  ): FakeMember {
    const pool = this.#pool(poolId);
    const m = this.getMember(poolId, memberId);
    this.#lock(pool);
    Object.assign(m, patch);
    if (m.provisioning_status === 'ERROR') this.#reprogram.add(m.id);
    m.provisioning_status = 'PENDING_UPDATE';
    m.updated_at = stamp();
    const reply = snapshot(m);
    this.#scheduleFinish(pool);
    return reply;
  }

  deleteMember(poolId: string, memberId: string): void {
    const pool = this.#pool(poolId);
    const m = this.getMember(poolId, memberId);
    this.#lock(pool);
    m.provisioning_status = 'PENDING_DELETE';
    this.#scheduleFinish(pool);
  }

  /**
   * PUT /v2/lbaas/pools/{pool_id}/members, as octavia/api/v2/controllers/member.py:400-548:
   * - the LB is locked FIRST (:426), so a busy LB answers 409 even to a no-op;
   * - matched by (address, protocol_port) (:436-457); every matched member counts as updated,
   *   changed or not, so a batch that repeats the pool as it is still locks and reloads;
   * - only a batch with nothing new, nothing matched and nothing to delete is a no-op: the
   *   transaction is rolled back and the lock with it (:464-468);
   * - a matched member is written from the request body parsed as MemberPOST, whose omitted
   *   fields take their defaults (octavia/api/v2/types/member.py:63-83: weight 1,
   *   admin_state_up true, backup false, monitor_address/port null; name and tags have no
   *   default and are kept) (:509-521, to_dict(render_unsets=False));
   * - members not listed are deleted unless additive_only (:526-540);
   * - the quota counts new minus deleted members (:470-478), inside the transaction.
   */
  batchUpdate(poolId: string, inputs: MemberInput[], additiveOnly: boolean): void {
    const pool = this.#pool(poolId);
    this.#lock(pool);
    const key = (a: string, p: number): string => `${a}|${p}`;
    const existing = new Map(this.membersOf(poolId).map((m) => [key(m.address, m.protocol_port), m]));
    const seen = new Set<string>();
    const fresh: MemberInput[] = [];
    const matched: [FakeMember, MemberInput][] = [];
    for (const input of inputs) {
      const k = key(input.address, input.protocol_port);
      if (seen.has(k)) {
        this.#unlockNow(pool);
        throw new FakeApiError(
          400,
          existing.has(k)
            ? 'Member must be updated only once in the same request.'
            : `Duplicate member ${input.address}:${input.protocol_port} in the request.`,
        );
      }
      seen.add(k);
      const m = existing.get(k);
      if (m) matched.push([m, input]);
      else fresh.push(input);
    }
    const gone = [...existing].filter(([k]) => !seen.has(k)).map(([, m]) => m);
    if (fresh.length === 0 && matched.length === 0 && gone.length === 0) {
      this.#unlockNow(pool);
      return;
    }
    try {
      this.#checkQuota(pool.project_id, additiveOnly ? fresh.length : fresh.length - gone.length);
    } catch (err) {
      this.#unlockNow(pool);
      throw err;
    }
    for (const input of fresh) {
      const n = this.#newMember(pool, input);
      this.members.set(n.id, n);
    }
    for (const [m, input] of matched) {
      Object.assign(m, {
        weight: input.weight ?? 1,
        admin_state_up: input.admin_state_up ?? true,
        backup: input.backup ?? false,
        monitor_address: input.monitor_address ?? null,
        monitor_port: input.monitor_port ?? null,
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.tags !== undefined ? { tags: input.tags } : {}),
      });
      if (m.provisioning_status === 'ERROR') this.#reprogram.add(m.id);
      m.provisioning_status = 'PENDING_UPDATE';
      m.updated_at = stamp();
    }
    if (!additiveOnly) for (const m of gone) m.provisioning_status = 'PENDING_DELETE';
    this.#scheduleFinish(pool);
  }

  close(): void {
    this.health.close();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  // ---- internals ----

  #lb(id: string): FakeLoadBalancer {
    const lb = this.loadBalancers.get(id);
    if (!lb) throw new FakeApiError(404, `Load Balancer ${id} not found.`);
    return lb;
  }

  #pool(id: string): FakePool {
    const pool = this.pools.get(id);
    if (!pool) throw new FakeApiError(404, `Pool ${id} not found.`);
    return pool;
  }

  #newMember(pool: FakePool, input: MemberInput): FakeMember {
    return {
      id: randomUUID(),
      pool_id: pool.id,
      project_id: pool.project_id,
      name: input.name ?? '',
      address: input.address,
      protocol_port: input.protocol_port,
      weight: input.weight ?? 1,
      admin_state_up: input.admin_state_up ?? true,
      backup: input.backup ?? false,
      subnet_id: input.subnet_id ?? null,
      monitor_address: input.monitor_address ?? null,
      monitor_port: input.monitor_port ?? null,
      provisioning_status: 'PENDING_CREATE',
      operating_status: pool.healthmonitor_id ? 'OFFLINE' : 'NO_MONITOR',
      tags: input.tags ?? [],
      created_at: stamp(),
      updated_at: null,
    };
  }

  /** Members already in the project plus `adding` over the quota: 403, as check_quota_met. */
  #checkQuota(projectId: string, adding: number): void {
    if (this.memberQuota === null || adding <= 0) return;
    const used = [...this.members.values()].filter((m) => m.project_id === projectId).length;
    if (used + adding > this.memberQuota) throw new FakeApiError(403, 'Quota has been met for resources: Member');
  }

  /** test_and_set_lb_and_listeners_prov_status: a locked (PENDING_*) or failed LB refuses changes. */
  #lock(pool: FakePool): void {
    const lb = this.#lb(pool.loadbalancer_id);
    if (lb.provisioning_status !== 'ACTIVE') throw new FakeApiError(409, `Load Balancer ${lb.id} is immutable and cannot be updated.`);
    if (pool.provisioning_status !== 'ACTIVE') throw new FakeApiError(409, `Pool ${pool.id} is immutable and cannot be updated.`);
    lb.provisioning_status = 'PENDING_UPDATE';
    pool.provisioning_status = 'PENDING_UPDATE';
  }

  #unlockNow(pool: FakePool): void {
    this.#lb(pool.loadbalancer_id).provisioning_status = 'ACTIVE';
    pool.provisioning_status = 'ACTIVE';
  }

  #scheduleFinish(pool: FakePool): void {
    const finish = (): void => this.#finish(pool);
    if (this.pendingMs <= 0) {
      finish();
      return;
    }
    const t = setTimeout(() => {
      this.#timers.delete(t);
      finish();
    }, this.pendingMs);
    this.#timers.add(t);
  }

  /**
   * The provider driver is done: everything ACTIVE and deletions gone, or, when the operation
   * failed, the members it touched ERROR (deletions included) and the LB and pool ACTIVE.
   */
  #finish(pool: FakePool): void {
    const failed = this.failProvisioning > 0;
    if (failed) this.failProvisioning -= 1;
    const lb = this.loadBalancers.get(pool.loadbalancer_id);
    if (lb?.provisioning_status.startsWith('PENDING_')) lb.provisioning_status = 'ACTIVE';
    if (pool.provisioning_status.startsWith('PENDING_')) pool.provisioning_status = 'ACTIVE';
    for (const m of this.membersOf(pool.id)) {
      if (!m.provisioning_status.startsWith('PENDING_')) continue;
      if (failed) {
        m.provisioning_status = 'ERROR';
        continue;
      }
      if (m.provisioning_status === 'PENDING_DELETE') {
        this.members.delete(m.id);
        this.health.forget(m.id);
        this.#reprogram.delete(m.id);
        continue;
      }
      if (m.provisioning_status === 'PENDING_CREATE' || this.#reprogram.has(m.id)) this.health.programmed(m.id);
      this.#reprogram.delete(m.id);
      m.provisioning_status = 'ACTIVE';
    }
  }
}

function stamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, '');
}

function snapshot(m: FakeMember): FakeMember {
  return { ...m, tags: [...m.tags] };
}
