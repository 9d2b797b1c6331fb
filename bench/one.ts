// Runs one bench in this process and prints its figures: `node dist/bench/one.js NAME`.
// run.ts starts one process per bench, so no bench measures the heap, timers or sockets an
// earlier one left behind (netlink's parsing and GC-heavy figures moved 2x with that).
import { writeFileSync } from 'node:fs';
import { print } from './print.js';

const benches: Record<string, { title: string; run: () => Promise<Record<string, unknown>> }> = {
  birdApply: { title: 'BIRD apply (render + configure check + configure) and session flaps at the FRR ToR (issues 2, 3)', run: async () => (await import('./bird-apply.js')).benchBirdApply() },
  haproxyRuntime: { title: 'HAProxy runtime API', run: async () => (await import('./haproxy-runtime.js')).benchHaproxyRuntime() },
  netlink: { title: 'Netlink: route dump vs spawning ip, route event latency (issue 3)', run: async () => (await import('./netlink.js')).benchNetlink() },
  poolApproval: { title: 'Pool approved → prefix in the ToR FIB, rejected → withdrawn (issue 3)', run: async () => (await import('./pool-approval.js')).benchPoolApproval() },
  membersLatency: { title: 'Member and readiness-gate latency in the lab (issue 2)', run: async () => (await import('./members-latency.js')).benchMembersLatency() },
  burst: { title: '200 Pods ready at once (issue 4)', run: async () => (await import('./burst.js')).benchBurst() },
  rollout: { title: 'Rolling update, with and without readiness gates (issue 4)', run: async () => (await import('./rollout.js')).benchRollout() },
  octavia: { title: 'Octavia API calls per Pod lifecycle, against the in-process fake (issue 4)', run: async () => (await import('./octavia.js')).benchOctavia() },
};

export const BENCH_NAMES = Object.keys(benches);

const name = process.argv[2] ?? '';
const bench = benches[name];
if (!bench) {
  process.stderr.write(`usage: node dist/bench/one.js ${BENCH_NAMES.join('|')}\n`);
  process.exit(2);
}
console.log(`\n== ${bench.title} ==`);
const result = await bench.run();
print(result);
if (process.env.PODLB_BENCH_OUT) writeFileSync(process.env.PODLB_BENCH_OUT, JSON.stringify(result));
// A handle left open (a socket, a timer, a child) would keep this process, and `npm run
// bench` with it, waiting until run.ts's 15-minute timeout: name what is left, then go.
setTimeout(() => {
  // getActiveResourcesInfo names timers and pending requests too, which _getActiveHandles misses.
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
  const left = [...counts].map(([r, n]) => (n > 1 ? `${r} x${n}` : r)).join(', ');
  process.stderr.write(`bench ${name}: still running 10 s after its figures (active resources: ${left || 'none'}); exiting\n`);
  process.exit(0);
}, 10_000).unref();
