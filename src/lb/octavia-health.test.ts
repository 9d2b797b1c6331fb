import { describe, expect, it } from 'vitest';
import { octaviaMemberAdmin, octaviaMemberDetail, octaviaMemberHealth, octaviaSettleMs, type OctaviaMemberStatus } from './octavia-health.js';

const m = (operating_status: string, provisioning_status = 'ACTIVE', weight = 1, admin_state_up = true): OctaviaMemberStatus => ({
  operating_status,
  provisioning_status,
  weight,
  admin_state_up,
});

describe('octaviaMemberHealth', () => {
  it.each([
    ['ONLINE, ACTIVE, settled: a check completed and passed', m('ONLINE'), 'healthy'],
    // HAProxy starts a new server UP before any check (heartbeat_udp.py:600-601 maps UP → ONLINE).
    ['ONLINE before delay × max_retries_down + a heartbeat: maybe no check ran yet', m('ONLINE'), 'pending', false],
    ['DRAINING at weight 0 before it settled: not a completed check either', m('DRAINING', 'ACTIVE', 0), 'pending', false],
    ['ERROR before it settled: checks already failed', m('ERROR'), 'unhealthy', false],
    ['NO_MONITOR: the pool has no health monitor, readiness follows withoutHealthCheck', m('NO_MONITOR'), 'unchecked'],
    ['OFFLINE: a new monitored member before its first report', m('OFFLINE'), 'pending'],
    ['ERROR: checks ran and failed', m('ERROR'), 'unhealthy'],
    ['DRAINING at weight 0: checks pass, no new connections', m('DRAINING', 'ACTIVE', 0), 'healthy'],
    ['DRAINING at weight 1: just re-enabled, report not current yet', m('DRAINING', 'ACTIVE', 1), 'pending'],
    ['DEGRADED (pools only) or anything unknown', m('DEGRADED'), 'pending'],
    ['PENDING_CREATE: not on the amphora yet, whatever it says', m('ONLINE', 'PENDING_CREATE'), 'pending'],
    ['PENDING_CREATE in an unmonitored pool: waits for ACTIVE too', m('NO_MONITOR', 'PENDING_CREATE'), 'pending'],
    ['PENDING_UPDATE keeps the last report (a weight change)', m('ONLINE', 'PENDING_UPDATE'), 'healthy'],
    ['provisioning ERROR: Octavia never programmed it', m('ONLINE', 'ERROR'), 'unhealthy'],
  ] as [string, OctaviaMemberStatus, string, boolean?][])('%s → %s', (_why, status, want, settled = true) => {
    expect(octaviaMemberHealth(status, settled)).toBe(want);
  });

  it('settles after delay × max_retries_down plus one heartbeat', () => {
    expect(octaviaSettleMs({ delay: 5, max_retries_down: 3 }, 10_000)).toBe(25_000);
    expect(octaviaSettleMs({ delay: 5, max_retries_down: 0 }, 10_000)).toBe(15_000);
  });
});

describe('octaviaMemberAdmin', () => {
  it.each([
    [m('ONLINE'), 'ready'],
    [m('DRAINING', 'ACTIVE', 0), 'drain'],
    [m('OFFLINE', 'ACTIVE', 1, false), 'maint'],
    [m('OFFLINE', 'ACTIVE', 0, false), 'maint'],
  ] as const)('%o → %s', (status, want) => {
    expect(octaviaMemberAdmin(status)).toBe(want);
  });

  it('detail shows Octavia’s own words', () => {
    expect(octaviaMemberDetail(m('OFFLINE', 'ACTIVE', 1, false))).toBe('OFFLINE/ACTIVE weight=1 admin_state_up=false');
  });
});
