// Open-loop HTTP load at a fixed request rate, for latency comparisons between paths: requests
// start on a fixed schedule whatever earlier ones are doing, so a slow reply does not slow the
// load down and hide itself (coordinated omission), and every path gets the same rate. From
// the root namespace through an HAProxy unix-socket frontend, over keep-alive connections.
//
// Each latency runs from the moment the request is handed to the HTTP agent (a request that
// waits for a free connection counts its wait) to the end of the reply. The generator's own
// lateness, how far behind schedule it started a request, is reported apart (scheduleLagMs): a
// large value means the machine, not the path, was slow.
import { Agent } from 'node:http';
import { requestOnce, type Reply } from './http-load.js';

export interface PacedLoadOptions {
  socketPath: string;
  ratePerSecond: number;
  durationMs: number;
  /** Connections to HAProxy at most (the agent queues beyond); default 16. */
  maxConnections?: number;
  /** Per-request timeout, default 5 s. */
  requestTimeoutMs?: number;
  /** Default '/'. */
  path?: string;
  /** Sorts each answered request into a class (e.g. by which Pod answered whom); default 'all'. */
  classify?: (reply: Reply) => string;
}

export interface PacedLoadResult {
  sent: number;
  ok: number;
  failed: number;
  byPod: Record<string, number>;
  /** One per request that got a reply or failed, in completion order. */
  latenciesMs: number[];
  /** The latencies of the 200 replies, by `classify`'s class. */
  latenciesByClassMs: Record<string, number[]>;
  /** The largest delay between a request's slot in the schedule and its start. */
  scheduleLagMs: number;
  /** Distinct failures with their counts, e.g. "status 503 (x2)". */
  errors: string[];
}

export async function runPacedLoad(opts: PacedLoadOptions): Promise<PacedLoadResult> {
  if (!(opts.ratePerSecond > 0) || !(opts.durationMs > 0)) throw new Error('paced load needs a positive rate and duration');
  const agent = new Agent({ keepAlive: true, maxSockets: opts.maxConnections ?? 16 });
  const intervalMs = 1000 / opts.ratePerSecond;
  const count = Math.max(1, Math.floor((opts.durationMs / 1000) * opts.ratePerSecond));
  const result: PacedLoadResult = { sent: 0, ok: 0, failed: 0, byPod: {}, latenciesMs: [], latenciesByClassMs: {}, scheduleLagMs: 0, errors: [] };
  const errorCounts = new Map<string, number>();
  const fail = (what: string): void => {
    result.failed += 1;
    errorCounts.set(what, (errorCounts.get(what) ?? 0) + 1);
  };

  const one = async (): Promise<void> => {
    const t = performance.now();
    try {
      const reply = await requestOnce(agent, opts.socketPath, opts.path ?? '/', opts.requestTimeoutMs ?? 5000);
      const ms = performance.now() - t;
      result.latenciesMs.push(ms);
      if (reply.status !== 200) return fail(`status ${reply.status}`);
      result.ok += 1;
      const cls = opts.classify?.(reply) ?? 'all';
      const samples = result.latenciesByClassMs[cls] ?? [];
      samples.push(ms);
      result.latenciesByClassMs[cls] = samples;
      if (reply.pod !== undefined) result.byPod[reply.pod] = (result.byPod[reply.pod] ?? 0) + 1;
    } catch (err) {
      result.latenciesMs.push(performance.now() - t);
      const e = err as NodeJS.ErrnoException;
      fail(e.code ?? e.message);
    }
  };

  const inFlight: Promise<void>[] = [];
  const t0 = performance.now();
  try {
    for (let i = 0; i < count; i++) {
      const due = t0 + i * intervalMs;
      const wait = due - performance.now();
      if (wait >= 1) await new Promise((r) => setTimeout(r, wait));
      result.scheduleLagMs = Math.max(result.scheduleLagMs, performance.now() - due);
      result.sent += 1;
      inFlight.push(one());
    }
    await Promise.all(inFlight);
  } finally {
    agent.destroy();
  }
  result.scheduleLagMs = Math.round(result.scheduleLagMs * 100) / 100;
  result.errors = [...errorCounts].map(([what, n]) => `${what} (x${n})`);
  return result;
}
