// Node drain: `kubectl drain` cordons the node and evicts its Pods, but never the podlb
// DaemonSet, so the agent is still there to withdraw the node's routes when the last Pod has
// gone. A cordoned node keeps advertising a Pod CIDR only while a Pod still uses an address in
// it (traffic to a Pod being evicted must still arrive); uncordoning brings the CIDR back.
import type { Node, Pod } from '../api/types.js';
import { parsePrefix, prefixInside } from '../net/ip.js';

export function isCordoned(node: Node): boolean {
  return node.spec?.unschedulable === true;
}

function podAddresses(pods: readonly Pod[]): string[] {
  const out: string[] = [];
  for (const p of pods) {
    if (p.spec?.hostNetwork === true) continue;
    const phase = p.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    for (const ip of p.status?.podIPs?.map((x) => x.ip) ?? (p.status?.podIP ? [p.status.podIP] : [])) out.push(ip);
  }
  return out;
}

/** The Node as the BGP plan should see it, and the Pod CIDRs held back because the node drained. */
export function nodeForAdvertising(node: Node, pods: readonly Pod[]): { node: Node; withdrawn: string[] } {
  if (!isCordoned(node)) return { node, withdrawn: [] };
  const hosts = podAddresses(pods)
    .map((ip) => parsePrefix(`${ip}/${ip.includes(':') ? 128 : 32}`))
    .flatMap((r) => (r.ok ? [r.prefix] : []));
  const cidrs = node.spec?.podCIDRs ?? (node.spec?.podCIDR ? [node.spec.podCIDR] : []);
  const keep: string[] = [];
  const withdrawn: string[] = [];
  for (const c of cidrs) {
    const p = parsePrefix(c);
    // Malformed CIDRs go through unchanged: the BGP model reports them with the field named.
    if (!p.ok || hosts.some((h) => prefixInside(h, p.prefix))) keep.push(c);
    else withdrawn.push(c);
  }
  if (withdrawn.length === 0) return { node, withdrawn };
  const { podCIDR: _single, ...spec } = node.spec ?? {};
  return { node: { ...node, spec: { ...spec, podCIDRs: keep, ...(keep[0] ? { podCIDR: keep[0] } : {}) } }, withdrawn };
}
