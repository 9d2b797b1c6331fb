// Octavia API calls and wall time per Pod lifecycle (register → healthy → drain → remove)
// against the in-process fake on its realistic PENDING window (every change locks the whole
// load balancer for REALISTIC_PENDING_MS, as an amphora reload does; changes meanwhile get
// 409), with the health manager's 10 s heartbeat and a monitor of delay 5 s × 3 retries. The
// provider runs with its production defaults (409 backoff 200 ms doubling to 3 s, jittered,
// 30 s budget; healthy = ONLINE seen 25 s after ACTIVE). This is per-member writes: the
// baseline a batch writer must beat.
// Each agent does what its member reconciler does: writes its own members one at a time, a
// write whose 409 budget ran out is tried again, and it polls its members every `pollMs`
// until every one is healthy. No root needed; everything stays on 127.0.0.1.
// Measured on this machine (December 2026, 2 s window): 1 Pod 36 calls / 32 s (25 s of it the
// health settle time); 10 Pods on one node 20.6 calls per Pod, 108 s, 120 409s; 100 Pods on
// 10 nodes 44.8 calls per Pod, 692 s (each phase ~220 s = 100 writes x 2 s), 3,533 409s.
import { pathToFileURL } from 'node:url';
import { memberName, memberNamePrefix } from '../src/lb/naming.js';
import { OctaviaInstance } from '../src/lb/octavia-instance.js';
import { PodlbError } from '../src/util/errors.js';
import { REALISTIC_PENDING_MS, startOctaviaFake } from '../testkit/octavia-fake/index.js';

interface Scenario {
  name: string;
  agents: number;
  podsPerAgent: number;
}

const HEARTBEAT_MS = 10_000;
const POLL_MS = 1_000;

type Phase = 'firstList' | 'register' | 'healthy' | 'drain' | 'remove';
const PHASES: Phase[] = ['firstList', 'register', 'healthy', 'drain', 'remove'];

/** Retries a write until it lands, as the reconciler's next run would after a transient failure. */
async function until(fn: () => Promise<void>): Promise<number> {
  for (let failures = 0; ; failures++) {
    try {
      await fn();
      return failures;
    } catch (err) {
      if (!(err instanceof PodlbError && err.transient)) throw err;
    }
  }
}

async function run(s: Scenario): Promise<Record<string, unknown>> {
  const fake = await startOctaviaFake({ heartbeatMs: HEARTBEAT_MS });
  try {
    const lb = fake.state.createLoadBalancer({ name: 'bench' });
    const pool = fake.state.createPool(lb.id, { name: 'web', healthMonitor: { delay: 5, max_retries: 2, max_retries_down: 3 } });
    const agents = Array.from({ length: s.agents }, (_, a) => {
      const node = `node-${a + 1}`;
      const inst = new OctaviaInstance({
        authURL: fake.url,
        region: 'RegionOne',
        credentials: fake.credentials.applicationCredential,
        loadBalancerID: lb.id,
        nodeName: node,
        heartbeatMs: HEARTBEAT_MS,
      });
      const pods = Array.from({ length: s.podsPerAgent }, (_, i) => ({
        address: `10.244.${a + 1}.${i + 10}`,
        port: 8080,
        name: memberName(node, `10.244.${a + 1}.${i + 10}`, 8080),
      }));
      return { node, inst, pods };
    });
    const calls = Object.fromEntries(PHASES.map((p) => [p, 0])) as Record<Phase, number>;
    const wallMs = Object.fromEntries(PHASES.map((p) => [p, 0])) as Record<Phase, number>;
    let budgetsSpent = 0;
    const total = (): number => agents.reduce((n, a) => n + a.inst.apiCalls, 0);
    const phase = async (p: Phase, fn: (a: (typeof agents)[number]) => Promise<unknown>): Promise<void> => {
      const c0 = total();
      const t0 = performance.now();
      await Promise.all(agents.map(fn));
      calls[p] = total() - c0;
      wallMs[p] = Math.round(performance.now() - t0);
    };
    const listed = (a: (typeof agents)[number]) => a.inst.listMembers(['web'], memberNamePrefix(a.node));
    const each = (a: (typeof agents)[number], write: (p: (typeof a.pods)[number]) => Promise<void>) =>
      Promise.all(a.pods.map(async (p) => (budgetsSpent += await until(() => write(p)))));

    await phase('firstList', listed); // Keystone token, the LB, its pools and monitor, the (empty) member list
    await phase('register', (a) => each(a, (p) => a.inst.addMember({ backend: 'web', ...p })));
    await phase('healthy', async (a) => {
      for (;;) {
        const { members } = await listed(a);
        if (members.length === a.pods.length && members.every((m) => m.health === 'healthy')) return;
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    });
    await phase('drain', (a) => each(a, (p) => a.inst.drainMember('web', p.name)));
    // Until the members are really gone (the last delete's window over): read from the fake, no API call.
    await phase('remove', async (a) => {
      await each(a, (p) => a.inst.removeMember('web', p.name));
      while (fake.state.membersOf(pool.id).some((m) => m.name.startsWith(memberNamePrefix(a.node)))) await new Promise((r) => setTimeout(r, 20));
    });

    const pods = s.agents * s.podsPerAgent;
    const writes = fake.requestLog.filter((r) => r.method !== 'GET' && r.path.includes('/members'));
    const lifecycle = calls.register + calls.healthy + calls.drain + calls.remove;
    return {
      scenario: s.name,
      agents: s.agents,
      pods,
      pendingMs: REALISTIC_PENDING_MS,
      callsPerPod: {
        ...Object.fromEntries(PHASES.map((p) => [p, Number((calls[p] / pods).toFixed(2))])),
        lifecycle: Number((lifecycle / pods).toFixed(2)),
      },
      callsTotal: calls,
      writesAccepted: writes.filter((r) => r.status < 300).length,
      conflicts409: writes.filter((r) => r.status === 409).length,
      retryBudgetsSpent: budgetsSpent,
      keystoneCalls: agents.reduce((n, a) => n + a.inst.counters.keystoneCalls, 0),
      wallMs: { ...wallMs, lifecycle: wallMs.register + wallMs.healthy + wallMs.drain + wallMs.remove },
      batchUpdatesSent: fake.requestLog.filter((r) => r.method === 'PUT' && /\/members(\?|$)/.test(r.path)).length,
    };
  } finally {
    await fake.close();
  }
}

export async function benchOctavia(): Promise<Record<string, unknown>> {
  const scenarios: Scenario[] = [
    { name: '1 Pod', agents: 1, podsPerAgent: 1 },
    { name: '10 Pods at once on one node', agents: 1, podsPerAgent: 10 },
    { name: '100 Pods at once, 10 nodes x 10', agents: 10, podsPerAgent: 10 },
  ];
  const only = process.env.PODLB_BENCH_OCTAVIA_ONLY;
  const out: Record<string, unknown> = {};
  for (const s of scenarios) if (!only || s.name.startsWith(only)) out[s.name] = await run(s);
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await benchOctavia(), null, 2));
}
