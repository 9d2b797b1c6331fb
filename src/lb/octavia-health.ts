// Octavia member status → podlb's MemberHealth / MemberAdmin. Pure.
//
// Octavia has two statuses per member. provisioning_status: has the provider (amphora)
// programmed it (PENDING_CREATE → ACTIVE, ERROR when programming failed). operating_status:
// what the health manager last heard from the amphora's HAProxy: ONLINE (UP), ERROR (DOWN:
// checks ran and failed), DRAINING (weight 0 and checks passing), OFFLINE (admin down, and
// the status every monitored member is CREATED with, before the first report),
// NO_MONITOR (the pool has no health monitor: nothing is checked).
//
// Octavia does not say whether a check has *completed*: HAProxy starts a server it has just
// been given UP before any check ran, the amphora's next heartbeat (every 10 s by default,
// octavia/common/config.py:319-322) turns that into ONLINE, and a member whose checks fail
// turns ERROR only after max_retries_down failed checks `delay` apart. So, for the gate to
// mean what it means with HAProxy (a completed passing check), podlb's rule is:
//   ONLINE (or DRAINING at weight 0: UP at weight 0, haproxy_query.py:141) counts as healthy
//   only when seen at least  delay × max_retries_down + heartbeat interval  after this client
//   first saw the member ACTIVE: by then max_retries_down checks have run, they did not all
//   fail (or HAProxy would say DOWN), and a heartbeat has reported it.
// Before that it is 'pending' (`settled: false`).
//
// Rules, in order (first match wins):
//   provisioning ERROR                 → unhealthy  (the provider failed to program it; the reconciler repairs it)
//   provisioning PENDING_CREATE        → pending    (not on the amphora yet: nothing it reports is about this member)
//   NO_MONITOR                         → unchecked  (readiness follows withoutHealthCheck)
//   ONLINE                             → healthy once settled, else pending
//   ERROR                              → unhealthy  (checks ran and failed; also a weight-0 member that is DOWN)
//   OFFLINE                            → pending    (before the first report, admin down, or a pool no listener uses)
//   DRAINING, weight 0                 → healthy once settled, else pending (weight-0 members are checked too)
//   DRAINING, weight > 0               → pending    (re-enabled; the next report will say ONLINE or ERROR)
//   anything else (DEGRADED, unknown)  → pending
import type { MemberAdmin, MemberHealth } from './provider.js';

export interface OctaviaMemberStatus {
  operating_status: string;
  provisioning_status: string;
  weight: number;
  admin_state_up: boolean;
}

/** `settled`: the member has been ACTIVE long enough for an ONLINE to follow a completed check (see above). */
export function octaviaMemberHealth(m: OctaviaMemberStatus, settled: boolean): MemberHealth {
  if (m.provisioning_status === 'ERROR') return 'unhealthy';
  if (m.provisioning_status === 'PENDING_CREATE') return 'pending';
  switch (m.operating_status) {
    case 'NO_MONITOR':
      return 'unchecked';
    case 'ONLINE':
      return settled ? 'healthy' : 'pending';
    case 'ERROR':
      return 'unhealthy';
    case 'DRAINING':
      return m.weight === 0 && settled ? 'healthy' : 'pending';
    default:
      return 'pending';
  }
}

/** A pool's health monitor timing, as GET /v2/lbaas/healthmonitors/{id} gives it (seconds). */
export interface OctaviaMonitorTiming {
  delay: number;
  max_retries_down: number;
}

/** How long after ACTIVE an ONLINE report must come to follow a completed check. */
export function octaviaSettleMs(hm: OctaviaMonitorTiming, heartbeatMs: number): number {
  return hm.delay * 1000 * Math.max(1, hm.max_retries_down) + heartbeatMs;
}

/** admin_state_up false → maint (podlb never sets it: someone else did); weight 0 → drain. */
export function octaviaMemberAdmin(m: OctaviaMemberStatus): MemberAdmin {
  if (!m.admin_state_up) return 'maint';
  return m.weight === 0 ? 'drain' : 'ready';
}

/** Octavia's own words for status and `kubectl podlb explain`, e.g. `ONLINE/ACTIVE weight=1`. */
export function octaviaMemberDetail(m: OctaviaMemberStatus): string {
  return `${m.operating_status}/${m.provisioning_status} weight=${m.weight}${m.admin_state_up ? '' : ' admin_state_up=false'}`;
}
