// Octavia lock cycles to register N Pods at once on two nodes, against the in-process fake with
// a PENDING_UPDATE window after every change: the agents' per-member writes (before: each
// agent POSTs its own members, every POST locks the load balancer, the others get 409 and back
// off) side by side with the controller leader's batch update of a podlb-owned pool (after:
// one writer sets the pool's whole member list per cycle). A lock cycle is one write Octavia
// accepted. No root, no API server: the batch writer gets the cluster snapshot directly.
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { stringify } from 'yaml';
import {
  LABEL_CREDENTIALS,
  LABEL_SERVICE_NAME,
  READINESS_GATE,
  type EndpointSlice,
  type LoadBalancerClass,
  type Pod,
  type Secret,
  type Service,
} from '../src/api/types.js';
import { OctaviaBatchWriter } from '../src/controller/octavia-batch.js';
import { memberName } from '../src/lb/naming.js';
import { OctaviaInstance } from '../src/lb/octavia-instance.js';
import { startOctaviaFake, type OctaviaFake } from '../testkit/octavia-fake/index.js';

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

function cluster(
  fake: OctaviaFake,
  lbId: string,
  n: number,
): { classes: LoadBalancerClass[]; services: Service[]; pods: Pod[]; endpointSlices: EndpointSlice[]; secret: Secret } {
  const now = new Date().toISOString();
  const pods = podsOf(n).map(
    (p): Pod => ({
      metadata: { name: p.name, namespace: 'shop', uid: `uid-${p.name}`, labels: { app: 'web' } },
      spec: { nodeName: p.node, readinessGates: [{ conditionType: READINESS_GATE }], containers: [{ name: 'c' }] },
      status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }], conditions: [{ type: 'ContainersReady', status: 'True', lastTransitionTime: now }] },
    }),
  );
  const endpointSlices = NODES.map(
    (node): EndpointSlice => ({
      metadata: { name: `web-${node}`, namespace: 'shop', labels: { [LABEL_SERVICE_NAME]: 'web' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: pods
        .filter((p) => p.spec.nodeName === node)
        .map((p) => ({
          addresses: [p.status!.podIP!],
          conditions: { ready: false },
          nodeName: node,
          targetRef: { kind: 'Pod', namespace: 'shop', name: p.metadata.name!, uid: p.metadata.uid! },
        })),
    }),
  );
  const c = fake.credentials.password;
  const clouds = {
    clouds: { b: { auth: { auth_url: fake.url, username: c.username, password: c.password, project_name: c.projectName }, region_name: 'RegionOne' } },
  };
  return {
    classes: [
      {
        metadata: { name: 'octavia' },
        spec: {
          provider: 'octavia',
          octavia: {
            authURL: fake.url,
            region: 'RegionOne',
            loadBalancerID: lbId,
            credentialsSecretRef: { namespace: 'podlb-system', name: 'os', key: 'clouds.yaml' },
          },
          tenancy: { namespaces: [{ name: 'shop', backends: ['web'] }] },
        },
      },
    ],
    services: [
      {
        metadata: { name: 'web', namespace: 'shop', annotations: { 'podlb.io/load-balancer': 'octavia', 'podlb.io/backend': 'web' } },
        spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
      },
    ],
    pods,
    endpointSlices,
    secret: {
      metadata: { name: 'os', namespace: 'podlb-system', labels: { [LABEL_CREDENTIALS]: 'true' }, resourceVersion: '1' },
      data: { 'clouds.yaml': Buffer.from(stringify(clouds)).toString('base64') },
    },
  };
}

async function batch(n: number): Promise<Figures> {
  const fake = await startOctaviaFake({ pendingMs: PENDING_MS });
  const writer = new OctaviaBatchWriter({ log: pino({ level: 'silent' }), record: () => undefined, pollMs: 50 });
  try {
    const lb = fake.state.createLoadBalancer({ name: 'bench' });
    const pool = fake.state.createPool(lb.id, { name: 'web', healthMonitor: true, tags: ['podlb-owned'] });
    const c = cluster(fake, lb.id, n);
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
