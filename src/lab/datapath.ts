// The lab with both data paths to the same Pods, side by side in one HAProxy:
//
//   podlb:    LB --(routes learned by BGP)--> Pod IP           backend LAB_BACKEND, members
//                                                              registered by the agents
//   NodePort: LB --> node:nodePort --DNAT (+SNAT)--> Pod IP    backend NODEPORT_BACKEND, one
//             on this node or, over the ToR, another           server per node
//
// The lab's Service becomes `type: NodePort` (externalTrafficPolicy Cluster), and the lab's
// kube-proxy stand-in (kube-proxy.ts) programs every node from the Service and its
// EndpointSlices. The NodePort servers are added with the same runtime-API call and the same
// health check as podlb's members, so the two backends differ only in where they send.
import { LABEL_SERVICE_NAME, type EndpointSlice, type Service } from '../api/types.js';
import { parseDurationMs } from '../members/binding.js';
import { labKubeProxy, type LabKubeProxy, type NodePortRule } from './kube-proxy.js';
import { startLab, type Lab } from './lab.js';
import { waitFor } from './netns.js';
import { LAB_BACKEND, LAB_NAMESPACE, LAB_SERVICE } from './objects.js';
import { podReady } from './pod-status.js';

export const NODEPORT_BACKEND = `${LAB_NAMESPACE}.${LAB_SERVICE}.nodeport`;
/** Chosen, not allocated: a Service may name its nodePort (30000-32767). */
export const LAB_NODE_PORT = 30080;
/** Servers of the NodePort backend: `np_<node>`, never podlb's `podlb_` prefix. */
export const NODEPORT_SERVER_PREFIX = 'np_';

export interface DataPathPod {
  name: string;
  node: string;
  ip: string;
}

export interface DataPathLab {
  lab: Lab;
  pods: DataPathPod[];
  nodePort: number;
  kubeProxy: LabKubeProxy;
  /** What the kube-proxy stand-in applied at start. */
  rules: NodePortRule[];
  /** HAProxy unix-socket frontends: to the podlb backend, to the NodePort backend. */
  sockets: { direct: string; nodePort: string };
  stop(): Promise<void>;
}

export interface DataPathLabOptions {
  /** Pods per lab node (index i of the node list); default 2 on each. */
  podsPerNode?: number[];
  healthCheck?: { interval: string; rise: number; fall: number };
}

const servicePath = `/api/v1/namespaces/${LAB_NAMESPACE}/services/${LAB_SERVICE}`;

export async function startDataPathLab(opts: DataPathLabOptions = {}): Promise<DataPathLab> {
  const healthCheck = opts.healthCheck ?? { interval: '1s', rise: 2, fall: 3 };
  const lab = await startLab({
    agentMode: 'inProcess',
    lbInstances: 1,
    healthCheck,
    extraBackends: [{ name: NODEPORT_BACKEND, balance: 'roundrobin', httpCheckPath: '/healthz' }],
  });
  try {
    const svc = await lab.client.get<Service>(servicePath);
    await lab.client.patch(
      servicePath,
      { spec: { type: 'NodePort', externalTrafficPolicy: 'Cluster', ports: (svc.spec.ports ?? []).map((p) => ({ ...p, nodePort: LAB_NODE_PORT })) } },
      'merge',
    );

    const counts = opts.podsPerNode ?? lab.topo.nodes.map(() => 2);
    const names: { name: string; node: string }[] = [];
    lab.topo.nodes.forEach((n, i) => {
      for (let k = 0; k < (counts[i] ?? 0); k++) names.push({ name: `dp-${n.name}-${k}`, node: n.name });
    });
    for (const p of names) await lab.createPod(p.node, p.name, { gate: true });
    // Ready = gate True = healthy in the LB: the podlb path is complete.
    const pods = await waitFor(
      `${names.length} Pods Ready`,
      async () => {
        const out: DataPathPod[] = [];
        for (const p of names) {
          const pod = await lab.getPod(p.name);
          if (!pod || !podReady(pod) || !pod.status?.podIP) return undefined;
          out.push({ ...p, ip: pod.status.podIP });
        }
        return out;
      },
      60_000,
      50,
    );

    const kubeProxy = labKubeProxy(
      lab.sb,
      lab.topo.nodes.map((n) => n.ns),
      {
        service: () => lab.client.get<Service>(servicePath),
        endpointSlices: async () =>
          (
            await lab.client.list<EndpointSlice>(`/apis/discovery.k8s.io/v1/namespaces/${LAB_NAMESPACE}/endpointslices`, {
              labelSelector: `${LABEL_SERVICE_NAME}=${LAB_SERVICE}`,
            })
          ).items,
      },
    );
    // The EndpointSlice follows Ready by some milliseconds: sync until every Pod is in.
    const rules = await waitFor(
      'every Pod in the NodePort rules',
      async () => {
        const r = await kubeProxy.sync();
        const ips = new Set(r.flatMap((x) => x.endpoints.map((e) => e.ip)));
        return r.length === 1 && pods.every((p) => ips.has(p.ip)) && ips.size === pods.length ? r : undefined;
      },
      10_000,
      100,
    );

    const hc = { intervalMs: parseDurationMs(healthCheck.interval) ?? 1000, rise: healthCheck.rise, fall: healthCheck.fall, httpPath: '/healthz' };
    for (const n of lab.topo.nodes) {
      await lab.haproxy.addMember({
        backend: NODEPORT_BACKEND,
        name: `${NODEPORT_SERVER_PREFIX}${n.name}`,
        address: n.address,
        port: LAB_NODE_PORT,
        healthCheck: hc,
      });
    }
    await waitFor(
      'NodePort servers healthy',
      async () => {
        const { members } = await lab.haproxy.listMembers([NODEPORT_BACKEND, LAB_BACKEND], '');
        const np = members.filter((m) => m.backend === NODEPORT_BACKEND && m.health === 'healthy' && m.admin === 'ready');
        const direct = members.filter((m) => m.backend === LAB_BACKEND && m.health === 'healthy' && m.admin === 'ready');
        return np.length === lab.topo.nodes.length && direct.length === pods.length ? true : undefined;
      },
      30_000,
      100,
    );

    let stopped: Promise<void> | undefined;
    const sockets = { direct: lab.topo.lb.httpSockets[LAB_BACKEND], nodePort: lab.topo.lb.httpSockets[NODEPORT_BACKEND] };
    if (!sockets.direct || !sockets.nodePort) throw new Error('the lab HAProxy has no frontend for one of the two backends');
    return {
      lab,
      pods,
      nodePort: LAB_NODE_PORT,
      kubeProxy,
      rules,
      sockets: { direct: sockets.direct, nodePort: sockets.nodePort },
      stop: () => {
        stopped ??= (async () => {
          await kubeProxy.remove();
          await lab.stop();
        })();
        return stopped;
      },
    };
  } catch (err) {
    await lab.stop();
    throw err;
  }
}
