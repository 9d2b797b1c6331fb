// Runs one bench in this process and prints its figures: `node dist/bench/one.js NAME`.
// run.ts starts one process per bench, so no bench measures the heap, timers or sockets an
// earlier one left behind (netlink's parsing and GC-heavy figures moved 2x with that).
import { writeFileSync } from 'node:fs';
import { print } from './print.js';

const benches: Record<string, { title: string; run: () => Promise<Record<string, unknown>> }> = {
  birdApply: {
    title: 'BIRD apply (render + configure check + configure) and session flaps at the FRR ToR',
    run: async () => (await import('./bird-apply.js')).benchBirdApply(),
  },
  haproxyRuntime: { title: 'HAProxy runtime API', run: async () => (await import('./haproxy-runtime.js')).benchHaproxyRuntime() },
  netlink: { title: 'Netlink: route dump vs spawning ip, route event latency', run: async () => (await import('./netlink.js')).benchNetlink() },
  poolApproval: {
    title: 'Pool approved → prefix in the ToR FIB, rejected → withdrawn',
    run: async () => (await import('./pool-approval.js')).benchPoolApproval(),
  },
  membersLatency: { title: 'Member and readiness-gate latency in the lab', run: async () => (await import('./members-latency.js')).benchMembersLatency() },
  // The same legs with the design's example check (inter 1s): what a production-like class sees.
  membersLatencyInter1s: {
    title: 'Member and readiness-gate latency in the lab, check inter 1s',
    run: async () => (await import('./members-latency.js')).benchMembersLatency({ interval: '1s', pods: 12 }),
  },
  burst: {
    title: '200 Pods ready at once: time until every member is added and every gate is True',
    run: async () => (await import('./burst.js')).benchBurst(),
  },
  rollout: {
    title: 'Rolling update of 10 replicas under load: gates with and without pre-registration, and without gates; ContainersReady → gate True',
    run: async () => (await import('./rollout.js')).benchRollout(),
  },
  lbpoll: {
    title: 'Health polls of 100 and 1,000 agents during a rollout against one HAProxy with 5,000 servers: old vs new',
    run: async () => (await import('./haproxy-load.js')).benchHaproxyLoad(),
  },
  octavia: {
    title: 'Octavia API calls and wall time per Pod lifecycle (1, 10, 100 Pods), realistic PENDING window, in-process fake',
    run: async () => (await import('./octavia.js')).benchOctavia(),
  },
  datapath: {
    title: 'Data path: LB → Pod IP (podlb) vs LB → NodePort → Pod (kube-proxy DNAT), same Pods, same load',
    run: async () => (await import('./datapath.js')).benchDataPath(),
  },
  octaviaBatch: {
    title: 'Octavia lock cycles to register 10 and 100 Pods: agents per member vs the leader in batch',
    run: async () => (await import('./octavia-batch.js')).benchOctaviaBatch(),
  },
  scaleApi: {
    title: 'One agent in a cluster of 100,000 endpoints: API bytes, memory, idle CPU, CPU per unrelated update, JSON vs protobuf',
    run: async () => (await import('./scale-api.js')).benchScaleApi(),
  },
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
  // Not process.getActiveResourcesInfo(): on Node 20.20 it aborted this process with
  // std::bad_alloc after the burst bench (2 runs of 5).
  const stdio = new Set<unknown>([process.stdin, process.stdout, process.stderr]);
  type Handle = { constructor?: { name?: string }; spawnfile?: string; remoteAddress?: string; remotePort?: number; _pipeName?: string; localPort?: number };
  const internals = process as unknown as { _getActiveHandles(): Handle[]; _getActiveRequests(): Handle[] };
  const describe = (h: Handle): string => {
    const detail = h.spawnfile ?? h._pipeName ?? (h.remoteAddress ? `${h.remoteAddress}:${h.remotePort}` : h.localPort ? `:${h.localPort}` : '');
    return `${h.constructor?.name ?? 'unknown'}${detail ? `(${detail})` : ''}`;
  };
  const left = [...internals._getActiveHandles().filter((h) => !stdio.has(h)), ...internals._getActiveRequests()].map(describe);
  process.stderr.write(`bench ${name}: still running 10 s after its figures (open: ${left.join(', ') || 'nothing the event loop lists'}); exiting\n`);
  process.exit(0);
}, 10_000).unref();
