// What one agent costs while nothing concerns it, in a cluster of 1,000 Services and 1,000
// EndpointSlices of 100 endpoints each (none on the agent's node): time to sync, memory, CPU over
// an idle window after sync, and CPU per EndpointSlice update elsewhere in the cluster. The
// quick, one-encoding run of the scale bench (scale-api.ts), which it measures with: the agent
// as a node runs it, a `podlb agent --no-bgp` child process with the DaemonSet's node flags
// (daemonset/daemonset.yaml), whose CPU and memory are read from /proc, so neither the API
// server's work nor V8 settings other than production's count. The flags used are printed.
// `node dist/bench/agent-idle.js [idleSeconds] [protobuf|json]`; PODLB_BENCH_SERVICES sets the
// number of Services. To compare builds, run each build's own dist/bench/agent-idle.js; builds
// before this one ran the agent in-process, without the node flags, so their figures differ.
import { print } from './print.js';
import { benchOneAgent } from './scale-api.js';

const idleSeconds = Number(process.argv[2] ?? 60);
const encoding = process.argv[3] ?? 'protobuf';
if (!Number.isFinite(idleSeconds) || idleSeconds <= 0 || (encoding !== 'protobuf' && encoding !== 'json')) {
  process.stderr.write('usage: node dist/bench/agent-idle.js [idleSeconds] [protobuf|json]\n');
  process.exit(2);
}
const r = await benchOneAgent({ services: Number(process.env.PODLB_BENCH_SERVICES ?? 1000), idleSeconds, updates: 200 }, encoding);
print(r);
process.exit(0);
