// A bounded HTTP load generator for the lab: from the root namespace through HAProxy's
// unix-socket frontend. Keep-alive connections, `concurrency` requests in flight, stops by
// itself at durationMs or maxRequests (whichever comes first) or when stopSignal aborts.
// A reply counts as ok only with status 200; anything else, a socket error or a timeout is
// failed. The answering pod is read from the JSON body ({pod, ...}, see pod-server-main.ts).
import { Agent, request } from 'node:http';

export interface LoadOptions {
  socketPath: string;
  /** Default '/'. */
  path?: string;
  concurrency: number;
  /** Default 5 s when maxRequests is not given either, so a run always ends. */
  durationMs?: number;
  stopSignal?: AbortSignal;
  maxRequests?: number;
  /** Per-request timeout, default 5 s. */
  requestTimeoutMs?: number;
}

export interface LoadResult {
  sent: number;
  ok: number;
  failed: number;
  byPod: Record<string, number>;
  latencyMs: { p50: number; p99: number; max: number };
  /** Distinct error descriptions with their counts, e.g. "status 503 (x12)", at most MAX_ERRORS. */
  errors: string[];
}

const DEFAULT_DURATION_MS = 5_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
const MAX_ERRORS = 20;
const MAX_BODY_BYTES = 64 * 1024;

export interface Reply {
  status: number;
  pod?: string;
  /** The client address the Pod saw (its `remoteAddress`). */
  peer?: string;
}

/** One GET through `agent` (keep-alive when the agent keeps sockets); pod and peer from a JSON body. */
export function requestOnce(agent: Agent, socketPath: string, path: string, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, socketPath, path, method: 'GET', headers: { host: 'podlb-lab' }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY_BYTES) chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const reply: Reply = { status };
        if ((res.headers['content-type'] ?? '').includes('json')) {
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { pod?: unknown; remoteAddress?: unknown };
            if (typeof body.pod === 'string') reply.pod = body.pod;
            if (typeof body.remoteAddress === 'string') reply.peer = body.remoteAddress;
          } catch {
            /* not JSON after all: counted by status only */
          }
        }
        resolve(reply);
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Nearest-rank percentile of an ascending array; 0 for an empty one. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const path = opts.path ?? '/';
  const concurrency = Math.max(1, Math.floor(opts.concurrency));
  const durationMs = opts.durationMs ?? (opts.maxRequests === undefined ? DEFAULT_DURATION_MS : undefined);
  const deadline = durationMs === undefined ? Infinity : Date.now() + durationMs;
  const timeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });

  let sent = 0;
  let ok = 0;
  let failed = 0;
  const byPod: Record<string, number> = {};
  const latencies: number[] = [];
  const errorCounts = new Map<string, number>();
  const fail = (what: string): void => {
    failed += 1;
    if (errorCounts.has(what) || errorCounts.size < MAX_ERRORS) errorCounts.set(what, (errorCounts.get(what) ?? 0) + 1);
  };
  const shouldContinue = (): boolean => !opts.stopSignal?.aborted && Date.now() < deadline && (opts.maxRequests === undefined || sent < opts.maxRequests);

  const worker = async (): Promise<void> => {
    while (shouldContinue()) {
      sent += 1;
      const t0 = performance.now();
      try {
        const reply = await requestOnce(agent, opts.socketPath, path, timeoutMs);
        latencies.push(performance.now() - t0);
        if (reply.status === 200) {
          ok += 1;
          if (reply.pod !== undefined) byPod[reply.pod] = (byPod[reply.pod] ?? 0) + 1;
        } else {
          fail(`status ${reply.status}`);
        }
      } catch (err) {
        latencies.push(performance.now() - t0);
        const e = err as NodeJS.ErrnoException;
        fail(e.code ?? e.message);
        // A dead socket path fails instantly: don't spin the CPU through the whole duration.
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };

  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  latencies.sort((a, b) => a - b);
  const round = (n: number): number => Math.round(n * 100) / 100;
  return {
    sent,
    ok,
    failed,
    byPod,
    latencyMs: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)), max: round(latencies[latencies.length - 1] ?? 0) },
    errors: [...errorCounts].map(([what, n]) => `${what} (x${n})`),
  };
}
