// The fake's health manager: what an amphora's HAProxy would say of each member, turned into
// operating_status the way Octavia's heartbeat receiver does, once per heartbeat.
//
// Reference (openstack/octavia at 0e6ea11c):
// - The amphora sends a heartbeat every `heartbeat_interval` s, default 10
//   (octavia/common/config.py:319-322).
// - Its HAProxy status per server: UP (also the transitional "UP 1/3"), DOWN, DRAIN (UP with
//   weight 0, octavia/amphorae/backends/utils/haproxy_query.py:141-142; a DOWN server at
//   weight 0 stays DOWN), MAINT (admin down), "no check" (no monitor).
// - The receiver maps them (octavia/amphorae/drivers/health/heartbeat_udp.py:592-617):
//   UP → ONLINE, DOWN → ERROR, DRAIN → DRAINING, MAINT → OFFLINE, no check → NO_MONITOR;
//   a member the amphora does not report (not programmed yet, or failed) → OFFLINE unless
//   NO_MONITOR. DEGRADED is only ever set on pools and load balancers (:604-609).
// - A pool no listener uses is in no heartbeat: its members keep their status (:557-565).
// - HAProxy starts a server it has just been given UP, before any check ran; it goes DOWN
//   only after `max_retries_down` failed checks `delay` apart (and UP again after
//   `max_retries` passing ones). So a member whose server fails its checks is ONLINE for
//   up to delay × max_retries_down, then ERROR: the early ONLINE the client must not trust.
import { randomUUID } from 'node:crypto';
import type { FakeMember, FakePool, OctaviaFakeState, OperatingStatus } from './state.js';

export type CheckResult = 'pass' | 'fail';

export interface MonitorInput {
  /** Seconds between checks. Octavia requires it; 5 is the usual choice. */
  delay?: number;
  timeout?: number;
  /** Passing checks to go UP (HAProxy rise). */
  max_retries?: number;
  /** Failed checks to go DOWN (HAProxy fall). Octavia's default 3. */
  max_retries_down?: number;
}

export interface FakeHealthMonitor {
  id: string;
  name: string;
  project_id: string;
  pools: { id: string }[];
  type: 'HTTP';
  delay: number;
  timeout: number;
  max_retries: number;
  max_retries_down: number;
  http_method: 'GET';
  url_path: '/';
  expected_codes: '200';
  admin_state_up: boolean;
  provisioning_status: 'ACTIVE';
  operating_status: 'ONLINE';
  tags: string[];
}

interface Probe {
  /** When the amphora got the server (the member went ACTIVE). */
  since: number;
  result: CheckResult;
  /** HAProxy's own state before the current result had time to show. */
  before: 'UP' | 'DOWN';
}

export class FakeHealthManager {
  readonly #state: OctaviaFakeState;
  readonly #probes = new Map<string, Probe>();
  #timer?: NodeJS.Timeout;

  constructor(state: OctaviaFakeState, heartbeatMs: number | null) {
    this.#state = state;
    this.setHeartbeatMs(heartbeatMs);
  }

  /** null: no heartbeats by themselves (tests call heartbeat() or set statuses by hand). */
  setHeartbeatMs(ms: number | null): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (ms !== null) {
      this.#timer = setInterval(() => this.heartbeat(), ms);
      this.#timer.unref();
    }
  }

  newMonitor(pool: FakePool, input: MonitorInput): FakeHealthMonitor {
    const hm: FakeHealthMonitor = {
      id: randomUUID(),
      name: '',
      project_id: pool.project_id,
      pools: [{ id: pool.id }],
      type: 'HTTP',
      delay: input.delay ?? 5,
      timeout: input.timeout ?? 5,
      max_retries: input.max_retries ?? 3,
      max_retries_down: input.max_retries_down ?? 3,
      http_method: 'GET',
      url_path: '/',
      expected_codes: '200',
      admin_state_up: true,
      provisioning_status: 'ACTIVE',
      operating_status: 'ONLINE',
      tags: [],
    };
    this.#state.healthMonitors.set(hm.id, hm);
    return hm;
  }

  /** The member is on the amphora from now on: its HAProxy server starts UP. */
  programmed(memberId: string, now = Date.now()): void {
    const old = this.#probes.get(memberId);
    this.#probes.set(memberId, { since: now, result: old?.result ?? 'pass', before: 'UP' });
  }

  setCheckResult(memberId: string, result: CheckResult, now = Date.now()): void {
    const m = this.#state.members.get(memberId);
    const p = this.#probes.get(memberId);
    if (!p || !m) {
      this.#probes.set(memberId, { since: now, result, before: 'UP' });
      return;
    }
    const current = this.#haproxy(m, p, now);
    this.#probes.set(memberId, { since: now, result, before: current });
  }

  forget(memberId: string): void {
    this.#probes.delete(memberId);
  }

  /** One heartbeat of every amphora: every member of every pool a listener uses. */
  heartbeat(now = Date.now()): void {
    for (const pool of this.#state.pools.values()) {
      if (pool.listeners.length === 0) continue;
      const hm = pool.healthmonitor_id ? this.#state.healthMonitors.get(pool.healthmonitor_id) : undefined;
      for (const m of this.#state.membersOf(pool.id)) {
        const status = this.#report(m, hm, now);
        if (status !== null) m.operating_status = status;
      }
    }
  }

  #report(m: FakeMember, hm: FakeHealthMonitor | undefined, now: number): OperatingStatus | null {
    const p = this.#probes.get(m.id);
    const onAmphora = p !== undefined && m.provisioning_status !== 'ERROR' && m.provisioning_status !== 'PENDING_CREATE';
    if (!onAmphora) return m.operating_status === 'NO_MONITOR' ? null : 'OFFLINE';
    if (!m.admin_state_up) return 'OFFLINE';
    if (!hm) return 'NO_MONITOR';
    const hap = this.#haproxy(m, p, now, hm);
    if (hap === 'DOWN') return 'ERROR';
    return m.weight === 0 ? 'DRAINING' : 'ONLINE';
  }

  /** HAProxy's view: the new result shows once enough checks `delay` apart have run. */
  #haproxy(m: FakeMember, p: Probe, now: number, hm = this.#monitorOf(m)): 'UP' | 'DOWN' {
    if (!hm) return 'UP';
    const after = p.result === 'pass' ? 'UP' : 'DOWN';
    if (after === p.before) return after;
    const checks = p.result === 'pass' ? hm.max_retries : hm.max_retries_down;
    return now - p.since >= hm.delay * 1000 * checks ? after : p.before;
  }

  #monitorOf(m: FakeMember): FakeHealthMonitor | undefined {
    const pool = this.#state.pools.get(m.pool_id);
    return pool?.healthmonitor_id ? this.#state.healthMonitors.get(pool.healthmonitor_id) : undefined;
  }

  close(): void {
    this.setHeartbeatMs(null);
  }
}
