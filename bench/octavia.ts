// Octavia API calls per Pod lifecycle (register → healthy → drain → remove)
// against the in-process fake, with and without a PENDING_UPDATE window (each change locks
// the load balancer for `pendingMs`, as an amphora reload does; changes meanwhile get 409).
// The provider runs with its defaults (409 backoff 200 ms doubling to 3 s, jittered).
// Health: the fake's health manager reports ONLINE `onlineAfterMs` after a member is ACTIVE;
// the "agent" polls one member list per pool every `pollMs`, as the reconciler does.
// No root needed; everything stays on 127.0.0.1.
import { pathToFileURL } from 'node:url';
import { memberName, memberNamePrefix } from '../src/lb/naming.js';
import { OctaviaInstance } from '../src/lb/octavia-instance.js';
import { startOctaviaFake } from '../testkit/octavia-fake/index.js';

interface Scenario {
  name: string;
  agents: number;
  podsPerAgent: number;
  pendingMs: number;
  onlineAfterMs: number;
  pollMs: number;
}

type Phase = 'firstList' | 'register' | 'healthy' | 'drain' | 'remove';
const PHASES: Phase[] = ['firstList', 'register', 'healthy', 'drain', 'remove'];

async function run(s: Scenario): Promise<Record<string, unknown>> {
  const fake = await startOctaviaFake({ pendingMs: s.pendingMs, onlineAfterMs: s.onlineAfterMs });
  try {
    const lb = fake.state.createLoadBalancer({ name: 'bench' });
    fake.state.createPool(lb.id, { name: 'web', healthMonitor: true });
    const agents = Array.from({ length: s.agents }, (_, a) => {
      const node = `node-${a + 1}`;
      const inst = new OctaviaInstance({
        authURL: fake.url,
        region: 'RegionOne',
        credentials: fake.credentials.applicationCredential,
        loadBalancerID: lb.id,
        nodeName: node,
      });
      const pods = Array.from({ length: s.podsPerAgent }, (_, i) => ({
        address: `10.244.${a + 1}.${i + 10}`,
        port: 8080,
        name: memberName(node, `10.244.${a + 1}.${i + 10}`, 8080),
      }));
      return { node, inst, pods };
    });
    const calls: Record<Phase, number> = { firstList: 0, register: 0, healthy: 0, drain: 0, remove: 0 };
    const wallMs: Record<Phase, number> = { firstList: 0, register: 0, healthy: 0, drain: 0, remove: 0 };
    const total = (): number => agents.reduce((n, a) => n + a.inst.apiCalls, 0);
    const phase = async (p: Phase, fn: (a: (typeof agents)[number]) => Promise<unknown>): Promise<void> => {
      const c0 = total();
      const t0 = performance.now();
      await Promise.all(agents.map(fn));
      calls[p] = total() - c0;
      wallMs[p] = Math.round(performance.now() - t0);
    };
    const listed = (a: (typeof agents)[number]) => a.inst.listMembers(['web'], memberNamePrefix(a.node));

    await phase('firstList', listed); // Keystone token, the LB, its pools, the (empty) member list
    await phase('register', (a) => Promise.all(a.pods.map((p) => a.inst.addMember({ backend: 'web', ...p }))));
    await phase('healthy', async (a) => {
      for (;;) {
        const { members } = await listed(a);
        if (members.length === a.pods.length && members.every((m) => m.health === 'healthy')) return;
        await new Promise((r) => setTimeout(r, s.pollMs));
      }
    });
    await phase('drain', (a) => Promise.all(a.pods.map((p) => a.inst.drainMember('web', p.name))));
    await phase('remove', (a) => Promise.all(a.pods.map((p) => a.inst.removeMember('web', p.name))));

    const pods = s.agents * s.podsPerAgent;
    const conflicts = fake.requestLog.filter((r) => r.status === 409).length;
    const perPod = Object.fromEntries(PHASES.map((p) => [p, Number((calls[p] / pods).toFixed(2))]));
    const lifecycle = calls.register + calls.healthy + calls.drain + calls.remove;
    return {
      scenario: s.name,
      agents: s.agents,
      pods,
      pendingMs: s.pendingMs,
      callsPerPod: {
        ...perPod,
        lifecycle: Number((lifecycle / pods).toFixed(2)),
        writesOnly: Number(((calls.register + calls.drain + calls.remove) / pods).toFixed(2)),
      },
      callsTotal: calls,
      conflicts409: conflicts,
      keystoneCalls: agents.reduce((n, a) => n + a.inst.counters.keystoneCalls, 0),
      wallMs,
      batchUpdatesSent: fake.requestLog.filter((r) => r.method === 'PUT' && /\/members(\?|$)/.test(r.path)).length,
    };
  } finally {
    await fake.close();
  }
}

export async function benchOctavia(): Promise<Record<string, unknown>> {
  const common = { onlineAfterMs: 300, pollMs: 100 };
  const scenarios: Scenario[] = [
    { name: '1 Pod, no PENDING window', agents: 1, podsPerAgent: 1, pendingMs: 0, ...common },
    { name: '1 Pod, 500 ms PENDING window', agents: 1, podsPerAgent: 1, pendingMs: 500, ...common },
    { name: '10 Pods at once on one node, no PENDING window', agents: 1, podsPerAgent: 10, pendingMs: 0, ...common },
    { name: '10 Pods at once on one node, 200 ms PENDING window', agents: 1, podsPerAgent: 10, pendingMs: 200, ...common },
    { name: '2 nodes x 5 Pods at once, 200 ms PENDING window', agents: 2, podsPerAgent: 5, pendingMs: 200, ...common },
  ];
  const out: Record<string, unknown> = {};
  for (const s of scenarios) out[s.name] = await run(s);
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await benchOctavia(), null, 2));
}
