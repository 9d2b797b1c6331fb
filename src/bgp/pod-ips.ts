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
import { ANNOTATION_LOAD_BALANCER } from '../api/types.js';
import type { PodIPs } from './model.js';

export function isOptedIn(svc: Service): boolean {
  const cls = svc.metadata?.annotations?.[ANNOTATION_LOAD_BALANCER];
  return typeof cls === 'string' && cls !== '';
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  // A Service without selector has hand-made endpoints: podlb cannot tell its Pods.
  if (!selector || typeof selector !== 'object' || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** Sorted by namespace/name; IPs from status.podIPs (else status.podIP), deduplicated. */
export function podIPsForNode(input: { nodeName: string; pods: readonly Pod[]; services: readonly Service[] }): PodIPs[] {
  const services = input.services.filter(isOptedIn);
  const out: PodIPs[] = [];
  for (const pod of input.pods) {
    if (pod.spec?.nodeName !== input.nodeName) continue;
    if (pod.spec?.hostNetwork === true) continue;
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    const ns = pod.metadata?.namespace ?? '';
    if (!services.some((s) => (s.metadata?.namespace ?? '') === ns && selects(s.spec?.selector, pod.metadata?.labels))) continue;
    const raw = pod.status?.podIPs?.map((p) => p?.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []);
    const ips = [...new Set(raw.filter((ip): ip is string => typeof ip === 'string' && ip !== ''))];
    if (ips.length > 0) out.push({ namespace: ns, name: pod.metadata?.name ?? '', ips });
  }
  return out.sort((a, b) => (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
