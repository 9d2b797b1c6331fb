// Which Pods a PodIPs pool advertises host routes for (design §5.1): this node's Pods that an
// opted-in Service selects. Pure; the agent calls it with its informer caches and passes the
// result to buildBgpPlan as `podIPs`, the CLI with the objects of its YAML.
//
// A Pod is advertised from the moment it has an IP until it is gone, not only while Ready:
// the load balancer health-checks it through this route before the readiness gate flips, and
// a terminating Pod keeps serving its draining connections. Excluded: other nodes' Pods,
// hostNetwork Pods (their IP is the node's), and finished Pods (Succeeded/Failed: the IP may
// already belong to a new Pod).
import type { Pod, Service } from '../api/types.js';
import { isOptedIn } from '../members/binding.js';
import type { PodIPs } from './advertisement.js';

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export { isOptedIn };

function selects(selector: unknown, labels: unknown): boolean {
  // A Service without selector has hand-made endpoints: podlb cannot tell its Pods.
  if (!isMap(selector) || Object.keys(selector).length === 0 || !isMap(labels)) return false;
  return Object.entries(selector).every(([k, v]) => typeof v === 'string' && labels[k] === v);
}

/** Sorted by namespace/name; IPs from status.podIPs (else status.podIP), deduplicated. */
export function podIPsForNode(input: { nodeName: string; pods: readonly Pod[]; services: readonly Service[] }): PodIPs[] {
  const services = input.services.filter((s) => isMap(s) && isOptedIn(s));
  const out: PodIPs[] = [];
  for (const pod of input.pods) {
    if (!isMap(pod)) continue;
    if (pod.spec?.nodeName !== input.nodeName) continue;
    if (pod.spec?.hostNetwork === true) continue;
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    const ns = pod.metadata?.namespace ?? '';
    if (!services.some((s) => (s.metadata?.namespace ?? '') === ns && selects(s.spec?.selector, pod.metadata?.labels))) continue;
    // Shapes are not trusted (the CLI reads any YAML); values are validated by buildBgpPlan.
    const list: unknown = pod.status?.podIPs;
    const raw: unknown[] = Array.isArray(list) ? list.map((p: unknown) => (isMap(p) ? p.ip : undefined)) : [pod.status?.podIP];
    const ips = [...new Set(raw.filter((ip): ip is string => typeof ip === 'string' && ip !== ''))];
    if (ips.length > 0) out.push({ namespace: String(ns), name: String(pod.metadata?.name ?? ''), ips });
  }
  return out.sort((a, b) => (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
