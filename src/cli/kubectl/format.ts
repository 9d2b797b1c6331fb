// Pure text helpers shared by the `kubectl podlb` views: tables in kubectl's style (upper-case
// headers, columns two spaces apart, no borders) and kubectl-style ages.

/** Renders rows as aligned columns; the first row is the header. Trailing spaces are trimmed. */
export function renderTable(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => widths.map((w, i) => (r[i] ?? '').padEnd(w)).join('  ').trimEnd()).join('\n') + '\n';
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
  const t = (text ?? '').replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}
