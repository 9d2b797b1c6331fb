// HAProxy's `show stat` CSV, read for the counters the data-path suites and benches compare.

/**
 * `connect` (new connections to servers) and `reuse` (requests sent on an idle connection
 * taken from the pool) of one `show stat` row: a server, or the backend's `BACKEND` total.
 */
export function connectionCounters(csv: string, proxy: string, server = 'BACKEND'): { connect: number; reuse: number } | undefined {
  const lines = csv.split('\n');
  const header = lines[0]?.replace(/^# /, '').split(',') ?? [];
  const col = (name: string): number => header.indexOf(name);
  const row = lines.map((l) => l.split(',')).find((f) => f[0] === proxy && f[1] === server);
  if (!row || col('connect') < 0 || col('reuse') < 0) return undefined;
  return { connect: Number(row[col('connect')]), reuse: Number(row[col('reuse')]) };
}
