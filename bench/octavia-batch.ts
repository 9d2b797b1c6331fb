// Octavia lock cycles to register N Pods at once on two nodes, against the in-process fake with
// a PENDING_UPDATE window after every change: the agents' per-member writes (before: each
// agent POSTs its own members, every POST locks the load balancer, the others get 409 and back
// off) side by side with the controller leader's batch update of a podlb-owned pool (after:
// one writer sets the pool's whole member list per cycle). A lock cycle is one write Octavia
// accepted. No root, no API server: the batch writer gets the cluster snapshot directly.
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { OctaviaBatchWriter } from '../src/controller/octavia-batch.js';
import { memberName } from '../src/lb/naming.js';
import { OctaviaInstance } from '../src/lb/octavia-instance.js';
import { startOctaviaFake, type OctaviaFake } from '../testkit/octavia-fake/index.js';
import { octaviaCluster } from '../testkit/octavia-cluster.js';

const NODES = ['node-1', 'node-2'];
const PENDING_MS = 200;

interface Figures {
  lockCycles: number;
  conflicts409: number;
  wallMs: number;
}

function podsOf(n: number): { name: string; node: string; ip: string }[] {
  return Array.from({ length: n }, (_, i) => ({ name: `web-${i}`, node: NODES[i % 2]!, ip: `10.244.${(i % 2) + 1}.${Math.floor(i / 2) + 10}` }));
}

function writes(fake: OctaviaFake): { ok: number; conflicts: number } {
  const w = fake.requestLog.filter((r) => r.method !== 'GET' && r.path.startsWith('/octavia/'));
  return { ok: w.filter((r) => r.status < 300).length, conflicts: w.filter((r) => r.status === 409).length };
}

async function allActive(fake: OctaviaFake, poolId: string, n: number): Promise<void> {
  while (fake.state.membersOf(poolId).filter((m) => m.provisioning_status === 'ACTIVE').length < n) await new Promise((r) => setTimeout(r, 5));
}

async function perMember(n: number): Promise<Figures> {
  const fake = await startOctaviaFake({ pendingMs: PENDING_MS });
  try {
    const lb = fake.state.createLoadBalancer({ name: 'bench' });
    const pool = fake.state.createPool(lb.id, { name: 'web', healthMonitor: true });
    const agents = NODES.map(
      (node) => new OctaviaInstance({ authURL: fake.url, region: 'RegionOne', credentials: fake.credentials.password, loadBalancerID: lb.id, nodeName: node }),
    );
    const pods = podsOf(n);
    const t0 = performance.now();
    await Promise.all(
      agents.map((inst, a) =>
        Promise.all(
          pods
            .filter((p) => p.node === NODES[a])
            .map((p) => inst.addMember({ backend: 'web', name: memberName(p.node, p.ip, 8080), address: p.ip, port: 8080 })),
        ),
      ),
    );
    await allActive(fake, pool.id, n);
    const wallMs = Math.round(performance.now() - t0);
    const w = writes(fake);
    return { lockCycles: w.ok, conflicts409: w.conflicts, wallMs };
  } finally {
    await fake.close();
  }
}

async function batch(n: number): Promise<Figures> {
  const fake = await startOctaviaFake({ pendingMs: PENDING_MS });
  const writer = new OctaviaBatchWriter({ log: pino({ level: 'silent' }), record: () => undefined, pollMs: 50 });
  try {
    const lb = fake.state.createLoadBalancer({ name: 'bench' });
    const pool = fake.state.createPool(lb.id, { name: 'web', healthMonitor: true, tags: ['podlb-owned'] });
    const c = octaviaCluster(fake, lb.id, podsOf(n));
    const snap = { ...c, secret: () => c.secret, synced: true };
    const t0 = performance.now();
    const done = allActive(fake, pool.id, n).then(() => true);
    let finished = false;
    void done.then(() => (finished = true));
    // The leader loop: a pass now, then whenever the writer asks to be woken.
    while (!finished) {
      const r = await writer.run(snap, Date.now(), () => true);
      const wait = Math.max(1, Math.min(1_000, (r.nextAt ?? Date.now() + 50) - Date.now()));
      await Promise.race([done, new Promise((res) => setTimeout(res, wait))]);
    }
    const wallMs = Math.round(performance.now() - t0);
    const w = writes(fake);
    return { lockCycles: w.ok, conflicts409: w.conflicts, wallMs };
  } finally {
    writer.reset();
    await fake.close();
  }
}

export async function benchOctaviaBatch(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const n of [10, 100]) {
    const before = await perMember(n);
    const after = await batch(n);
    out[`${n} Pods at once on 2 nodes, ${PENDING_MS} ms PENDING window`] = {
      perMemberAgents: before,
      leaderBatch: after,
      lockCyclesRatio: Number((before.lockCycles / Math.max(1, after.lockCycles)).toFixed(1)),
      wallRatio: Number((before.wallMs / Math.max(1, after.wallMs)).toFixed(1)),
    };
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await benchOctaviaBatch(), null, 2));
}
