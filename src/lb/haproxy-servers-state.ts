// Parsing `show servers state <backend>` (HAProxy 2.6, format version 1) and mapping a
// server's state to podlb's ObservedMember. Pure: no I/O.
//
// Why `show servers state` and not `show stat`: it carries the admin state as a bit field
// (drain and maintenance apart), the operational state, the check status *and* check state
// as numbers, and a per-backend request answers "Can't find backend." for a backend that does
// not exist, which maps directly to `missingBackends`. `show stat` folds admin and
// operational state into one display string ("DRAIN", "MAINT (via …)", "UP 1/3").
import type { MemberAdmin, MemberHealth, ObservedMember } from './provider.js';

/** HAProxy's reply to `show servers state X` when backend X does not exist. */
export const MISSING_BACKEND_REPLY = "Can't find backend.";

/** One row of `show servers state`, fields as HAProxy 2.6 writes them (format version 1). */
export interface ServerStateRow {
  /** be_id: the backend's numeric id (unambiguous where a frontend has the backend's name). */
  backendId: number;
  backendName: string;
  name: string;
  /** srv_id: the server's numeric id, which `show stat <backend> 4 <id>` takes. */
  id: number;
  address: string;
  /** srv_op_state: 0 stopped, 1 starting, 2 running, 3 stopping. */
  opState: number;
  /** srv_admin_state: SRV_ADMF_* bits. */
  adminState: number;
  checkStatus: number;
  checkResult: number;
  checkHealth: number;
  checkState: number;
  port: number;
}

// include/haproxy/server-t.h (2.6)
export const SRV_ADMF_FMAINT = 0x01;
export const SRV_ADMF_IMAINT = 0x02;
export const SRV_ADMF_CMAINT = 0x04;
export const SRV_ADMF_FDRAIN = 0x08;
export const SRV_ADMF_IDRAIN = 0x10;
export const SRV_ADMF_RMAINT = 0x20;
export const SRV_ADMF_HMAINT = 0x40;
const SRV_ADMF_MAINT = SRV_ADMF_FMAINT | SRV_ADMF_IMAINT | SRV_ADMF_CMAINT | SRV_ADMF_RMAINT | SRV_ADMF_HMAINT;
const SRV_ADMF_DRAIN = SRV_ADMF_FDRAIN | SRV_ADMF_IDRAIN;

export const SRV_ST_STOPPED = 0;
export const SRV_ST_STARTING = 1;
export const SRV_ST_RUNNING = 2;
export const SRV_ST_STOPPING = 3;

// include/haproxy/check-t.h (2.6): CHK_ST_*
export const CHK_ST_INPROGRESS = 0x01;
export const CHK_ST_CONFIGURED = 0x02;
export const CHK_ST_ENABLED = 0x04;
export const CHK_ST_PAUSED = 0x08;

/** enum healthcheck_status (2.6), index = number in srv_check_status. */
export const CHECK_STATUS_NAMES: readonly string[] = [
  'UNK',
  'INI',
  'START',
  'CHECKED',
  'HANA',
  'SOCKERR',
  'L4OK',
  'L4TOUT',
  'L4CON',
  'L6OK',
  'L6TOUT',
  'L6RSP',
  'L7TOUT',
  'L7RSP',
  'L57DATA',
  'L7OK',
  'L7OKC',
  'L7STS',
  'PROCERR',
  'PROCTOUT',
  'PROCOK',
];
/** Statuses from HCHK_STATUS_CHECKED on are results of a completed check. */
const FIRST_COMPLETED_STATUS = 3;
const PASSING_STATUSES = new Set(['L4OK', 'L6OK', 'L7OK', 'L7OKC', 'PROCOK']);

const OP_STATE_NAMES = ['DOWN', 'STARTING', 'UP', 'STOPPING'];

export class ServersStateParseError extends Error {}

/**
 * Parses one `show servers state <backend>` reply. Returns null for HAProxy's
 * "Can't find backend." and throws ServersStateParseError on anything unexpected.
 */
export function parseServersState(reply: string): ServerStateRow[] | null {
  const text = reply.trim();
  if (text === MISSING_BACKEND_REPLY) return null;
  const lines = text.split('\n');
  if (lines[0] !== '1') throw new ServersStateParseError(`unsupported "show servers state" format: ${JSON.stringify(lines[0] ?? '')}`);
  const header = lines[1];
  if (!header?.startsWith('# ')) throw new ServersStateParseError('"show servers state": missing header line');
  const cols = header.slice(2).split(' ');
  const idx = (name: string): number => {
    const i = cols.indexOf(name);
    if (i < 0) throw new ServersStateParseError(`"show servers state": no column ${name}`);
    return i;
  };
  const c = {
    beId: idx('be_id'),
    be: idx('be_name'),
    name: idx('srv_name'),
    id: idx('srv_id'),
    addr: idx('srv_addr'),
    op: idx('srv_op_state'),
    admin: idx('srv_admin_state'),
    status: idx('srv_check_status'),
    result: idx('srv_check_result'),
    health: idx('srv_check_health'),
    state: idx('srv_check_state'),
    port: idx('srv_port'),
  };
  const rows: ServerStateRow[] = [];
  for (const line of lines.slice(2)) {
    if (line.trim() === '') continue;
    const f = line.split(' ');
    if (f.length < cols.length) throw new ServersStateParseError(`"show servers state": short row ${JSON.stringify(line)}`);
    const num = (i: number): number => {
      const n = Number(f[i]);
      if (!Number.isInteger(n)) throw new ServersStateParseError(`"show servers state": column ${cols[i]} is not a number in ${JSON.stringify(line)}`);
      return n;
    };
    rows.push({
      backendId: num(c.beId),
      backendName: f[c.be]!,
      name: f[c.name]!,
      id: num(c.id),
      address: f[c.addr]!,
      opState: num(c.op),
      adminState: num(c.admin),
      checkStatus: num(c.status),
      checkResult: num(c.result),
      checkHealth: num(c.health),
      checkState: num(c.state),
      port: num(c.port),
    });
  }
  return rows;
}

export function adminOf(row: ServerStateRow): MemberAdmin {
  if (row.adminState & SRV_ADMF_MAINT) return 'maint';
  if (row.adminState & SRV_ADMF_DRAIN) return 'drain';
  return 'ready';
}

export function checkStatusName(status: number): string {
  return CHECK_STATUS_NAMES[status] ?? `status${status}`;
}

export function hasCheck(row: ServerStateRow): boolean {
  return (row.checkState & CHK_ST_CONFIGURED) !== 0;
}

/** A check has completed at least once (INI/START/UNK mean none has). */
export function hasCompletedCheck(row: ServerStateRow): boolean {
  return row.checkStatus >= FIRST_COMPLETED_STATUS && row.checkStatus !== 14;
}

export function isPassingStatus(status: number): boolean {
  return PASSING_STATUSES.has(checkStatusName(status));
}

/**
 * The health decision and its reason. HAProxy marks a fresh server UP before any check ran
 * (status INI), so UP alone never counts: only UP with a completed passing last check.
 * - no check configured: unchecked
 * - no completed check (or checks not enabled: HAProxy then never checks): pending
 * - UP and the last check passed: healthy
 * - not UP and the last check passed: pending (rising towards `rise`)
 * - last check failed: unhealthy (DOWN, or UP on its way down)
 */
export function healthOf(row: ServerStateRow): { health: MemberHealth; detail: string } {
  const op = OP_STATE_NAMES[row.opState] ?? `op${row.opState}`;
  if (!hasCheck(row)) return { health: 'unchecked', detail: `${op}, no check` };
  const status = checkStatusName(row.checkStatus);
  if ((row.checkState & CHK_ST_ENABLED) === 0 || (row.checkState & CHK_ST_PAUSED) !== 0) {
    return { health: 'pending', detail: `${op}, check not enabled (${status})` };
  }
  if (!hasCompletedCheck(row)) return { health: 'pending', detail: `${op}, no check completed yet (${status})` };
  const up = row.opState === SRV_ST_RUNNING || row.opState === SRV_ST_STARTING;
  if (isPassingStatus(row.checkStatus)) {
    return up ? { health: 'healthy', detail: status } : { health: 'pending', detail: `${status}, ${op} until rise checks pass` };
  }
  return { health: 'unhealthy', detail: up ? `${status}, ${op} going down` : `${status}, ${op}` };
}

export function toObservedMember(row: ServerStateRow): ObservedMember {
  const { health, detail } = healthOf(row);
  const admin = adminOf(row);
  return {
    backend: row.backendName,
    name: row.name,
    address: row.address,
    port: row.port,
    admin,
    health,
    detail: admin === 'ready' ? detail : `${admin.toUpperCase()}, ${detail}`,
  };
}
