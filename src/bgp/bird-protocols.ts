// Parser for BIRD 2's `show protocols all` reply (design §5.5): one 1002 line per protocol
// (the table row), then 1006 detail lines (BGP state, neighbor, channels with route counts).
// Input is the reply's lines with their codes, as BirdControl returns them; a raw text form
// is accepted too (what `birdc` prints), for fixtures.
/** One line of a BIRD control-socket reply: its 4-digit code and text. */
export interface BirdReplyLine {
  readonly code: number;
  readonly text: string;
}

export interface BirdChannelStatus {
  name: string;
  state?: string;
  table?: string;
  routesImported?: number;
  routesFiltered?: number;
  routesExported?: number;
  routesPreferred?: number;
  /**
   * Route change stats, "accepted" column: updates and withdrawals the channel passed to the
   * protocol since it came up. A re-export of the whole table (a changed filter) shows here.
   */
  exportUpdates?: number;
  exportWithdraws?: number;
}

export interface BirdProtocolStatus {
  name: string;
  /** Protocol type as BIRD prints it: BGP, Static, Device, ... */
  proto: string;
  table: string;
  /** up, down, start, stop, ... */
  state: string;
  /** As BIRD prints it (its `timeformat protocol`); birdTimeToRfc3339 makes it an API timestamp. */
  since: string;
  /** First column of Info: e.g. Established, Active, Idle; '' when none. */
  info: string;
  /** The rest of Info, e.g. `Socket: Connection refused`, `Received: Hold timer expired`. */
  infoDetail?: string;
  bgpState?: string;
  neighborAddress?: string;
  neighborAs?: number;
  localAs?: number;
  neighborId?: string;
  sourceAddress?: string;
  /** Negotiated hold time in seconds (`Hold timer: 78.015/90`). */
  holdTime?: number;
  /** Sums over channels. */
  routesImported: number;
  routesExported: number;
  lastError?: string;
  channels: BirdChannelStatus[];
}

const ROW = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d{4}-\d{2}-\d{2} \S+|\S+)\s*(.*?)\s*$/;

/**
 * BIRD's protocol "since" time as RFC 3339 (what a `format: date-time` field accepts), or
 * undefined when it is none of BIRD's forms. podlb's bird.conf sets
 * `timeformat protocol "%FT%T.%3f%z"` (2026-12-06T06:08:42.361+0000). Without it BIRD prints
 * (`iso short ms`, its default) the time of day for events of the last 20 hours
 * (06:08:42.361) and only the date for older ones (2026-12-05); `iso long` prints
 * `2026-12-05 06:08:42`. Those are BIRD's local time, which is this process's too (same node,
 * same TZ). A time of day is today's, or yesterday's when that would be in the future; a bare
 * date is its midnight.
 */
export function birdTimeToRfc3339(since: string, now: Date = new Date()): string | undefined {
  const zoned = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?([+-])(\d{2}):?(\d{2})$/.exec(since);
  if (zoned) {
    const [, y, mo, d, h, mi, sec, frac, sign, zh, zm] = zoned;
    const local = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +sec!, frac ? Math.round(Number(`0${frac}`) * 1000) : 0);
    const offset = (sign === '-' ? -1 : 1) * (+zh! * 60 + +zm!) * 60_000;
    return valid(new Date(local - offset));
  }
  const long = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?$/.exec(since);
  if (long) {
    const [, y, mo, d, h, mi, sec, frac] = long;
    return valid(new Date(+y!, +mo! - 1, +d!, +h!, +mi!, +sec!, frac ? Math.round(Number(`0${frac}`) * 1000) : 0));
  }
  const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(since);
  if (date) return valid(new Date(+date[1]!, +date[2]! - 1, +date[3]!));
  const short = /^(\d{2}):(\d{2}):(\d{2})(\.\d+)?$/.exec(since);
  if (short) {
    const [, h, mi, sec, frac] = short;
    const t = new Date(now.getFullYear(), now.getMonth(), now.getDate(), +h!, +mi!, +sec!, frac ? Math.round(Number(`0${frac}`) * 1000) : 0);
    // BIRD prints a time of day only for events of the last 20 hours; allow for clock skew of a second.
    if (t.getTime() > now.getTime() + 1000) t.setDate(t.getDate() - 1);
    return valid(t);
  }
  return undefined;
}

function valid(d: Date): string | undefined {
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** Lines as `birdc` or the socket print them (`NNNN-text`, ` continuation`) to coded lines. */
export function replyLinesFromText(text: string): BirdReplyLine[] {
  const out: BirdReplyLine[] = [];
  let last = 0;
  for (const line of text.split('\n')) {
    const m = /^(\d{4})([ -])(.*)$/.exec(line);
    if (m) {
      last = Number(m[1]);
      out.push({ code: last, text: m[3]! });
    } else if (line.length > 0) out.push({ code: last, text: line.startsWith(' ') ? line.slice(1) : line });
  }
  return out;
}

function num(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

export function parseShowProtocolsAll(input: readonly BirdReplyLine[] | string): BirdProtocolStatus[] {
  const lines = typeof input === 'string' ? replyLinesFromText(input) : input;
  const out: BirdProtocolStatus[] = [];
  let cur: BirdProtocolStatus | undefined;
  let chan: BirdChannelStatus | undefined;
  for (const { code, text } of lines) {
    if (code === 1002) {
      const m = ROW.exec(text.trim());
      if (!m) continue;
      const [info = '', ...rest] = (m[6] ?? '').split(/\s{2,}/);
      cur = { name: m[1]!, proto: m[2]!, table: m[3]!, state: m[4]!, since: m[5]!, info, routesImported: 0, routesExported: 0, channels: [] };
      if (rest.length > 0) cur.infoDetail = rest.join(' ');
      chan = undefined;
      out.push(cur);
      continue;
    }
    if (code !== 1006 || !cur) continue;
    const t = text.trim();
    if (t === '') continue;
    const ch = /^Channel (\S+)$/.exec(t);
    if (ch) {
      chan = { name: ch[1]! };
      cur.channels.push(chan);
      continue;
    }
    const kv = /^([A-Za-z][A-Za-z ]*?):\s*(.*)$/.exec(t);
    if (!kv) continue;
    const key = kv[1]!;
    const val = kv[2]!.trim();
    if (chan) {
      if (key === 'State') chan.state = val;
      else if (key === 'Table') chan.table = val;
      else if (key === 'Routes') {
        for (const part of val.split(',')) {
          const pm = /(\d+)\s+(imported|filtered|exported|preferred)/.exec(part);
          if (!pm) continue;
          const n = Number(pm[1]);
          if (pm[2] === 'imported') chan.routesImported = n;
          else if (pm[2] === 'filtered') chan.routesFiltered = n;
          else if (pm[2] === 'exported') chan.routesExported = n;
          else chan.routesPreferred = n;
        }
        cur.routesImported += chan.routesImported ?? 0;
        cur.routesExported += chan.routesExported ?? 0;
      } else if (key === 'Export updates' || key === 'Export withdraws') {
        const accepted = num(val.split(/\s+/).at(-1));
        if (accepted !== undefined) chan[key === 'Export updates' ? 'exportUpdates' : 'exportWithdraws'] = accepted;
      }
      continue;
    }
    switch (key) {
      case 'BGP state':
        cur.bgpState = val;
        break;
      case 'Neighbor address':
        cur.neighborAddress = val.replace(/%.*$/, '');
        break;
      case 'Neighbor AS': {
        const n = num(val);
        if (n !== undefined) cur.neighborAs = n;
        break;
      }
      case 'Local AS': {
        const n = num(val);
        if (n !== undefined) cur.localAs = n;
        break;
      }
      case 'Neighbor ID':
        cur.neighborId = val;
        break;
      case 'Last error':
        cur.lastError = val;
        break;
      case 'Source address':
        cur.sourceAddress = val;
        break;
      case 'Hold timer': {
        const n = num(val.split('/')[1]);
        if (n !== undefined) cur.holdTime = n;
        break;
      }
    }
  }
  for (const p of out) if (p.lastError === undefined && p.infoDetail !== undefined && p.proto === 'BGP') p.lastError = p.infoDetail;
  return out;
}
