// The in-process Octavia's resources and their status machine (tests and the bench).
// Follows the Octavia v2 API reference and the Octavia source where the reference is silent:
// - A member change locks the load balancer: LB, pool and member go PENDING_* and the LB
//   answers every further change with 409 "Load Balancer <id> is immutable and cannot be
//   updated." until the provider finishes (here: `pendingMs` later), then ACTIVE.
// - A new member's operating_status is OFFLINE when its pool has a health monitor and
//   NO_MONITOR otherwise (octavia/db/prepare.py create_member); the health manager later
//   reports ONLINE / ERROR / DRAINING (weight 0, checks passing). Tests set it by hand, or
//   `onlineAfterMs` plays the health manager.
// - Members are unique per pool by (address, protocol_port): 409 on a duplicate.
// - The batch update (PUT /pools/{id}/members) replaces the whole member list, matched by
//   address/port; `additive_only=true` skips the deletions.
import { randomUUID } from 'node:crypto';

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

export class OctaviaFakeState {
  readonly loadBalancers = new Map<string, FakeLoadBalancer>();
  readonly pools = new Map<string, FakePool>();
  /** Insertion order = created_at order (the API's default sort). */
  readonly members = new Map<string, FakeMember>();
  pendingMs: number;
  /** Health-manager stand-in: a monitored member goes OFFLINE → ONLINE this long after ACTIVE; null = never by itself. */
  onlineAfterMs: number | null;
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(opts: { pendingMs?: number; onlineAfterMs?: number | null } = {}) {
    this.pendingMs = opts.pendingMs ?? 0;
    this.onlineAfterMs = opts.onlineAfterMs ?? null;
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

  createPool(loadBalancerId: string, opts: { id?: string; name: string; healthMonitor?: boolean; tags?: string[] }): FakePool {
    const lb = this.#lb(loadBalancerId);
    const pool: FakePool = {
      id: opts.id ?? randomUUID(),
      name: opts.name,
      loadbalancer_id: lb.id,
      project_id: lb.project_id,
      protocol: 'HTTP',
      lb_algorithm: 'ROUND_ROBIN',
      healthmonitor_id: opts.healthMonitor ? randomUUID() : null,
      provisioning_status: 'ACTIVE',
      operating_status: 'ONLINE',
      tags: opts.tags ?? [],
      created_at: stamp(),
      updated_at: null,
    };
    this.pools.set(pool.id, pool);
    return pool;
  }

  /** Adds or removes the pool's health monitor; members follow (NO_MONITOR ↔ OFFLINE) as Octavia does. */
  setHealthMonitor(poolId: string, on: boolean): void {
    const pool = this.#pool(poolId);
    pool.healthmonitor_id = on ? (pool.healthmonitor_id ?? randomUUID()) : null;
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
    return m;
  }

  /** The health manager's report for one member. */
  setOperatingStatus(memberId: string, status: OperatingStatus): void {
    const m = this.members.get(memberId);
    if (!m) throw new Error(`no member ${memberId}`);
    m.operating_status = status;
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
   * PUT /v2/lbaas/pools/{pool_id}/members: the request is the pool's whole member list.
   * Matched by (address, protocol_port): matched ones are updated, new ones created, and every
   * member NOT in the request is deleted, whoever made it, unless additive_only.
   */
  batchUpdate(poolId: string, inputs: MemberInput[], additiveOnly: boolean): void {
    const pool = this.#pool(poolId);
    this.#lock(pool);
    const key = (a: string, p: number): string => `${a}|${p}`;
    const existing = new Map(this.membersOf(poolId).map((m) => [key(m.address, m.protocol_port), m]));
    const wanted = new Set(inputs.map((i) => key(i.address, i.protocol_port)));
    if (wanted.size !== inputs.length) {
      this.#unlockNow(pool);
      throw new FakeApiError(400, 'Duplicate member address/port in the request.');
    }
    for (const input of inputs) {
      const m = existing.get(key(input.address, input.protocol_port));
      if (m) {
        Object.assign(
          m,
          stripUndefined({ name: input.name, weight: input.weight, admin_state_up: input.admin_state_up, backup: input.backup, tags: input.tags }),
        );
        m.provisioning_status = 'PENDING_UPDATE';
        m.updated_at = stamp();
      } else {
        const n = this.#newMember(pool, input);
        this.members.set(n.id, n);
      }
    }
    if (!additiveOnly) {
      for (const [k, m] of existing) if (!wanted.has(k)) m.provisioning_status = 'PENDING_DELETE';
    }
    this.#scheduleFinish(pool);
  }

  close(): void {
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

  /** The provider driver is done: everything ACTIVE, deletions gone, health follows weight. */
  #finish(pool: FakePool): void {
    const lb = this.loadBalancers.get(pool.loadbalancer_id);
    if (lb?.provisioning_status.startsWith('PENDING_')) lb.provisioning_status = 'ACTIVE';
    if (pool.provisioning_status.startsWith('PENDING_')) pool.provisioning_status = 'ACTIVE';
    for (const m of this.membersOf(pool.id)) {
      if (m.provisioning_status === 'PENDING_DELETE') {
        this.members.delete(m.id);
        continue;
      }
      const created = m.provisioning_status === 'PENDING_CREATE';
      if (m.provisioning_status.startsWith('PENDING_')) m.provisioning_status = 'ACTIVE';
      // What the amphora reports for HAProxy's DRAIN (weight 0, checks passing).
      if (pool.healthmonitor_id) {
        if (m.weight === 0 && m.operating_status === 'ONLINE') m.operating_status = 'DRAINING';
        else if (m.weight > 0 && m.operating_status === 'DRAINING') m.operating_status = 'ONLINE';
      }
      if (created && pool.healthmonitor_id && this.onlineAfterMs !== null) {
        const id = m.id;
        const t = setTimeout(() => {
          this.#timers.delete(t);
          const cur = this.members.get(id);
          if (cur && cur.operating_status === 'OFFLINE') cur.operating_status = cur.weight === 0 ? 'DRAINING' : 'ONLINE';
        }, this.onlineAfterMs);
        this.#timers.add(t);
      }
    }
  }
}

function stamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, '');
}

function snapshot(m: FakeMember): FakeMember {
  return { ...m, tags: [...m.tags] };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
