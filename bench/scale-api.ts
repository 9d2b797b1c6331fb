// One agent in a cluster of 1,000 Services and 1,000 EndpointSlices holding 100,000 endpoints,
// against the in-process API server: what each node costs the API server and itself. The agent
// runs as its own process under its DaemonSet identity (`podlb agent --no-bgp`), as on a node;
// its memory and CPU are read from /proc, so the bench's own heap and the API server's work do
// not count. The node under test hosts none of the endpoints: what is measured is the price of
// the rest of the cluster, which every one of 1,000 nodes pays. The agent's node flags are the
// DaemonSet's (daemonset/daemonset.yaml), so the figures are those of the process a node runs.
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'undici';
import { AGENT_SERVICE_ACCOUNT } from '../src/lab/lab.js';
import { agentNodeFlags } from '../src/lab/daemonset-pod.js';
import { agentHttpFlags, cliPath } from '../src/lab/lab-agents.js';
import { startApiServer, type ApiServer } from '../src/apiserver/index.js';
import { LABEL_SERVICE_NAME } from '../src/api/types.js';
import { freePort } from '../src/util/free-port.js';
import { processCpuSeconds as cpuSeconds, processMemoryMb as memoryMb } from './proc.js';

const NODE = 'node-0';
const NAMESPACE = 'scale';

export interface ScaleApiOptions {
  services?: number;
  endpointsPerSlice?: number;
  nodes?: number;
  idleSeconds?: number;
  updates?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function populate(api: ApiServer, o: Required<ScaleApiOptions>): void {
  api.store.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
  api.store.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE }, spec: { podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24'] } });
  // The class exists, so every Service is a valid opt-in the agent must plan for; its
  // instance is never contacted, since none of the endpoints is on this node.
  api.store.create('loadbalancerclasses', {
    apiVersion: 'podlb.io/v1alpha1',
    kind: 'LoadBalancerClass',
    metadata: { name: 'l7lb' },
    spec: { provider: 'haproxy', haproxy: { instances: ['unix:///run/podlb-bench-none/haproxy.sock'], healthCheck: { interval: '1s', rise: 2, fall: 3 } } },
  });
  for (let s = 0; s < o.services; s++) {
    const name = `svc-${s}`;
    api.store.create('services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: NAMESPACE, annotations: { 'podlb.io/load-balancer': 'l7lb' } },
      spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
    });
    api.store.create('endpointslices', sliceOf(s, o, 0));
  }
}

/** Slice `s` with every endpoint on some other node; `generation` changes the conditions. */
function sliceOf(s: number, o: Required<ScaleApiOptions>, generation: number): Record<string, unknown> {
  const name = `svc-${s}`;
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${name}-abcde`,
      namespace: NAMESPACE,
      labels: { [LABEL_SERVICE_NAME]: name, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: o.endpointsPerSlice }, (_, e) => {
      const i = s * o.endpointsPerSlice + e;
      const node = 1 + (i % (o.nodes - 1));
      return {
        addresses: [`10.${100 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`],
        nodeName: `node-${node}`,
        targetRef: { kind: 'Pod', namespace: NAMESPACE, name: `${name}-pod-${e}`, uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` },
        conditions: { ready: (e + generation) % 7 !== 0, serving: (e + generation) % 7 !== 0, terminating: false },
      };
    }),
  };
}

/** Bytes and time of one full list of EndpointSlices, as an admin, in one encoding. */
async function listOnce(api: ApiServer, accept: string, limit?: number): Promise<{ bytes: number; ms: number; pages: number; contentType: string }> {
  const token = /token: (\S+)/.exec(api.kubeconfigYaml())?.[1];
  const { Agent } = await import('undici');
  const dispatcher = new Agent({ connect: { ca: api.caPem } });
  let bytes = 0;
  let pages = 0;
  let contentType = '';
  let cont: string | undefined;
  const t0 = performance.now();
  try {
    do {
      const url = new URL(`${api.url}/apis/discovery.k8s.io/v1/endpointslices`);
      if (limit) url.searchParams.set('limit', String(limit));
      if (cont) url.searchParams.set('continue', cont);
      const res = await request(url, { headers: { accept, authorization: `Bearer ${token}` }, dispatcher });
      const body = Buffer.from(await res.body.arrayBuffer());
      bytes += body.length;
      pages++;
      contentType = String(res.headers['content-type'] ?? '');
      cont = contentType.startsWith('application/json')
        ? (JSON.parse(body.toString('utf8')) as { metadata?: { continue?: string } }).metadata?.continue
        : undefined;
    } while (cont);
  } finally {
    await dispatcher.close();
  }
  return { bytes, ms: Math.round(performance.now() - t0), pages, contentType };
}

async function waitReady(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`agent not ready within ${timeoutMs} ms`);
}

/**
 * Where the agent's resident memory is, from its own /metrics (prom-client's process metrics):
 * the V8 heap (reserved and live), memory outside it that JS objects hold (buffers), and the
 * rest, which is mostly the node binary's pages (fileMb) and the allocator's.
 */
async function memoryBreakdown(port: number, pid: number): Promise<Record<string, number>> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  const metric = (name: string): number => {
    const v = Number(new RegExp(`^podlb_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    return Math.round(v / 1e5) / 10;
  };
  const { anonMb, fileMb } = memoryMb(pid);
  return {
    heapTotalMb: metric('nodejs_heap_size_total_bytes'),
    heapUsedMb: metric('nodejs_heap_size_used_bytes'),
    externalMb: metric('nodejs_external_memory_bytes'),
    rssAnonMb: anonMb,
    rssFileMb: fileMb,
  };
}

/** One agent process with this encoding for the built-in kinds: sync, memory, idle CPU, CPU per unrelated update. */
async function measureAgent(api: ApiServer, o: Required<ScaleApiOptions>, encoding: 'json' | 'protobuf'): Promise<Record<string, number>> {
  let child: ChildProcess | undefined;
  try {
    const identity = api.podIdentity({ serviceAccount: AGENT_SERVICE_ACCOUNT, nodeName: NODE, hostNetwork: true });
    const port = await freePort();
    const { KUBECONFIG: _unused, ...env } = process.env;
    const t0 = performance.now();
    child = spawn(
      process.execPath,
      [...agentNodeFlags(), cliPath(), 'agent', '--node-name', NODE, '--no-bgp', ...agentHttpFlags(port, 'warn'), '--api-encoding', encoding],
      { env: { ...env, ...identity.env, PODLB_IN_CLUSTER_ROOT: identity.pathPrefix }, stdio: ['ignore', 'inherit', 'inherit'] },
    );
    const pid = child.pid!;
    await waitReady(port, child, 120_000);
    const syncMs = Math.round(performance.now() - t0);
    await sleep(2000);
    const afterSync = memoryMb(pid);
    const breakdown = await memoryBreakdown(port, pid);
    // Two windows: the first still holds V8's clean-up of the initial lists (its memory reducer
    // runs a few full collections once allocation stops); the second is the agent at rest, the
    // cost 1,000 nodes pay all day.
    const settle0 = cpuSeconds(pid);
    await sleep(o.idleSeconds * 1000);
    const idle0 = cpuSeconds(pid);
    const settlePercent = (100 * (idle0 - settle0)) / o.idleSeconds;
    await sleep(o.idleSeconds * 1000);
    const idleCpu = cpuSeconds(pid) - idle0;
    const idlePercent = (100 * idleCpu) / o.idleSeconds;
    // Updates of slices with no endpoint on this node, spread out so each is its own event.
    const spacingMs = 20;
    const up0 = cpuSeconds(pid);
    const tu = performance.now();
    for (let u = 0; u < o.updates; u++) {
      api.store.update('endpointslices', sliceOf(u % o.services, o, 1 + u));
      await sleep(spacingMs);
    }
    await sleep(1000);
    const updWallS = (performance.now() - tu) / 1000;
    const updCpu = cpuSeconds(pid) - up0 - (idleCpu / o.idleSeconds) * updWallS;
    const end = memoryMb(pid);
    return {
      syncMs,
      rssAfterSyncMb: afterSync.rssMb,
      rssPeakMb: Math.max(afterSync.peakMb, end.peakMb),
      ...breakdown,
      cpuFirstIdleWindowPercentOfCore: Number(settlePercent.toFixed(3)),
      idleCpuPercentOfCore: Number(idlePercent.toFixed(3)),
      cpuPerUnrelatedSliceUpdateMs: Number(((1000 * updCpu) / o.updates).toFixed(3)),
    };
  } finally {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }
}

const withDefaults = (opts: ScaleApiOptions): Required<ScaleApiOptions> => ({
  services: 1000,
  endpointsPerSlice: 100,
  nodes: 1000,
  idleSeconds: 30,
  updates: 300,
  ...opts,
});

const clusterOf = (o: Required<ScaleApiOptions>): string =>
  `${o.services} Services, ${o.services} EndpointSlices, ${o.services * o.endpointsPerSlice} endpoints, none on ${NODE}`;

/** The cluster of this bench, ready for an agent. */
async function startCluster(o: Required<ScaleApiOptions>): Promise<ApiServer> {
  const api = await startApiServer();
  try {
    api.installManifests();
    populate(api, o);
    return api;
  } catch (err) {
    await api.close();
    throw err;
  }
}

/** One agent process with one encoding in this bench's cluster, without the list sizes (bench/agent-idle.ts). */
export async function benchOneAgent(opts: ScaleApiOptions = {}, encoding: 'json' | 'protobuf' = 'protobuf'): Promise<Record<string, unknown>> {
  const o = withDefaults(opts);
  const api = await startCluster(o);
  try {
    return { cluster: clusterOf(o), encoding, agentNodeFlags: agentNodeFlags().join(' '), ...(await measureAgent(api, o, encoding)) };
  } finally {
    await api.close();
  }
}

export async function benchScaleApi(opts: ScaleApiOptions = {}): Promise<Record<string, unknown>> {
  const o = withDefaults(opts);
  const api = await startCluster(o);
  try {
    const jsonList = await listOnce(api, 'application/json');
    const protoList = await listOnce(api, 'application/vnd.kubernetes.protobuf, application/json');
    const agents = { json: await measureAgent(api, o, 'json'), protobuf: await measureAgent(api, o, 'protobuf') };
    return {
      cluster: clusterOf(o),
      initialListJson: { bytes: jsonList.bytes, ms: jsonList.ms, contentType: jsonList.contentType },
      initialListProtobuf: { bytes: protoList.bytes, ms: protoList.ms, contentType: protoList.contentType },
      protobufToJsonBytes: Number((protoList.bytes / jsonList.bytes).toFixed(3)),
      agentJson: agents.json,
      agentProtobuf: agents.protobuf,
      agentNodeFlags: agentNodeFlags().join(' '),
      goals: 'peak < 100 MB; idle < 0.2 %; per unrelated update < 0.3 ms',
    };
  } finally {
    await api.close();
  }
}
