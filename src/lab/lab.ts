// `podlb lab`: design §8's embedded lab. Real BIRD, FRR and HAProxy in network namespaces,
// real Pod processes, the in-process API server, the lab's kubelet and EndpointSlice
// controller, and one podlb agent per node. startLab() is shared by the CLI, the end-to-end
// test and the benchmarks; runLab() is the guided tour the CLI prints.
import { mkdirSync, createWriteStream } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { Agent } from '../agent/agent.js';
import { startApiServer, type ApiServer, type PodIdentity } from '../apiserver/index.js';
import { API_VERSION, READINESS_GATE, type Pod, type PodAddressPool, type PodLBNode } from '../api/types.js';
import { KubeClient } from '../kube/client.js';
import { HaproxyInstance } from '../lb/haproxy-instance.js';
import type { LbInstance, ObservedMember } from '../lb/provider.js';
import { startEndpointSliceController } from './endpointslice-controller.js';
import { LabKubelet, type LabKubeletOptions } from './kubelet.js';
import { NetnsSandbox, waitFor, type SpawnedProcess } from './netns.js';
import { buildTopology, type Topology } from './topology.js';
import { isNetworkTeamObject, labObjects, LAB_BACKEND, LAB_NAMESPACE, LAB_NETWORK_TEAM, LAB_SERVICE, labPod, type LabNodeSpec, type LabObject, type LabPodOptions } from './objects.js';
import { runLoad, type LoadResult } from './http-load.js';
import { errorMessage } from '../util/errors.js';
import { missingReal } from './real-components.js';
import { builtImages, mountImage, spawnContained, type ImageRoot } from './image-agent.js';

export const LAB_NODES: LabNodeSpec[] = [
  { name: 'node1', podCidr: '10.244.1.0/24', rack: 'r1' },
  // node2 is dual-stack: an IPv6 Pod CIDR advertised over an IPv6 session to the ToR.
  { name: 'node2', podCidr: '10.244.2.0/24', podCidr6: 'fd00:244:0:2::/64', rack: 'r2' },
];

/** The agent DaemonSet's ServiceAccount (daemonset/daemonset.yaml). */
export const AGENT_SERVICE_ACCOUNT = 'podlb-system/podlb-agent';

export interface LabOptions {
  nodes?: LabNodeSpec[];
  /**
   * 'process': each agent is a `podlb agent` child process (needs the build); 'inProcess': Agent
   * objects (tests); 'image': the agent image's entrypoint from its root file system (needs
   * `npm run images`).
   */
  agentMode?: 'process' | 'inProcess' | 'image';
  /** Where logs go; a temp dir of the sandbox by default. */
  logDir?: string;
  log?: Logger;
  healthCheck?: { interval: string; rise: number; fall: number };
  drainSeconds?: number;
  /** HAProxy instances in the L7LB fleet (default 2: every instance gets every member). */
  lbInstances?: number;
  /**
   * The EndpointSlice stand-in's --endpointslice-updates-batch-period (default 0, as upstream).
   * Large clusters set it: without it a burst of N Pods rewrites an N-endpoint slice N times.
   */
  endpointSliceBatchMs?: number;
  /** The kubelet's Ready lag (default: realistic, 100-300 ms) and randomness. */
  kubelet?: Omit<LabKubeletOptions, 'exec'>;
  /** The EndpointSlice stand-in's write lag after a Pod change (default: realistic, about 20 ms). */
  endpointSliceLagMs?: { min: number; max: number };
  /** In-process agents only: how an agent reaches an LB instance (benches count round trips). */
  makeInstance?: (node: string, address: string) => LbInstance;
}

export interface LabAgent {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Prometheus text of the agent's registry ('' while it is not running). */
  metrics(): Promise<string>;
}

export interface Lab {
  sb: NetnsSandbox;
  api: ApiServer;
  client: KubeClient;
  /** The network team (LAB_NETWORK_TEAM): the identity that may create and approve pools. */
  networkTeam: KubeClient;
  topo: Topology;
  kubelet: LabKubelet;
  logDir: string;
  kubeconfigPath: string;
  agents: Map<string, LabAgent>;
  /** Each node's agent Pod identity (token file, CA, environment). */
  agentIdentities: Map<string, PodIdentity>;
  /** A runtime-API client of the first HAProxy instance (haproxies[0]). */
  haproxy: HaproxyInstance;
  haproxies: HaproxyInstance[];
  createPod(node: string, name: string, opts?: LabPodOptions): Promise<Pod>;
  deletePod(name: string): Promise<void>;
  getPod(name: string): Promise<Pod | undefined>;
  members(): Promise<ObservedMember[]>;
  podLBNode(node: string): Promise<PodLBNode | undefined>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function cliPath(): string {
  // Compiled: dist/src/lab/lab.js → dist/src/cli/podlb.js.
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'podlb.js');
}

export async function startLab(opts: LabOptions = {}): Promise<Lab> {
  const nodes = opts.nodes ?? LAB_NODES;
  const sb = new NetnsSandbox();
  const logDir = opts.logDir ?? sb.tempDir('lab-logs');
  mkdirSync(logDir, { recursive: true });
  const log = opts.log ?? pino({ level: 'info' }, createWriteStream(join(logDir, 'lab.log')));
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    await sb.cleanup();
  };
  try {
    const api = await startApiServer({ bookmarkIntervalMs: 5000 });
    stops.push(() => api.close());
    // What `kubectl apply -k daemonset/` creates that this server serves: namespaces, the
    // binaries' ServiceAccounts and RBAC, the network team's ConfigMap.
    api.installManifests();
    const kubeconfigPath = join(logDir, 'kubeconfig');
    await api.writeKubeconfig(kubeconfigPath);
    const kc = new KubeConfig();
    kc.loadFromString(api.kubeconfigYaml());
    const client = new KubeClient(kc);
    const networkTeam = networkTeamClient(api);

    const topo = await buildTopology(sb, { nodes: nodes.map((n) => ({ name: n.name, podCidr: n.podCidr, ...(n.podCidr6 ? { podCidr6: n.podCidr6 } : {}) })), backends: [{ name: LAB_BACKEND, balance: 'roundrobin', httpCheckPath: '/healthz' }], lbInstances: opts.lbInstances ?? 2 });
    for (const obj of labObjects({ nodes: topo.nodes.map((n, i) => ({ ...nodes[i]!, address: n.address, torAddress: n.torAddress, ...(n.torAddress6 ? { torAddress6: n.torAddress6 } : {}) })), haproxyRuntimes: topo.lbs.map((l) => l.haproxy.runtimeAddress), ...(opts.healthCheck ? { healthCheck: opts.healthCheck } : {}), ...(opts.drainSeconds !== undefined ? { drainSeconds: opts.drainSeconds } : {}) })) {
      await applyLabObject(client, networkTeam, obj);
      // Nodes keep their status on create in the real API, but the lab does not rely on it.
      if (obj.kind === 'Node') await client.patch(`${collectionPath(obj)}/${obj.metadata.name}/status`, { status: obj.status }, 'merge');
    }

    const slices = startEndpointSliceController(api.store, { batchPeriodMs: opts.endpointSliceBatchMs ?? 0, ...(opts.endpointSliceLagMs ? { lagMs: opts.endpointSliceLagMs } : {}) });
    stops.push(async () => slices.stop());
    const kubelet = new LabKubelet(client, topo, log.child({ component: 'kubelet' }), { ...opts.kubelet, exec: (ns, cmd, args, o) => sb.exec(ns, cmd, args, o) });
    await kubelet.start();
    stops.push(() => kubelet.stop());

    let agentImage: ImageRoot | undefined;
    if (opts.agentMode === 'image') {
      const img = mountImage(builtImages().agent);
      agentImage = img;
      stops.push(async () => img.remove());
    }
    const agents = new Map<string, LabAgent>();
    const agentIdentities = new Map<string, PodIdentity>();
    for (const n of topo.nodes) {
      const bird = { socketPath: n.bird.socketPath, configPath: n.bird.configPath };
      // Each agent runs as the DaemonSet's Pod on its node: the podlb-agent ServiceAccount's
      // token bound to that Pod, so RBAC and the node claim apply as in a cluster.
      const identity = api.podIdentity({ serviceAccount: AGENT_SERVICE_ACCOUNT, nodeName: n.name, hostNetwork: true });
      agentIdentities.set(n.name, identity);
      if (agentImage) {
        const img = agentImage;
        const logFile = join(logDir, `agent-${n.name}.log`);
        const metricsPort = await freePort();
        let run: ReturnType<typeof spawnContained> | undefined;
        const haproxyDirs = topo.lbs.map((l) => dirname(l.haproxy.runtimeAddress.replace(/^unix:\/\//, '')));
        agents.set(n.name, {
          metrics: async () => {
            const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => undefined);
            return res?.ok ? res.text() : '';
          },
          start: async () => {
            // The DaemonSet's args, except: --netns and the health port because the lab's agents
            // share the root network namespace (the API server listens on its loopback); BIRD's
            // directory at its host path, not /run/bird, because the lab's BIRD runs on the host
            // and opens the config paths the agent names.
            run = spawnContained(sb, null, img, {
              name: `agent-${n.name}`,
              user: '0:0',
              env: [...Object.entries(identity.env).map(([k, v]) => `${k}=${v}`), `NODE_NAME=${n.name}`, 'POD_NAMESPACE=podlb-system', `PODLB_LOG_LEVEL=${process.env.PODLB_LOG_LEVEL ?? 'info'}`],
              binds: [`${join(identity.pathPrefix, 'var/run/secrets/kubernetes.io/serviceaccount')}:/var/run/secrets/kubernetes.io/serviceaccount`, `${dirname(bird.socketPath)}:${dirname(bird.socketPath)}`, '/run/netns:/run/netns', ...haproxyDirs.map((d) => `${d}:${d}`)],
              cmd: [...img.entrypoint, 'agent', '--node-name', n.name, '--bird-socket', bird.socketPath, '--bird-config', bird.configPath, '--netns', n.ns, '--health-port', String(metricsPort), '--health-address', '127.0.0.1', '--log-level', process.env.PODLB_LOG_LEVEL ?? 'info'],
            });
            const out = createWriteStream(logFile, { flags: 'a' });
            run.proc.child.stdout?.pipe(out);
            run.proc.child.stderr?.pipe(out);
          },
          stop: async () => {
            await run?.stop();
            run = undefined;
          },
        });
      } else if ((opts.agentMode ?? 'inProcess') === 'process') {
        const logFile = join(logDir, `agent-${n.name}.log`);
        let proc: SpawnedProcess | undefined;
        // Each child agent serves /metrics on its own loopback port.
        const metricsPort = await freePort();
        const handle: LabAgent = {
          metrics: async () => {
            const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => undefined);
            return res?.ok ? res.text() : '';
          },
          start: async () => {
            if (!existsSync(cliPath())) throw new Error(`${cliPath()} is missing: run \`npm run build\` first`);
            const { KUBECONFIG: _unused, ...env } = process.env;
            proc = sb.spawn(null, process.execPath, [cliPath(), 'agent', '--node-name', n.name, '--bird-socket', bird.socketPath, '--bird-config', bird.configPath, '--netns', n.ns, '--health-port', String(metricsPort), '--health-address', '127.0.0.1', '--log-level', process.env.PODLB_LOG_LEVEL ?? 'info'], { name: `agent-${n.name}`, env: { ...env, ...identity.env, PODLB_IN_CLUSTER_ROOT: identity.pathPrefix } });
            const out = createWriteStream(logFile, { flags: 'a' });
            proc.child.stdout?.pipe(out);
            proc.child.stderr?.pipe(out);
          },
          stop: async () => {
            if (!proc) return;
            proc.child.kill('SIGTERM');
            await Promise.race([proc.exited, new Promise((r) => setTimeout(r, 5000))]);
            proc = undefined;
          },
        };
        agents.set(n.name, handle);
      } else {
        const agentLog = pino({ level: process.env.PODLB_LOG_LEVEL ?? 'info', base: { node: n.name } }, createWriteStream(join(logDir, `agent-${n.name}.log`), { flags: 'a' }));
        let agent: Agent | undefined;
        agents.set(n.name, {
          metrics: async () => (agent ? agent.metrics.registry.metrics() : ''),
          start: async () => {
            const makeInstance = opts.makeInstance;
            agent = new Agent({ nodeName: n.name, kubeConfig: identity.kubeConfig(), log: agentLog, bird, kernel: { netns: n.ns }, ...(makeInstance ? { makeInstance: (address: string) => makeInstance(n.name, address) } : {}) });
            await agent.start();
          },
          stop: async () => {
            await agent?.stop();
            agent = undefined;
          },
        });
      }
      await agents.get(n.name)!.start();
      stops.push(() => agents.get(n.name)!.stop());
    }

    const haproxies = topo.lbs.map((l) => new HaproxyInstance(l.haproxy.runtimeAddress));
    const haproxy = haproxies[0]!;
    stops.push(async () => {
      for (const h of haproxies) await h.close();
    });

    const podNs = LAB_NAMESPACE;
    const lab: Lab = {
      sb,
      api,
      client,
      networkTeam,
      topo,
      kubelet,
      logDir,
      kubeconfigPath,
      agents,
      agentIdentities,
      haproxy,
      haproxies,
      createPod: (node, name, o = {}) => client.create<Pod>(`/api/v1/namespaces/${podNs}/pods`, labPod(name, node, o)),
      deletePod: async (name) => {
        await client.request('DELETE', `/api/v1/namespaces/${podNs}/pods/${name}`);
      },
      getPod: async (name) => {
        try {
          return await client.get<Pod>(`/api/v1/namespaces/${podNs}/pods/${name}`);
        } catch {
          return undefined;
        }
      },
      members: async () => (await haproxy.listMembers([LAB_BACKEND], 'podlb_')).members,
      podLBNode: async (node) => {
        try {
          return await client.get<PodLBNode>(`/apis/${API_VERSION}/podlbnodes/${node}`);
        } catch {
          return undefined;
        }
      },
      stop: stopAll,
    };
    return lab;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** A client that authenticates as LAB_NETWORK_TEAM with a token of its own. */
export function networkTeamClient(api: ApiServer): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfigForToken(api.addToken(LAB_NETWORK_TEAM), 'network-team'));
  return new KubeClient(kc);
}

/**
 * Creates a lab object the way a cluster's teams would: the cluster admin creates everything,
 * pools without their approval (the platform team requests a pool), and the network team then
 * approves it with a patch, the only write its shipped role (podlb-pool-approver) grants.
 */
export async function applyLabObject(admin: KubeClient, networkTeam: KubeClient, obj: LabObject): Promise<void> {
  const path = collectionPath(obj);
  if (!isNetworkTeamObject(obj)) {
    await admin.create(path, obj);
    return;
  }
  const { approval, ...spec } = (obj as unknown as PodAddressPool).spec;
  await admin.create(path, { ...obj, spec });
  if (approval) await networkTeam.patch(`${path}/${obj.metadata.name}`, { spec: { approval } }, 'merge');
}

function collectionPath(obj: { apiVersion?: string; kind?: string; metadata: { namespace?: string } }): string {
  const plural: Record<string, string> = {
    Namespace: 'namespaces',
    Node: 'nodes',
    Service: 'services',
    Secret: 'secrets',
    PodAddressPool: 'podaddresspools',
    BGPPeer: 'bgppeers',
    LoadBalancerClass: 'loadbalancerclasses',
  };
  const p = plural[obj.kind ?? ''];
  if (!p) throw new Error(`lab object of kind ${obj.kind} has no collection path`);
  const base = obj.apiVersion === 'v1' ? '/api/v1' : `/apis/${obj.apiVersion}`;
  return obj.metadata.namespace ? `${base}/namespaces/${obj.metadata.namespace}/${p}` : `${base}/${p}`;
}

export function gateStatus(pod: Pod | undefined): { status?: string; reason?: string } {
  const c = pod?.status?.conditions?.find((x) => x.type === READINESS_GATE);
  return { ...(c?.status ? { status: c.status } : {}), ...(c?.reason ? { reason: c.reason } : {}) };
}

// ---------------------------------------------------------------- the guided tour

interface Step {
  name: string;
  ok: boolean;
  detail: string;
}

const out = (s = ''): void => {
  process.stdout.write(`${s}\n`);
};

async function step<T>(steps: Step[], name: string, fn: () => Promise<{ ok: boolean; detail: string; value?: T }>): Promise<T | undefined> {
  const t0 = performance.now();
  let r: { ok: boolean; detail: string; value?: T };
  try {
    r = await fn();
  } catch (err) {
    r = { ok: false, detail: errorMessage(err) };
  }
  const ms = Math.round(performance.now() - t0);
  steps.push({ name, ok: r.ok, detail: r.detail });
  out(`${r.ok ? '✔' : '✘'} ${name} (${ms} ms)`);
  for (const line of r.detail.split('\n')) if (line) out(`    ${line}`);
  return r.value;
}

export function preflight(): string[] {
  return missingReal(['root', 'bird', 'haproxy', 'frr']);
}

export async function runLab(opts: { once: boolean; images?: boolean }): Promise<number> {
  const missing = preflight();
  if (missing.length > 0) {
    process.stderr.write(`podlb lab needs:\n${missing.map((m) => `  - ${m}`).join('\n')}\n`);
    return 2;
  }
  const steps: Step[] = [];
  out('podlb lab: ToR (FRR) + 2 nodes (BIRD + podlb agent) + an L7LB of 2 HAProxy instances, all in network namespaces\n');
  if (opts.images) {
    try {
      builtImages();
    } catch (err) {
      process.stderr.write(`podlb lab --images: ${errorMessage(err)}\n`);
      return 2;
    }
  }
  const lab = await startLab({ agentMode: opts.images ? 'image' : existsSync(cliPath()) ? 'process' : 'inProcess', healthCheck: { interval: '500ms', rise: 2, fall: 2 }, drainSeconds: 3 });
  out(`logs: ${lab.logDir}   kubeconfig: ${lab.kubeconfigPath}\n`);
  let interrupted = false;
  const onSig = (): void => {
    interrupted = true;
  };
  process.once('SIGINT', onSig);
  try {
    const pods = ['web-1', 'web-2', 'web-3', 'web-4'];
    await step(steps, 'Deploy demo Service demo/web with 4 Pods (2 per node, readiness gate podlb.io/load-balancer-ready)', async () => {
      for (const [i, name] of pods.entries()) await lab.createPod(i % 2 === 0 ? 'node1' : 'node2', name, { preStopSeconds: 2 });
      return { ok: true, detail: `Service ${LAB_NAMESPACE}/${LAB_SERVICE} annotated podlb.io/load-balancer=lab-haproxy, backend ${LAB_BACKEND}` };
    });

    await step(steps, 'BGP sessions Established (from each node’s PodLBNode status)', async () => {
      const rows = await waitFor('sessions Established', async () => {
        const rs = await Promise.all(lab.topo.nodes.map((n) => lab.podLBNode(n.name)));
        const ok = rs.every((r) => (r?.status?.bgp?.sessions ?? []).length > 0 && r!.status!.bgp!.sessions!.every((s) => s.state === 'Established'));
        return ok ? rs : undefined;
      }, 30_000, 250);
      return { ok: true, detail: rows.map((r) => (r!.status!.bgp!.sessions ?? []).map((s) => `${r!.metadata.name}: ${s.peer} ${s.peerAddress} ${s.state} since ${s.since ?? '?'}, advertising ${(r!.status!.bgp!.advertisedPrefixes ?? []).join(', ')}`).join('\n')).join('\n') };
    });

    await step(steps, 'Routes learned by the ToR (kernel table of the tor namespace)', async () => {
      const routes = await waitFor('pod CIDRs at the ToR', async () => {
        const rs = await lab.topo.tor.kernelRoutes();
        return lab.topo.nodes.every((n) => rs.some((r) => r.dst === n.podCidr)) ? rs : undefined;
      }, 20_000, 100);
      return { ok: true, detail: routes.filter((r) => r.dst.startsWith('10.244.')).map((r) => `${r.dst} via ${r.gateway ?? '?'} proto ${r.protocol ?? '?'}`).join('\n') };
    });

    await step(steps, 'Gates True: every Pod is a healthy HAProxy member', async () => {
      await waitFor('gates True', async () => {
        const ps = await Promise.all(pods.map((p) => lab.getPod(p)));
        return ps.every((p) => gateStatus(p).status === 'True') ? true : undefined;
      }, 30_000, 100);
      const perLb = await Promise.all(lab.haproxies.map(async (h) => ({ id: h.id, members: (await h.listMembers([LAB_BACKEND], 'podlb_')).members })));
      const ps = await Promise.all(pods.map((p) => lab.getPod(p)));
      return {
        ok: perLb.every((l) => l.members.filter((m) => m.health === 'healthy').length === pods.length),
        detail: [
          ...perLb.flatMap((l, i) => [`HAProxy instance ${i + 1} (${l.id}):`, ...l.members.map((m) => `  member ${m.name} ${m.address}:${m.port} admin=${m.admin} health=${m.health} check=${m.detail}`)]),
          ...ps.map((p) => `pod ${p!.metadata.name} ${p!.status?.podIP} gate ${gateStatus(p).status}/${gateStatus(p).reason} Ready=${p!.status?.conditions?.find((c) => c.type === 'Ready')?.status}`),
        ].join('\n'),
      };
    });

    await step(steps, 'Requests through HAProxy reach the Pods directly (source = LB address, no NAT)', async () => {
      const r = await runLoad({ socketPath: lab.topo.lb.httpSocket, concurrency: 4, maxRequests: 200, durationMs: 10_000 });
      const direct = await probeSource(lab);
      const ok = r.failed === 0 && Object.keys(r.byPod).length === pods.length && direct === lab.topo.lb.address;
      return { ok, detail: `${r.ok}/${r.sent} ok, spread ${JSON.stringify(r.byPod)}, Pod saw source ${direct} (LB is ${lab.topo.lb.address}); p50 ${r.latencyMs.p50.toFixed(1)} ms p99 ${r.latencyMs.p99.toFixed(1)} ms` };
    });

    await step(steps, 'Replace web-1 under constant load (new Pod gated until healthy; old Pod drained, then removed)', async () => {
      const ctl = new AbortController();
      const load = runLoad({ socketPath: lab.topo.lb.httpSocket, concurrency: 4, durationMs: 60_000, stopSignal: ctl.signal });
      await new Promise((r) => setTimeout(r, 500));
      const t0 = Date.now();
      await lab.createPod('node1', 'web-5', { preStopSeconds: 2 });
      await waitFor('web-5 gate True', async () => (gateStatus(await lab.getPod('web-5')).status === 'True' ? true : undefined), 30_000, 50);
      const tGate = Date.now() - t0;
      await lab.deletePod('web-1');
      const drained = await waitFor('web-1 draining', async () => ((await lab.members()).some((m) => m.address === podIpOf(lab, 'web-1') && m.admin === 'drain') ? Date.now() - t0 : undefined), 10_000, 20).catch(() => undefined);
      await waitFor('web-1 removed', async () => ((await lab.getPod('web-1')) === undefined && !(await lab.members()).some((m) => m.name.includes(`_${podIpOf(lab, 'web-1')}_`)) ? true : undefined), 30_000, 100);
      const tGone = Date.now() - t0;
      await new Promise((r) => setTimeout(r, 500));
      ctl.abort();
      const r: LoadResult = await load;
      return {
        ok: r.failed === 0,
        detail: `web-5 gate True after ${tGate} ms; web-1 draining ${drained !== undefined ? `at ${drained} ms` : '(not observed)'}; removed at ${tGone} ms\nload: ${r.sent} requests, ${r.failed} failed${r.errors.length ? ` (${r.errors.join(', ')})` : ''}, p50 ${r.latencyMs.p50.toFixed(1)} ms p99 ${r.latencyMs.p99.toFixed(1)} ms`,
      };
    });

    await step(steps, 'Every agent ran as podlb-system/podlb-agent (Pod-bound token) and the shipped RBAC granted each call', async () => {
      const denied = lab.api.deniedRequests();
      return { ok: denied.length === 0, detail: denied.length === 0 ? 'no request refused (403)' : denied.map((d) => `${d.method} ${d.path}: ${d.message}`).slice(0, 10).join('\n') };
    });

    if (!opts.once && !interrupted) {
      out(`\nThe lab keeps running. KUBECONFIG=${lab.kubeconfigPath}; HAProxy frontend: ${lab.topo.lb.httpSocket}. Ctrl-C tears it down.`);
      await new Promise<void>((resolve) => {
        process.removeListener('SIGINT', onSig);
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
    }
  } finally {
    process.removeListener('SIGINT', onSig);
    out('\ntearing down…');
    await lab.stop();
  }
  const failed = steps.filter((s) => !s.ok);
  out(failed.length === 0 ? `\nall ${steps.length} steps passed` : `\n${failed.length} of ${steps.length} steps failed: ${failed.map((s) => s.name).join('; ')}`);
  return failed.length === 0 ? 0 : 1;
}

const podIps = new Map<string, string>();
function podIpOf(lab: Lab, name: string): string {
  const p = lab.topo.pods().find((x) => x.name === name);
  if (p) podIps.set(name, p.ip);
  return podIps.get(name) ?? '';
}

/** One request through the LB, reading the source address the Pod saw. */
async function probeSource(lab: Lab): Promise<string | undefined> {
  const { request } = await import('node:http');
  return new Promise((resolve) => {
    const req = request({ socketPath: lab.topo.lb.httpSocket, path: '/', headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        try {
          resolve((JSON.parse(body) as { remoteAddress?: string }).remoteAddress?.replace(/^::ffff:/, ''));
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on('error', () => resolve(undefined));
    req.end();
  });
}
