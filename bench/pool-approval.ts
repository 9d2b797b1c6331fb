// Approval latency, end to end in the lab: the network team's write of
// `spec.approval.state` to a PodAddressPool until the ToR's kernel has (or no longer has) the
// nodes' Pod CIDRs. Setup: the lab's approved pool `lab-pods` is deleted and the ToR withdraws
// 10.244.1.0/24 and 10.244.2.0/24; a new Pending pool for 10.244.0.0/16 is created (and checked
// not to be advertised); then 5 rounds of Approved (time until node1's 10.244.1.0/24, and both
// nodes' prefixes, are in the ToR's FIB) and Rejected (time until both are withdrawn). The ToR's
// kernel table is watched with `ip monitor route` in its namespace (events timestamped on
// arrival). The controller runs too, and the time until the pool's `Advertised` condition says
// True (2 nodes) after an approval is reported alongside.
// Needs root (network namespaces). Runnable alone: node dist/bench/pool-approval.js
import { pathToFileURL } from 'node:url';
import { approvalPatch } from '../src/cli/kubectl/approval.js';
import { performance } from 'node:perf_hooks';
import { CONTROLLER_SERVICE_ACCOUNT } from '../testkit/controller-resources.js';
import { pino } from 'pino';
import { API_VERSION, type PodAddressPool } from '../src/api/types.js';
import { Controller } from '../src/controller/controller.js';
import { startLab } from '../src/lab/lab.js';
import { waitFor } from '../src/lab/netns.js';
import { summarize } from './stats.js';
import { RouteMonitor } from './route-monitor.js';

const ROUNDS = 5;
const POOL = 'bench-approval';
const PREFIXES = ['10.244.1.0/24', '10.244.2.0/24'];

export async function benchPoolApproval(): Promise<Record<string, unknown>> {
  const log = pino({ level: 'silent' });
  const lab = await startLab({ agentMode: 'inProcess', log });
  let controller: Controller | undefined;
  try {
    const torHas = async (dst: string) => (await lab.topo.tor.kernelRoutes()).some((r) => r.dst === dst);
    await waitFor('lab prefixes at the ToR', async () => ((await Promise.all(PREFIXES.map(torHas))).every(Boolean) ? true : undefined), 30_000, 50);

    // The controller, for the pool's status (the lab does not run one).
    // As the controller Deployment's Pod: its own ServiceAccount token (the lab installed its RBAC).
    const kc = lab.api.podIdentity({ serviceAccount: CONTROLLER_SERVICE_ACCOUNT, nodeName: 'node1' }).kubeConfig();
    controller = new Controller({
      kubeConfig: kc,
      log,
      identity: 'bench-controller',
      webhookPort: 0,
      webhookHost: '127.0.0.1',
      leaseDurationSeconds: 2,
      renewDeadlineMs: 1_500,
      retryPeriodMs: 200,
    });
    await controller.start();
    await waitFor('controller leading', () => controller!.isLeader || undefined, 10_000, 20);

    const monitor = new RouteMonitor(lab.sb.spawn(lab.topo.tor.ns, 'ip', ['monitor', 'route'], { name: 'ip monitor route (tor)' }));
    await new Promise((r) => setTimeout(r, 200)); // ip monitor subscribed

    const gone = PREFIXES.map((p) => monitor.next(p, true));
    const t0 = performance.now();
    await lab.client.request('DELETE', `/apis/${API_VERSION}/podaddresspools/lab-pods`);
    const labPoolWithdrawnMs = Math.max(...(await Promise.all(gone))) - t0;

    await lab.client.create(`/apis/${API_VERSION}/podaddresspools`, {
      apiVersion: API_VERSION,
      kind: 'PodAddressPool',
      metadata: { name: POOL },
      spec: { cidrs: ['10.244.0.0/16'], advertise: 'NodeCIDR', nodeSelector: { matchLabels: { 'podlb.io/bgp': 'true' } }, approval: { state: 'Pending' } },
    });
    const pool = () => lab.api.store.get('podaddresspools', POOL) as PodAddressPool;
    const cond = (type: string) => pool().status?.conditions?.find((c) => c.type === type);
    await waitFor('Pending status', () => (cond('Approved')?.reason === 'Pending' ? true : undefined), 10_000, 10);
    // Pending is not advertised: give the agents a second to (wrongly) do it.
    await new Promise((r) => setTimeout(r, 1_000));
    const pendingLeaked = (await Promise.all(PREFIXES.map(torHas))).some(Boolean);

    // As `kubectl podlb approve` does: an approval records the digests of the pool as read.
    const setState = async (state: 'Approved' | 'Rejected') => {
      const path = `/apis/${API_VERSION}/podaddresspools/${POOL}`;
      const read = await lab.networkTeam.get<PodAddressPool>(path);
      return lab.networkTeam.patch(path, approvalPatch(state, read, 'network-team:bench', 'BENCH', new Date()), 'merge');
    };

    const approveFirst: number[] = [];
    const approveAll: number[] = [];
    const approveStatus: number[] = [];
    const rejectAll: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const adds = PREFIXES.map((p) => monitor.next(p, false));
      const a0 = performance.now();
      await setState('Approved');
      const status = waitFor(
        'Advertised True, 2 nodes',
        () => (cond('Advertised')?.status === 'True' && pool().status?.advertisedNodes === 2 ? performance.now() : undefined),
        15_000,
        5,
      );
      const at = await Promise.all(adds);
      approveFirst.push(at[0]! - a0);
      approveAll.push(Math.max(...at) - a0);
      approveStatus.push((await status) - a0);

      const dels = PREFIXES.map((p) => monitor.next(p, true));
      const r0 = performance.now();
      await setState('Rejected');
      rejectAll.push(Math.max(...(await Promise.all(dels))) - r0);
      await waitFor(
        'Rejected status',
        () => (cond('Approved')?.reason === 'Rejected' && cond('Advertised')?.status === 'False' ? true : undefined),
        10_000,
        10,
      );
    }
    return {
      rounds: ROUNDS,
      labPoolDeleteToWithdrawnMs: Number(labPoolWithdrawnMs.toFixed(1)),
      pendingAdvertised: pendingLeaked,
      approveToFibNode1: summarize(approveFirst),
      approveToFibAllNodes: summarize(approveAll),
      approveToStatusAdvertised: summarize(approveStatus),
      rejectToWithdrawnAllNodes: summarize(rejectAll),
    };
  } finally {
    await controller?.stop().catch(() => undefined);
    await lab.stop();
  }
}

export function printPoolApproval(r: Record<string, unknown>): void {
  const s = (k: string) => r[k] as { p50Ms: number; p99Ms: number; maxMs: number; n: number };
  console.log(
    `pool approval (${r.rounds} rounds): approve->FIB node1 p50 ${s('approveToFibNode1').p50Ms} ms p99 ${s('approveToFibNode1').p99Ms} ms; ` +
      `approve->FIB both nodes p50 ${s('approveToFibAllNodes').p50Ms} ms p99 ${s('approveToFibAllNodes').p99Ms} ms; ` +
      `reject->withdrawn p50 ${s('rejectToWithdrawnAllNodes').p50Ms} ms p99 ${s('rejectToWithdrawnAllNodes').p99Ms} ms; ` +
      `approve->status Advertised p50 ${s('approveToStatusAdvertised').p50Ms} ms p99 ${s('approveToStatusAdvertised').p99Ms} ms; ` +
      `Pending advertised: ${r.pendingAdvertised ? 'YES (bug)' : 'no'}`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchPoolApproval().then(
    (r) => printPoolApproval(r),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
