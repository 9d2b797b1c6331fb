// A kube-proxy stand-in for the lab's nodes: the NAT part of kube-proxy's nftables mode for
// NodePort Services with `externalTrafficPolicy: Cluster`, the path podlb exists to avoid.
//
// On every node, a packet for <any local address>:<nodePort> is DNATed to one endpoint chosen
// at random among all the Service's ready endpoints, on this node or another (`numgen random`
// over per-endpoint chains, as kube-proxy renders them), and marked for masquerade; at
// postrouting a marked packet is SNATed to the address of the interface it leaves by
// (`masquerade fully-random`). So the Pod sees the node the request entered by as its client,
// and its reply goes back through that node, where conntrack undoes both translations. A Pod
// on another node is reached over the rack links and the ToR, by the routes BGP put there.
//
// What is left out of kube-proxy's ruleset: ClusterIPs, the filter chains (a NodePort with no
// endpoint is not rejected by a rule; nothing listens there, so the node resets the
// connection), `externalTrafficPolicy: Local`, session affinity and IPv6. The table's name
// makes it plainly the lab's; it is only ever written inside a node's namespace.
import { writeFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import { LABEL_SERVICE_NAME, type EndpointSlice, type Service } from '../api/types.js';
import { CommandError, type NetnsSandbox } from './netns.js';

export const KUBE_PROXY_TABLE = 'podlb-lab-kube-proxy';
/** kube-proxy's default masquerade bit (--iptables-masquerade-bit 14). */
export const MASQUERADE_MARK = 0x4000;

export interface NodePortEndpoint {
  ip: string;
  port: number;
  /** The node the endpoint runs on, as the EndpointSlice says. */
  nodeName?: string;
}

export interface NodePortRule {
  /** `<namespace>/<service>/tcp/<port name>`, as kube-proxy names a service port. */
  servicePort: string;
  nodePort: number;
  endpoints: NodePortEndpoint[];
}

function sliceMatches(slice: EndpointSlice, svc: Service): boolean {
  return (
    slice.metadata.namespace === svc.metadata.namespace && slice.metadata.labels?.[LABEL_SERVICE_NAME] === svc.metadata.name && slice.addressType === 'IPv4'
  );
}

/**
 * The NodePorts of one Service and their endpoints, from the Service and its EndpointSlices as
 * kube-proxy reads them: only ready endpoints (kube-proxy falls back to serving-and-terminating
 * ones only when none is ready; the lab never needs that), the slice port named like the
 * Service port, each address once.
 */
export function nodePortRules(svc: Service, slices: readonly EndpointSlice[]): NodePortRule[] {
  const spec = svc.spec as Service['spec'] & { externalTrafficPolicy?: string };
  if (spec.type !== 'NodePort' && spec.type !== 'LoadBalancer') return [];
  const policy = spec.externalTrafficPolicy ?? 'Cluster';
  if (policy !== 'Cluster')
    throw new Error(`service ${svc.metadata.namespace}/${svc.metadata.name}: externalTrafficPolicy ${policy} is not modelled by the lab's kube-proxy`);
  const ours = slices.filter((s) => sliceMatches(s, svc));
  const rules: NodePortRule[] = [];
  for (const p of spec.ports ?? []) {
    const nodePort = (p as { nodePort?: number }).nodePort;
    if (nodePort === undefined || (p.protocol ?? 'TCP') !== 'TCP') continue;
    const portName = p.name ?? '';
    const seen = new Set<string>();
    const endpoints: NodePortEndpoint[] = [];
    for (const slice of ours) {
      const port = slice.ports?.find((sp) => (sp.name ?? '') === portName && (sp.protocol ?? 'TCP') === 'TCP')?.port;
      if (port === undefined) continue;
      for (const ep of slice.endpoints) {
        if (ep.conditions?.ready === false) continue;
        for (const ip of ep.addresses) {
          const key = `${ip}:${port}`;
          if (!isIPv4(ip) || seen.has(key)) continue;
          seen.add(key);
          endpoints.push({ ip, port, ...(ep.nodeName ? { nodeName: ep.nodeName } : {}) });
        }
      }
    }
    endpoints.sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true }) || a.port - b.port);
    rules.push({ servicePort: `${svc.metadata.namespace}/${svc.metadata.name}/tcp/${portName}`, nodePort, endpoints });
  }
  return rules;
}

/** nft chain names: kube-proxy's own allow `/`; this keeps them to what any nft version takes. */
function chainId(servicePort: string): string {
  return servicePort.replace(/[^A-Za-z0-9_-]/g, '_');
}

/**
 * The whole table as one nft script, replaced atomically: `nft -f` applies a file as one
 * transaction, and add-then-delete-then-define makes it work whether the table exists or not.
 */
export function renderKubeProxyRules(rules: readonly NodePortRule[]): string {
  const t = KUBE_PROXY_TABLE;
  const mark = `0x${MASQUERADE_MARK.toString(16)}`;
  const lines = [`add table ip ${t}`, `delete table ip ${t}`, `table ip ${t} {`];
  const chain = (name: string, body: string[]): void => {
    lines.push(`  chain ${name} {`, ...body.map((b) => `    ${b}`), '  }');
  };
  chain('mark-for-masquerade', [`meta mark set meta mark | ${mark}`]);
  chain('masquerading', [
    'type nat hook postrouting priority srcnat; policy accept;',
    `meta mark & ${mark} == 0 return`,
    `meta mark set meta mark ^ ${mark}`,
    'masquerade fully-random',
  ]);
  const dispatch: string[] = [];
  for (const r of rules) {
    if (!Number.isInteger(r.nodePort) || r.nodePort < 1 || r.nodePort > 65535) throw new Error(`${r.servicePort}: bad nodePort ${r.nodePort}`);
    if (r.endpoints.length === 0) continue;
    const id = chainId(r.servicePort);
    const endpointChains = r.endpoints.map((ep, i) => {
      if (!isIPv4(ep.ip) || !Number.isInteger(ep.port) || ep.port < 1 || ep.port > 65535) throw new Error(`${r.servicePort}: bad endpoint ${ep.ip}:${ep.port}`);
      const name = `endpoint-${i}-${id}`;
      // A Pod reaching itself through the NodePort (hairpin) is masqueraded too, or it would
      // answer itself directly and the client would drop the reply.
      chain(name, [`ip saddr ${ep.ip} jump mark-for-masquerade`, `meta l4proto tcp dnat to ${ep.ip}:${ep.port}`]);
      return name;
    });
    chain(`service-${id}`, [`numgen random mod ${endpointChains.length} vmap { ${endpointChains.map((c, i) => `${i} : goto ${c}`).join(', ')} }`]);
    // Cluster policy: every packet from outside is masqueraded, whichever endpoint it gets.
    chain(`external-${id}`, ['jump mark-for-masquerade', `goto service-${id}`]);
    dispatch.push(`tcp dport ${r.nodePort} goto external-${id}`);
  }
  chain('nodeports', dispatch);
  chain('nat-prerouting', ['type nat hook prerouting priority dstnat; policy accept;', 'fib daddr type local ip daddr != 127.0.0.0/8 jump nodeports']);
  lines.push('}', '');
  return lines.join('\n');
}

export interface LabKubeProxy {
  /** Reads the Service and its EndpointSlices and (re)writes every node's table; returns what it applied. */
  sync(): Promise<NodePortRule[]>;
  /** `nft list table` in a node's namespace; undefined once the table is gone. */
  ruleset(nodeNs: string): Promise<string | undefined>;
  /** Deletes the table on every node (the namespaces' removal would also take it). */
  remove(): Promise<void>;
}

export interface KubeProxyReader {
  service(): Promise<Service>;
  endpointSlices(): Promise<EndpointSlice[]>;
}

function isMissingBinary(err: unknown): boolean {
  return err instanceof CommandError && /exec of "nft" failed/.test(err.stderr);
}

function nftError(err: unknown, ns: string): Error {
  if (isMissingBinary(err)) return new Error('nft is not installed: the Debian package nftables (scripts/setup.sh installs it)');
  return new Error(`nft in ${ns}: ${(err as Error).message}`);
}

/** One Service's NodePorts on every node namespace given, read through `reader` at each sync. */
export function labKubeProxy(sb: NetnsSandbox, nodeNamespaces: readonly string[], reader: KubeProxyReader): LabKubeProxy {
  const dir = sb.tempDir('kube-proxy');
  let generation = 0;
  return {
    async sync() {
      const rules = nodePortRules(await reader.service(), await reader.endpointSlices());
      const file = join(dir, `rules-${++generation}.nft`);
      writeFileSync(file, renderKubeProxyRules(rules));
      for (const ns of nodeNamespaces) {
        await sb.exec(ns, 'nft', ['-f', file]).catch((err: unknown) => {
          throw nftError(err, ns);
        });
      }
      return rules;
    },
    async ruleset(nodeNs) {
      try {
        return await sb.exec(nodeNs, 'nft', ['list', 'table', 'ip', KUBE_PROXY_TABLE]);
      } catch (err) {
        if (err instanceof CommandError && !isMissingBinary(err) && /No such file or directory/.test(err.stderr)) return undefined;
        throw nftError(err, nodeNs);
      }
    },
    async remove() {
      for (const ns of nodeNamespaces) await sb.exec(ns, 'nft', ['delete', 'table', 'ip', KUBE_PROXY_TABLE]).catch(() => undefined);
    },
  };
}
