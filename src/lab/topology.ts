// The lab's network (design §8), built from network namespaces and veth pairs:
//
//                        lb (HAProxy) 172.31.100.2
//                          | 172.31.100.0/24
//            +-------------+ tor (FRR, AS 65000), .1 on every link
//            |             |
//   172.31.1.0/24     172.31.2.0/24      one point-to-point "rack" link per node
//        node1 .2         node2 .2       (BIRD, AS 64512; ip_forward, default via the ToR)
//        |   |            |
//      pods in 10.244.1.0/24 ...         (pod-server.ts: /32 per pod, proxy ARP on the node)
//
// The lb namespace has only its connected /24 and a default route via the ToR; the ToR has only
// its connected links plus what FRR learns by BGP. So HAProxy reaches a Pod exactly when that
// Pod's node advertised its Pod CIDR — the property the whole lab exists to show.
//
// rp_filter is switched off (all/default and on each interface) in every namespace: the value
// the kernel applies is max(all, interface), and a new namespace's defaults are copied from the
// host's, which on many distributions is strict (1) or loose (2). Strict mode would drop return
// traffic whenever the lab's paths become asymmetric (e.g. a pod CIDR withdrawn while its
// connections are still open, or two nodes advertising overlapping prefixes).
import { startBird, type BirdProcess } from './bird-process.js';
import { birdInitialConfig } from '../bgp/render.js';
import { startFrr, type FrrRouter } from './frr.js';
import { startHaproxy, type HaproxyBackendSpec, type HaproxyProcess } from './haproxy-process.js';
import type { NetnsSandbox } from './netns.js';
import type { ImageRoot } from './image-root.js';
import { startPod, type LabPod } from './pod-server.js';

export interface TopologySpec {
  /** podCidr6: the node is dual-stack (IPv6 on its rack link and an IPv6 session to the ToR). */
  nodes: { name: string; podCidr: string; podCidr6?: string }[];
  backends: HaproxyBackendSpec[];
  torAsn?: number;
  nodeAsn?: number;
  /** HAProxy instances of the L7LB fleet (default 1), each in its own namespace behind the ToR. */
  lbInstances?: number;
  /**
   * Each node's BIRD from this mounted bird image, as the DaemonSet's Pod runs it (init
   * container, then the `bird` container); the host's BIRD when absent.
   */
  birdImage?: ImageRoot;
}

export interface LabLb {
  ns: string;
  address: string;
  haproxy: HaproxyProcess;
  /** HAProxy's unix-socket frontend, for HTTP from the root namespace. */
  httpSocket: string;
  /** One unix-socket frontend per backend of the spec (the first is httpSocket), by backend name. */
  httpSockets: Record<string, string>;
}

export interface TopologyNode {
  name: string;
  ns: string;
  /** The node's address on its rack link (172.31.i.2): BIRD's router id and BGP source. */
  address: string;
  /** The ToR's address on that link (172.31.i.1): the node's BGP peer and default gateway. */
  torAddress: string;
  podCidr: string;
  /** Dual-stack nodes only: IPv6 Pod CIDR, the node's and the ToR's IPv6 rack-link addresses. */
  podCidr6?: string;
  address6?: string;
  torAddress6?: string;
  bird: BirdProcess;
}

export interface Topology {
  tor: FrrRouter;
  torAsn: number;
  nodeAsn: number;
  nodes: TopologyNode[];
  /**
   * httpSocket: HAProxy's unix-socket frontend, for HTTP from the root namespace. It and the
   * `LB_ADDRESS:80` frontend both lead to the first backend of the spec (none without backends).
   */
  lb: LabLb;
  /** Every instance of the fleet; lbs[0] is lb. */
  lbs: LabLb[];
  /** Starts a pod on `node` with the next free IP of the node's Pod CIDR. */
  /** `onNetworkReady` runs once the Pod's address is up and before its server starts (the kubelet's sandbox step). */
  addPod(node: string, name: string, port: number, opts?: { onNetworkReady?: (ip: string) => void }): Promise<LabPod>;
  removePod(name: string, opts?: { graceful?: boolean; graceMs?: number }): Promise<void>;
  pods(): LabPod[];
}

export const DEFAULT_TOR_ASN = 65000;
export const DEFAULT_NODE_ASN = 64512;
/** Rack links are 172.31.<i>.0/24 for node i = 1..MAX_NODES; 172.31.100.0/24 is the LB's link. */
export const MAX_NODES = 99;
export const LB_ADDRESS = '172.31.100.2';
export const LB_TOR_ADDRESS = '172.31.100.1';
const HTTP_FRONTEND_PORT = 80;

/** IPv6 rack link of dual-stack node i: fd00:31:i::/64, ToR ::1, node ::2. */
export function rackAddresses6(index: number): { torAddress6: string; address6: string } {
  return { torAddress6: `fd00:31:${index.toString(16)}::1`, address6: `fd00:31:${index.toString(16)}::2` };
}

export function rackAddresses(index: number): { torAddress: string; address: string } {
  if (!Number.isInteger(index) || index < 1 || index > MAX_NODES) throw new Error(`node index ${index} outside 1..${MAX_NODES}`);
  return { torAddress: `172.31.${index}.1`, address: `172.31.${index}.2` };
}

function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/**
 * Pod IPs of one node's CIDR. Never hands out the network address, the first host (.1: kept
 * for a gateway, as real CNIs do) or the broadcast address. Fresh addresses go first; released
 * ones are reused, oldest release first, only once no fresh one is left, so a removed pod's IP
 * does not come straight back (stale LB members or conntrack entries would hit the new pod).
 */
export class PodIpAllocator {
  readonly #base: number;
  readonly #first: number;
  readonly #last: number;
  #next: number;
  readonly #released: number[] = [];
  readonly #used = new Set<number>();

  constructor(readonly cidr: string) {
    const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr);
    const len = m ? Number(m[2]) : NaN;
    if (!m || !(len >= 0 && len <= 30)) throw new Error(`pod CIDR must be an IPv4 prefix of length 0..30: ${cidr}`);
    const size = 2 ** (32 - len);
    this.#base = ipToInt(m[1]!) - (ipToInt(m[1]!) % size);
    this.#first = 2;
    this.#last = size - 2;
    this.#next = this.#first;
  }

  allocate(): string {
    let offset: number | undefined;
    if (this.#next <= this.#last) offset = this.#next++;
    else offset = this.#released.shift();
    if (offset === undefined) throw new Error(`pod CIDR ${this.cidr} is full`);
    this.#used.add(offset);
    return intToIp(this.#base + offset);
  }

  release(ip: string): void {
    const offset = ipToInt(ip) - this.#base;
    if (!this.#used.delete(offset)) return;
    this.#released.push(offset);
  }
}

export async function buildTopology(sb: NetnsSandbox, spec: TopologySpec): Promise<Topology> {
  if (spec.nodes.length === 0 || spec.nodes.length > MAX_NODES) throw new Error(`the lab needs 1..${MAX_NODES} nodes, got ${spec.nodes.length}`);
  const names = new Set(spec.nodes.map((n) => n.name));
  if (names.size !== spec.nodes.length) throw new Error('node names must be unique');
  const torAsn = spec.torAsn ?? DEFAULT_TOR_ASN;
  const nodeAsn = spec.nodeAsn ?? DEFAULT_NODE_ASN;
  const allocators = new Map(spec.nodes.map((n) => [n.name, new PodIpAllocator(n.podCidr)]));

  const noRpFilter = async (ns: string): Promise<void> => {
    await sb.sysctl(ns, 'net.ipv4.conf.all.rp_filter', '0');
    await sb.sysctl(ns, 'net.ipv4.conf.default.rp_filter', '0');
  };

  // Namespaces, sysctls (before the veths, so the interfaces inherit `default`), links.
  const torNs = await sb.addNetns('tor');
  const lbCount = spec.lbInstances ?? 1;
  if (lbCount < 1 || lbCount > 9) throw new Error(`the lab supports 1..9 load-balancer instances, got ${lbCount}`);
  // Instance i (0-based) sits on 172.31.(100+i).0/24: the ToR is .1, the LB .2.
  const lbNets = Array.from({ length: lbCount }, (_, i) => ({
    torAddress: `172.31.${100 + i}.1`,
    address: `172.31.${100 + i}.2`,
    torIf: i === 0 ? 'lb' : `lb${i + 1}`,
  }));
  const lbNsList = await Promise.all(lbNets.map((_, i) => sb.addNetns(i === 0 ? 'lb' : `lb${i + 1}`)));
  const nodeNs = await Promise.all(spec.nodes.map((_, i) => sb.addNetns(`node${i + 1}`)));
  await Promise.all([torNs, ...lbNsList, ...nodeNs].map(noRpFilter));
  await Promise.all([torNs, ...nodeNs].map((ns) => sb.sysctl(ns, 'net.ipv4.ip_forward', '1')));

  for (const [i, net] of lbNets.entries()) {
    await sb.veth({ ns: torNs, ifname: net.torIf, addrs: [`${net.torAddress}/24`] }, { ns: lbNsList[i]!, ifname: 'eth0', addrs: [`${net.address}/24`] });
    await sb.exec(lbNsList[i]!, 'ip', ['route', 'add', 'default', 'via', net.torAddress]);
  }
  const links = spec.nodes.map((n, i) => ({
    ...n,
    ns: nodeNs[i]!,
    ...rackAddresses(i + 1),
    ...(n.podCidr6 ? rackAddresses6(i + 1) : {}),
    torIf: `node${i + 1}`,
  }));
  // IPv6: FRR needs a usable link-local next hop at once; a tentative (DAD) address makes it
  // send BIRD an FSM error, after which BIRD waits its 60 s error time.
  if (links.some((l) => l.podCidr6)) {
    for (const ns of [torNs, ...links.filter((l) => l.podCidr6).map((l) => l.ns)]) {
      for (const k of ['all', 'default']) await sb.sysctl(ns, `net.ipv6.conf.${k}.accept_dad`, '0');
      await sb.sysctl(ns, 'net.ipv6.conf.all.forwarding', '1');
    }
  }
  await Promise.all(
    links.map(async (l) => {
      const v6 = l.address6 && l.torAddress6;
      await sb.veth(
        { ns: torNs, ifname: l.torIf, addrs: [`${l.torAddress}/24`, ...(v6 ? [`${l.torAddress6}/64`] : [])] },
        { ns: l.ns, ifname: 'eth0', addrs: [`${l.address}/24`, ...(v6 ? [`${l.address6}/64`] : [])] },
      );
      await sb.exec(l.ns, 'ip', ['route', 'add', 'default', 'via', l.torAddress]);
      if (v6) await sb.exec(l.ns, 'ip', ['-6', 'route', 'add', 'default', 'via', l.torAddress6!]);
    }),
  );

  // Daemons, all at once: FRR on the ToR, one BIRD per node, HAProxy on the LB.
  const backends = spec.backends.map((b) => ({ ...b, balance: b.balance ?? 'roundrobin', httpCheckPath: b.httpCheckPath ?? '/healthz' }));
  const defaultBackend = backends[0]?.name;
  const startLb = async (i: number): Promise<LabLb> => {
    const dir = sb.tempDir(i === 0 ? 'haproxy' : `haproxy${i + 1}`);
    const httpSocket = `${dir}/http.sock`;
    const net = lbNets[i]!;
    // Every further backend gets a unix-socket frontend of its own, so the same load can be sent
    // through two backends of one HAProxy (e.g. Pod IPs and NodePorts, side by side).
    const extra = backends.slice(1).map((b, k) => ({ name: `http_unix_${k + 1}`, bind: `unix@${dir}/http-${k + 1}.sock`, backend: b.name }));
    const haproxy = await startHaproxy(sb, lbNsList[i]!, {
      dir,
      backends,
      frontends:
        defaultBackend === undefined
          ? []
          : [
              { name: 'http_unix', bind: `unix@${httpSocket}`, backend: defaultBackend },
              { name: 'http', bind: `${net.address}:${HTTP_FRONTEND_PORT}`, backend: defaultBackend },
              ...extra,
            ],
    });
    const httpSockets: Record<string, string> = defaultBackend === undefined ? {} : { [defaultBackend]: httpSocket };
    for (const f of extra) httpSockets[f.backend] = f.bind.slice('unix@'.length);
    return { ns: lbNsList[i]!, address: net.address, haproxy, httpSocket, httpSockets };
  };
  // Daemons, all at once: FRR on the ToR, one BIRD per node, the HAProxy fleet.
  const [tor, birds, lbs] = await Promise.all([
    startFrr(sb, torNs, {
      asn: torAsn,
      routerId: LB_TOR_ADDRESS,
      neighbors: links.flatMap((l) => [{ address: l.address, asn: nodeAsn }, ...(l.address6 ? [{ address: l.address6, asn: nodeAsn }] : [])]),
      gracefulRestartHelper: true,
    }),
    Promise.all(
      links.map((l) =>
        startBird(sb, l.ns, {
          dir: sb.memoryTempDir(`bird-${l.torIf}`),
          // Minimal on purpose: the agent renders the real config (peers, exports) later. From
          // the image, the DaemonSet's init container writes it, as on a node.
          ...(spec.birdImage ? { image: { root: spec.birdImage, nodeName: l.name, hostIP: l.address } } : { initialConfig: birdInitialConfig(l.address) }),
        }),
      ),
    ),
    Promise.all(lbNets.map((_, i) => startLb(i))),
  ]);

  const nodes: TopologyNode[] = links.map((l, i) => ({
    name: l.name,
    ns: l.ns,
    address: l.address,
    torAddress: l.torAddress,
    podCidr: l.podCidr,
    ...(l.podCidr6 && l.address6 && l.torAddress6 ? { podCidr6: l.podCidr6, address6: l.address6, torAddress6: l.torAddress6 } : {}),
    bird: birds[i]!,
  }));
  const pods = new Map<string, LabPod>();

  return {
    tor,
    torAsn,
    nodeAsn,
    nodes,
    lb: lbs[0]!,
    lbs,
    async addPod(nodeName: string, name: string, port: number, opts?: { onNetworkReady?: (ip: string) => void }): Promise<LabPod> {
      const node = nodes.find((n) => n.name === nodeName);
      const allocator = allocators.get(nodeName);
      if (!node || !allocator) throw new Error(`no node ${nodeName} in the lab`);
      if (pods.has(name)) throw new Error(`pod ${name} already exists`);
      const ip = allocator.allocate();
      try {
        const pod = await startPod(sb, {
          name,
          nodeNs: node.ns,
          node: node.name,
          ip,
          port,
          ...(opts?.onNetworkReady ? { onNetworkReady: opts.onNetworkReady } : {}),
        });
        pods.set(name, pod);
        return pod;
      } catch (err) {
        allocator.release(ip);
        throw err;
      }
    },
    async removePod(name: string, opts?: { graceful?: boolean; graceMs?: number }): Promise<void> {
      const pod = pods.get(name);
      if (!pod) throw new Error(`no pod ${name} in the lab`);
      await pod.stop(opts);
      pods.delete(name);
      allocators.get(pod.node)?.release(pod.ip);
    },
    pods: () => [...pods.values()],
  };
}
