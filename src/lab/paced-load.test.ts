import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runPacedLoad } from './paced-load.js';

let server: Server | undefined;
let dir: string | undefined;

afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A Pod-like server on a unix socket: each reply names a pod (alternating) and a peer. */
async function podLike(holdMs: number): Promise<{ socketPath: string; peak: () => number }> {
  dir = mkdtempSync(join(tmpdir(), 'podlb-paced-'));
  const socketPath = join(dir, 'http.sock');
  let inFlight = 0;
  let peak = 0;
  let n = 0;
  server = createServer((_req, res) => {
    inFlight += 1;
    peak = Math.max(peak, inFlight);
    const i = n++;
    setTimeout(() => {
      inFlight -= 1;
      res.writeHead(i % 5 === 4 ? 503 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ pod: `web-${i % 2}`, remoteAddress: i % 2 === 0 ? '172.31.1.2' : '172.31.2.2' }));
    }, holdMs);
  });
  await new Promise<void>((r) => server!.listen(socketPath, r));
  return { socketPath, peak: () => peak };
}

describe('runPacedLoad', () => {
  it('sends rate × duration requests whether or not earlier ones were answered (open loop)', async () => {
    const { socketPath, peak } = await podLike(1500);
    const r = await runPacedLoad({ socketPath, ratePerSecond: 50, durationMs: 400, maxConnections: 32 });
    expect(r.sent).toBe(20);
    // Every request was sent while the first was still held: none waited for a reply.
    expect(peak()).toBe(20);
    expect(r.latenciesMs).toHaveLength(20);
  });

  it('counts 200s by pod and class, and anything else as failed', async () => {
    const { socketPath } = await podLike(0);
    const r = await runPacedLoad({
      socketPath,
      ratePerSecond: 100,
      durationMs: 200,
      classify: (reply) => `${reply.pod}<-${reply.peer}`,
    });
    expect({ sent: r.sent, ok: r.ok, failed: r.failed, errors: r.errors }).toEqual({ sent: 20, ok: 16, failed: 4, errors: ['status 503 (x4)'] });
    expect(r.byPod).toEqual({ 'web-0': 8, 'web-1': 8 });
    expect(Object.fromEntries(Object.entries(r.latenciesByClassMs).map(([k, v]) => [k, v.length]))).toEqual({
      'web-0<-172.31.1.2': 8,
      'web-1<-172.31.2.2': 8,
    });
  });

  it('refuses a load with no rate', async () => {
    await expect(runPacedLoad({ socketPath: '/nonexistent', ratePerSecond: 0, durationMs: 100 })).rejects.toThrow(/positive rate/);
  });
});
