// Pure text helpers shared by the `kubectl podlb` views: tables in kubectl's style (upper-case
// headers, columns two spaces apart, no borders), kubectl-style ages, and escaping of what
// others wrote (Event reasons and messages, conditions, LB replies) before it reaches a terminal.
import { Document, visit } from 'yaml';

const TERMINAL_CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
/** What JSON.stringify and YAML double quotes leave raw: DEL, C1 and the bidirectional controls. */
const RAW_IN_QUOTES = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const u4 = (ch: string): string => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** -o json for a terminal: the same value, with every control character as a \u escape. */
export function toSafeJson(obj: unknown): string {
  // Outside strings JSON has none of these characters, so the escapes land inside strings.
  return `${JSON.stringify(obj, null, 2).replace(RAW_IN_QUOTES, u4)}\n`;
}

/** -o yaml for a terminal: strings holding control characters are double-quoted and escaped. */
export function toSafeYaml(obj: unknown): string {
  const doc = new Document(obj);
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && new RegExp(TERMINAL_CONTROLS.source).test(node.value)) node.type = 'QUOTE_DOUBLE';
    },
  });
  return doc.toString().replace(RAW_IN_QUOTES, u4);
}

/**
 * Control characters as visible text, so a string a tenant wrote (an Event anyone may create
 * in their namespace) cannot drive the operator's terminal: ESC as `^[` (kubectl's
 * printers.EscapeTerminal), CR and, unless kept, newline and tab as `\r` `\n` `\t`, other C0,
 * DEL and C1 (CSI is U+009B) as `\xNN`/`\u00NN`, and the bidirectional overrides that reorder
 * what a line appears to say as `\u202e` etc. Idempotent: the escapes are printable.
 */
export function escapeTerminal(text: string, opts: { keepNewlines?: boolean } = {}): string {
  return text.replace(TERMINAL_CONTROLS, (ch) => {
    if (opts.keepNewlines && (ch === '\n' || ch === '\t')) return ch;
    if (ch === '\u001b') return '^[';
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    const code = ch.charCodeAt(0);
    return named[ch] ?? (code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}

/** Renders rows as aligned columns; the first row is the header. Trailing spaces are trimmed. */
export function renderTable(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '';
  const safe = rows.map((r) => r.map((c) => escapeTerminal(c)));
  const widths = safe[0]!.map((_, i) => Math.max(...safe.map((r) => (r[i] ?? '').length)));
  return `${safe
    .map((r) =>
      widths
        .map((w, i) => (r[i] ?? '').padEnd(w))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

/** kubectl's short age: 45s, 12m, 3h, 5d (and `<unknown>` for a missing or bad time). */
export function formatAge(since: string | undefined, now: Date): string {
  const t = since ? Date.parse(since) : NaN;
  if (Number.isNaN(t)) return '<unknown>';
  const s = Math.max(0, Math.floor((now.getTime() - t) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** One-line, bounded text for a table cell (Event messages can be long and multi-line). */
export function cell(text: string | undefined, max = 80): string {
  const t = escapeTerminal((text ?? '').replace(/\s+/g, ' ').trim());
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** registered/healthy/draining, as PodLBNode status counts them; warming members (no traffic yet) apart, when there are any. */
export function memberCountsText(m: { registered: number; healthy: number; draining: number; warming?: number }): string {
  return `${m.registered}/${m.healthy}/${m.draining}${m.warming ? ` +${m.warming} warming` : ''}`;
}
