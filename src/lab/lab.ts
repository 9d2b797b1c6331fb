// `podlb lab`: design §8's embedded lab. Real BIRD, FRR and HAProxy in network namespaces,
// real Pod processes, the in-process API server, the lab's kubelet and EndpointSlice
// controller, and one podlb agent per node. startLab() is shared by the CLI, the end-to-end
// test and the benchmarks; runLab() (src/lab/tour.ts) is the guided tour the CLI prints.
import { mkdirSync, createWriteStream } from 'node:fs';
import { join, dirname } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { startApiServer, type ApiServer, type PodIdentity } from '../apiserver/index.js';
import { API_VERSION, READINESS_GATE, type Pod, type PodAddressPool, type PodLBNode } from '../api/types.js';
import { KubeClient } from '../kube/client.js';
import { approvalFor } from '../bgp/approval.js';
import { HaproxyInstance } from '../lb/haproxy-instance.js';
import type { LbInstance, ObservedMember } from '../lb/provider.js';
import { startEndpointSliceController } from './endpointslice-controller.js';
import { LabKubelet, type LabKubeletOptions } from './kubelet.js';
import { NetnsSandbox } from './netns.js';
import { buildTopology, type Topology } from './topology.js';
import type { HaproxyBackendSpec } from './haproxy-process.js';
import {
  isNetworkTeamObject,
  labObjects,
  LAB_BACKEND,
  LAB_NAMESPACE,
  LAB_NETWORK_TEAM,
  labPod,
  type LabNodeSpec,
  type LabObject,
  type LabPodOptions,
} from './objects.js';
import { builtImages, mountImage, type ImageRoot } from './image-root.js';
import { labAgent, type AgentMode, type LabAgent, type LabAgentSetup } from './lab-agents.js';

export type { LabAgent } from './lab-agents.js';

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
   * objects (tests); 'image': the DaemonSet's agent and bird containers from the images
   * `./dev images` built, each node's BIRD included (src/lab/lab-agents.ts).
   */
  agentMode?: AgentMode;
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
  /**
   * Backends every HAProxy instance has besides the lab's Service backend (LAB_BACKEND), each
   * with a unix-socket frontend of its own (Topology's lb.httpSockets); podlb registers nothing
   * in them.
   */
  extraBackends?: HaproxyBackendSpec[];
  /** In-process agents only: how an agent reaches an LB instance (benches count round trips). */
  makeInstance?: (node: string, address: string) => LbInstance;
  /** In-process agents only: options a cluster would pass by flag (see LabAgentSetup.agentOptions). */
  agentOptions?: LabAgentSetup['agentOptions'];
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

    // Image mode: the sandbox's cleanup unmounts them, whatever happens.
    let images: { agent: ImageRoot; bird: ImageRoot } | undefined;
    if (opts.agentMode === 'image') {
      const refs = builtImages();
      images = { agent: mountImage(sb, refs.agent, 'agent'), bird: mountImage(sb, refs.bird, 'bird') };
    }
    const topo = await buildTopology(sb, {
      nodes: nodes.map((n) => ({ name: n.name, podCidr: n.podCidr, ...(n.podCidr6 ? { podCidr6: n.podCidr6 } : {}) })),
      backends: [{ name: LAB_BACKEND, balance: 'roundrobin', httpCheckPath: '/healthz' }, ...(opts.extraBackends ?? [])],
      lbInstances: opts.lbInstances ?? 2,
      ...(images ? { birdImage: images.bird } : {}),
    });
    for (const obj of labObjects({
      nodes: topo.nodes.map((n, i) => ({
        ...nodes[i]!,
        address: n.address,
        torAddress: n.torAddress,
        ...(n.torAddress6 ? { torAddress6: n.torAddress6 } : {}),
      })),
      haproxyRuntimes: topo.lbs.map((l) => l.haproxy.runtimeAddress),
      ...(opts.healthCheck ? { healthCheck: opts.healthCheck } : {}),
      ...(opts.drainSeconds !== undefined ? { drainSeconds: opts.drainSeconds } : {}),
    })) {
      await applyLabObject(client, networkTeam, obj);
      // Nodes keep their status on create in the real API, but the lab does not rely on it.
      if (obj.kind === 'Node') await client.patch(`${collectionPath(obj)}/${obj.metadata.name}/status`, { status: obj.status }, 'merge');
    }

    const slices = startEndpointSliceController(api.store, {
      batchPeriodMs: opts.endpointSliceBatchMs ?? 0,
      ...(opts.endpointSliceLagMs ? { lagMs: opts.endpointSliceLagMs } : {}),
    });
    stops.push(async () => slices.stop());
    const kubelet = new LabKubelet(client, topo, log.child({ component: 'kubelet' }), {
      ...opts.kubelet,
      exec: (ns, cmd, args, o) => sb.exec(ns, cmd, args, o),
    });
    await kubelet.start();
    stops.push(() => kubelet.stop());

    const agents = new Map<string, LabAgent>();
    const agentIdentities = new Map<string, PodIdentity>();
    const haproxyDirs = topo.lbs.map((l) => dirname(l.haproxy.runtimeAddress.replace(/^unix:\/\//, '')));
    for (const n of topo.nodes) {
      const identity = api.podIdentity({ serviceAccount: AGENT_SERVICE_ACCOUNT, nodeName: n.name, hostNetwork: true });
      agentIdentities.set(n.name, identity);
      const agent = await labAgent(opts.agentMode ?? 'inProcess', {
        sb,
        node: n,
        identity,
        logDir,
        haproxyDirs,
        ...(images ? { image: images.agent } : {}),
        ...(opts.makeInstance ? { makeInstance: opts.makeInstance } : {}),
        ...(opts.agentOptions ? { agentOptions: opts.agentOptions } : {}),
      });
      agents.set(n.name, agent);
      await agent.start();
      stops.push(() => agent.stop());
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
 * decides on it with a patch, the only write its shipped role (podlb-pool-approver) grants. An
 * approval is made as `kubectl podlb approve` makes it: for the pool as the team reads it back
 * (with its digests), conditional on that resourceVersion.
 */
export async function applyLabObject(admin: KubeClient, networkTeam: KubeClient, obj: LabObject): Promise<void> {
  const path = collectionPath(obj);
  if (!isNetworkTeamObject(obj)) {
    await admin.create(path, obj);
    return;
  }
  const { approval, ...spec } = (obj as unknown as PodAddressPool).spec;
  await admin.create(path, { ...obj, spec });
  if (!approval) return;
  if (approval.state !== 'Approved') {
    await networkTeam.patch(`${path}/${obj.metadata.name}`, { spec: { approval } }, 'merge');
    return;
  }
  const read = await networkTeam.get<PodAddressPool>(`${path}/${obj.metadata.name}`);
  const decision = {
    by: approval.by ?? LAB_NETWORK_TEAM.username,
    reason: approval.reason ?? 'lab',
    time: approval.time ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  await networkTeam.patch(
    `${path}/${obj.metadata.name}`,
    { metadata: { resourceVersion: read.metadata.resourceVersion }, spec: { approval: approvalFor(read.spec, decision) } },
    'merge',
  );
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
