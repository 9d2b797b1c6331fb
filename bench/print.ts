// Prints a bench's figures as a table: one row per measured quantity, side by side.
export function print(r: Record<string, unknown>): void {
  const rows: string[][] = [['figure', 'n', 'p50 ms', 'p99 ms', 'max ms']];
  const other: string[] = [];
  for (const [k, v] of Object.entries(r)) {
    if (v && typeof v === 'object' && ('p50' in v || 'p50Ms' in v)) {
      const s = v as Record<string, number | undefined>;
      const f = (x: number | undefined): string => (x === undefined ? '' : x.toFixed(3));
      rows.push([k, String(s.n ?? ''), f(s.p50 ?? s.p50Ms), f(s.p99 ?? s.p99Ms), f(s.max ?? s.maxMs)]);
    } else other.push(`${k}: ${JSON.stringify(v)}`);
  }
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  for (const row of rows) console.log(`  ${row.map((cell, c) => cell.padEnd(w[c]!)).join('  ')}`);
  for (const o of other) console.log(`  ${o}`);
}
