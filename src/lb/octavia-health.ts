// Octavia member status → podlb's MemberHealth / MemberAdmin. Pure.
//
// Octavia has two statuses per member. provisioning_status: has the provider (amphora)
// programmed it (PENDING_CREATE → ACTIVE, ERROR when programming failed). operating_status:
// what the health manager last heard from the amphora's HAProxy: ONLINE (UP), ERROR (DOWN:
// checks ran and failed), DRAINING (weight 0 and checks passing), OFFLINE (admin down, and
// the status every monitored member is CREATED with, before the first report),
// NO_MONITOR (the pool has no health monitor: nothing is checked).
//
// Rules, in order (first match wins):
//   provisioning ERROR                 → unhealthy  (never programmed; needs the operator)
//   provisioning PENDING_CREATE        → pending    (not on the amphora yet: nothing it reports is about this member)
//   NO_MONITOR                         → unchecked  (readiness follows withoutHealthCheck)
//   ONLINE                             → healthy
//   ERROR                              → unhealthy  (checks ran and failed)
//   OFFLINE                            → pending    (a new monitored member before its first report; podlb never sets admin down)
//   DRAINING, weight 0                 → healthy    (checks pass; the member just takes no new connections)
//   DRAINING, weight > 0               → pending    (re-enabled; the next report will say ONLINE or ERROR)
//   anything else (DEGRADED, unknown)  → pending
// Limitation: unlike HAProxy's check_status, Octavia does not say whether a check has
// *completed*: an amphora whose HAProxy starts a new server UP reports ONLINE before the
// first check. ONLINE is the strongest signal the API offers.
import type { MemberAdmin, MemberHealth } from './provider.js';

export interface OctaviaMemberStatus {
  operating_status: string;
  provisioning_status: string;
  weight: number;
  admin_state_up: boolean;
}

export function octaviaMemberHealth(m: OctaviaMemberStatus): MemberHealth {
  if (m.provisioning_status === 'ERROR') return 'unhealthy';
  if (m.provisioning_status === 'PENDING_CREATE') return 'pending';
  switch (m.operating_status) {
    case 'NO_MONITOR':
      return 'unchecked';
    case 'ONLINE':
      return 'healthy';
    case 'ERROR':
      return 'unhealthy';
    case 'DRAINING':
      return m.weight === 0 ? 'healthy' : 'pending';
    default:
      return 'pending';
  }
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
