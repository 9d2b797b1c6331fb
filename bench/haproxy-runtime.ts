// HAProxy runtime API costs on this machine: one command round trip, a pipelined batch of
// 50, and one listMembers over 4 backends holding 50 members each. Needs root (sandbox).
import { NetnsSandbox } from '../src/lab/netns.js';
import { startHaproxy } from '../src/lab/haproxy-process.js';
import { HaproxyInstance } from '../src/lb/haproxy-instance.js';
import { HaproxyRuntime } from '../src/lb/haproxy-runtime.js';
import { memberName, memberNamePrefix } from '../src/lb/naming.js';

function stats(samples: number[]): { p50Ms: number; p99Ms: number; meanMs: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => Number(s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(3));
  return { p50Ms: at(0.5), p99Ms: at(0.99), meanMs: Number((s.reduce((a, b) => a + b, 0) / s.length).toFixed(3)) };
}

async function time(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

export async function benchHaproxyRuntime(): Promise<Record<string, unknown>> {
  const sb = new NetnsSandbox();
  try {
    const backends = ['be0', 'be1', 'be2', 'be3'];
    const hp = await startHaproxy(sb, null, { dir: sb.tempDir('habench'), backends: backends.map((name) => ({ name })) });
    const rt = new HaproxyRuntime(hp.runtimeAddress);
    const t0 = performance.now();
    await rt.command('show info');
    const connectAndFirstMs = performance.now() - t0;
    const single = await time(500, () => rt.command('show servers state be0'));
    const batch50 = await time(100, () => rt.pipeline(Array.from({ length: 50 }, (_, i) => `show servers state be${i % 4}`)));

    const lb = new HaproxyInstance(hp.runtimeAddress, { runtime: rt });
    const addT: number[] = [];
    for (const [b, backend] of backends.entries()) {
      for (let i = 0; i < 50; i++) {
        const address = `127.0.${b}.${i + 1}`;
        const t = performance.now();
        await lb.addMember({ backend, name: memberName('node-a', address, 8080), address, port: 8080, healthCheck: { intervalMs: 60_000, rise: 2, fall: 3 } });
        addT.push(performance.now() - t);
      }
    }
    const list = await time(50, () => lb.listMembers(backends, memberNamePrefix('node-a')));
    const result = {
      haproxyVersion: (await rt.command('show info')).match(/^Version: (.*)$/m)?.[1],
      connectAndFirstCommandMs: Number(connectAndFirstMs.toFixed(3)),
      oneCommandRoundTrip: stats(single),
      pipelined50Commands: stats(batch50),
      addMember: { ...stats(addT), roundTripsEach: 2 },
      listMembers4Backends200Members: stats(list),
      roundTrips: rt.roundTrips,
    };
    await rt.close();
    await hp.stop();
    return result;
  } finally {
    await sb.cleanup();
  }
}
