// The string formats the API server checks in CRD schemas: kube-openapi's strfmt registry
// (k8s.io/kube-openapi/pkg/validation/strfmt). A format it does not know is not checked, and
// formats only ever apply to strings (`format: int32` on an integer checks nothing).
import { isIP } from 'node:net';

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const TIME_OF_DAY = /^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$/;

/** Go's net.ParseIP: no zone, no brackets. */
function parseIP(s: string): boolean {
  return !s.includes('%') && isIP(s) !== 0;
}

/** time.Parse("2006-01-02", s): a real calendar date. */
export function isDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(y, mo - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d;
}

/** strfmt.IsDateTime: a date, a `t`, then hh:mm:ss[.frac] and a zone (z or ±hh:mm), case-insensitive. */
export function isDateTime(s: string): boolean {
  if (s.length < 4) return false;
  const parts = s.toLowerCase().split('t');
  if (parts.length < 2 || !isDate(parts[0]!)) return false;
  const m = TIME_OF_DAY.exec(parts[1]!);
  if (!m) return false;
  return m[1]! <= '23' && m[2]! <= '59' && m[3]! <= '59';
}

/** net.ParseCIDR: an address, a slash and a prefix length in range for its family. */
export function isCidr(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return false;
  const ip = s.slice(0, slash);
  const len = s.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(len) || !parseIP(ip)) return false;
  return Number(len) <= (isIP(ip) === 4 ? 32 : 128);
}

const CHECKS: Record<string, (s: string) => boolean> = {
  ipv4: (s) => parseIP(s) && s.includes('.'),
  ipv6: (s) => parseIP(s) && s.includes(':'),
  cidr: isCidr,
  datetime: isDateTime,
  date: isDate,
  uuid: (s) => UUID.test(s),
  uuid3: (s) => /^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(s),
  uuid4: (s) => /^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$/i.test(s),
  uuid5: (s) => /^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$/i.test(s),
  hostname: (s) => s.length <= 255 && /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*\.?$/.test(s),
  mac: (s) => /^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/.test(s) || /^([0-9a-fA-F]{4}\.){2}[0-9a-fA-F]{4}$/.test(s),
  byte: (s) => /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0,
  duration: (s) => /^[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+$/i.test(s),
  email: (s) => /^[^\s@]+@[^\s@]+$/.test(s),
  uri: (s) => URL.canParse(s),
  password: () => true,
  hexcolor: (s) => /^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(s),
  bsonobjectid: (s) => /^[0-9a-fA-F]{24}$/.test(s),
};

/** strfmt normalises names: `date-time`, `datetime` and `date_time` are one format. */
function normalise(name: string): string {
  return name.replace(/[-_ ]/g, '').toLowerCase();
}

export function knownFormat(name: string): boolean {
  return normalise(name) in CHECKS;
}

export function isFormatValid(name: string, value: string): boolean {
  const check = CHECKS[normalise(name)];
  return check === undefined || check(value);
}

/** A metav1.Time as the API server writes it: RFC 3339 in UTC, whole seconds. */
export function metaTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
