// Parsing the per-server reads the health poll sends: `show stat <backend> 4 <sid>` (CSV, one
// server) and `show info` (the process's identity). Pure: no I/O.
//
// Why `show stat <backend> 4 <sid>`: it is the only HAProxy 2.6 command that reports one
// server's check result and state; `show servers state` takes a whole backend (5,000 rows for
// one question), `get weight` knows nothing of checks. It needs the server's numeric id, which
// podlb assigns itself on `add server … id N` (haproxy-instance.ts). Measured on 2.6.12: the
// reply is the CSV header plus at most one row (~2.3 KB); an unknown sid gives the header
// alone, an unknown backend "No such proxy.".
//
// A row is mapped onto a ServerStateRow so that one function (healthOf) decides health for
// both commands. Two things `show stat` cannot say, and how podlb copes:
// - A check configured but not enabled shows as no check at all (empty check_status, status
//   "no check"): the caller says whether the member was added with a check (`expectCheck`),
//   so such a member reads pending, never unchecked (which would release its gate).
// - Drain is only visible on a server that is UP ("DRAIN"); the poll reads pending members,
//   which podlb never drains.
import {
  CHECK_STATUS_NAMES,
  CHK_ST_CONFIGURED,
  CHK_ST_ENABLED,
  CHK_ST_INPROGRESS,
  SRV_ADMF_FDRAIN,
  SRV_ADMF_FMAINT,
  SRV_ST_RUNNING,
  SRV_ST_STOPPED,
  SRV_ST_STOPPING,
  type ServerStateRow,
} from './haproxy-servers-state.js';

/** HAProxy's reply to `show stat X 4 N` when proxy X does not exist. */
export const NO_SUCH_PROXY_REPLY = 'No such proxy.';

export class ServerStatParseError extends Error {}

/** One CSV line as HAProxy writes it: fields with `,` or `"` are quoted, `"` doubled. */
export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) throw new ServerStatParseError(`unterminated quoted field in ${JSON.stringify(line)}`);
        v += line.slice(i, q);
        if (line[q + 1] === '"') {
          v += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      out.push(v);
    } else {
      const c = line.indexOf(',', i);
      out.push(line.slice(i, c < 0 ? line.length : c));
      i = c < 0 ? line.length : c;
    }
    if (i >= line.length) return out;
    if (line[i] !== ',') throw new ServerStatParseError(`expected "," at ${i} in ${JSON.stringify(line)}`);
    i++;
  }
}

/** The fields of one server row of `show stat`, by column name. */
export type StatRow = ReadonlyMap<string, string>;

/**
 * Parses a `show stat` CSV reply into its server rows (type 2). Returns null for "No such
 * proxy."; throws ServerStatParseError on anything else unexpected.
 */
export function parseStat(reply: string): StatRow[] | null {
  const text = reply.trim();
  if (text === NO_SUCH_PROXY_REPLY) return null;
  const lines = text.split('\n');
  const header = lines[0];
  if (!header?.startsWith('# ')) throw new ServerStatParseError(`"show stat": missing header line in ${JSON.stringify(text.slice(0, 80))}`);
  const cols = header.slice(2).split(',');
  for (const need of ['pxname', 'svname', 'status', 'check_status', 'sid', 'addr', 'type']) {
    if (!cols.includes(need)) throw new ServerStatParseError(`"show stat": no column ${need}`);
  }
  const rows: StatRow[] = [];
  for (const line of lines.slice(1)) {
    if (line.trim() === '') continue;
    const f = splitCsvLine(line);
    if (f.length < cols.length - 1) throw new ServerStatParseError(`"show stat": short row ${JSON.stringify(line.slice(0, 120))}`);
    const row = new Map(cols.map((c, i) => [c, f[i] ?? '']));
    if (row.get('type') === '2') rows.push(row);
  }
  return rows;
}

function splitAddr(addr: string): { address: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) ?? /^([^:]+):(\d+)$/.exec(addr);
  if (!m) throw new ServerStatParseError(`"show stat": address ${JSON.stringify(addr)} is not ip:port`);
  return { address: m[1]!, port: Number(m[2]) };
}

/**
 * The `show servers state` view of a `show stat` server row. `expectCheck`: the member was
 * added with a health check, so an empty check_status means "not enabled", not "none".
 */
export function stateRowOfStat(row: StatRow, expectCheck: boolean): ServerStateRow {
  const status = row.get('status') ?? '';
  const rawCheck = row.get('check_status') ?? '';
  const inProgress = rawCheck.startsWith('* ');
  const checkName = inProgress ? rawCheck.slice(2) : rawCheck;
  const checkStatus = CHECK_STATUS_NAMES.indexOf(checkName);
  if (checkName !== '' && checkStatus < 0) throw new ServerStatParseError(`"show stat": unknown check_status ${JSON.stringify(rawCheck)}`);
  const maint = status.startsWith('MAINT');
  const opState =
    status.startsWith('UP') || status.startsWith('DRAIN') || status === 'no check'
      ? SRV_ST_RUNNING
      : status.startsWith('NOLB')
        ? SRV_ST_STOPPING
        : SRV_ST_STOPPED;
  const checkState = checkName !== '' ? CHK_ST_CONFIGURED | CHK_ST_ENABLED | (inProgress ? CHK_ST_INPROGRESS : 0) : expectCheck ? CHK_ST_CONFIGURED : 0;
  const health = Number(row.get('check_health') ?? '');
  return {
    backendId: Number(row.get('iid')),
    backendName: row.get('pxname') ?? '',
    name: row.get('svname') ?? '',
    id: Number(row.get('sid')),
    ...splitAddr(row.get('addr') ?? ''),
    opState,
    adminState: (maint ? SRV_ADMF_FMAINT : 0) | (status.startsWith('DRAIN') ? SRV_ADMF_FDRAIN : 0),
    checkStatus: Math.max(checkStatus, 0),
    checkResult: 0,
    checkHealth: Number.isInteger(health) ? health : 0,
    checkState,
  };
}

/**
 * The identity of the HAProxy process behind a runtime address, from `show info`: its Pid and
 * Start_time_sec. A restart or reload (new process) changes it, and with it every dynamic
 * server is gone.
 */
export function processIdentity(info: string): string {
  const field = (name: string): string | undefined => new RegExp(`^${name}: *(\\S+) *$`, 'm').exec(info)?.[1];
  const pid = field('Pid');
  const start = field('Start_time_sec');
  if (pid === undefined || start === undefined) throw new ServerStatParseError(`"show info": no Pid or Start_time_sec in ${JSON.stringify(info.slice(0, 80))}`);
  return `pid ${pid} started ${start}`;
}

/**
 * Whether one `show servers state` of a backend costs HAProxy less CPU than `asked` single
 * reads. Neither is free of the backend's size in 2.6: `show stat <be> 4 <sid>` walks every
 * server of the backend to find one. Measured on 2.6.12 (CPU per command, 10 and 5,000
 * servers): `show stat` ≈ 30 µs + 33 ns per server, `show servers state` ≈ 25 µs + 1.28 µs
 * per server. So with 5,000 servers single reads win up to 32 asked members; a backend of 20
 * is cheaper listed from 2.
 */
export function isListingCheaper(asked: number, backendSize: number): boolean {
  return asked * (30 + 0.033 * backendSize) >= 25 + 1.28 * backendSize;
}
