// HAProxy runtime API costs on this machine: one command round trip, a pipelined batch of
// 50, and one listMembers over 4 backends holding 50 members each. Needs root (sandbox).
import { NetnsSandbox } from '../src/lab/netns.js';
import { startHaproxy } from '../src/lab/haproxy-process.js';
import { HaproxyInstance } from '../src/lb/haproxy-instance.js';
import { HaproxyRuntime } from '../src/lb/haproxy-runtime.js';
import { memberName, memberNamePrefix } from '../src/lb/naming.js';
import { summarize, timeEach } from './stats.js';

export async function benchHaproxyRuntime(): Promise<Record<string, unknown>> {
  const sb = new NetnsSandbox();
  try {
    const backends = ['be0', 'be1', 'be2', 'be3'];
    const hp = await startHaproxy(sb, null, { dir: sb.tempDir('habench'), backends: backends.map((name) => ({ name })) });
    const rt = new HaproxyRuntime(hp.runtimeAddress);
    const t0 = performance.now();
    await rt.command('show info');
    const connectAndFirstMs = performance.now() - t0;
    const single = await timeEach(500, () => rt.command('show servers state be0'));
    const batch50 = await timeEach(100, () => rt.pipeline(Array.from({ length: 50 }, (_, i) => `show servers state be${i % 4}`)));

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
    const list = await timeEach(50, () => lb.listMembers(backends, memberNamePrefix('node-a')));
    const result = {
      haproxyVersion: (await rt.command('show info')).match(/^Version: (.*)$/m)?.[1],
      connectAndFirstCommandMs: Number(connectAndFirstMs.toFixed(3)),
      oneCommandRoundTrip: summarize(single),
      pipelined50Commands: summarize(batch50),
      addMember: { ...summarize(addT), roundTripsEach: 2 },
      listMembers4Backends200Members: summarize(list),
      roundTrips: rt.roundTrips,
    };
    await rt.close();
    await hp.stop();
    return result;
  } finally {
    await sb.cleanup();
  }
}
