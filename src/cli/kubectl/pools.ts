// `kubectl podlb pools`: each PodAddressPool with its approval and how many nodes advertise
// some prefix inside it (from the PodLBNodes' status.bgp.advertisedPrefixes, which is what the
// agents report having handed to BIRD).
import type { PodAddressPool, PodLBNode } from '../../api/types.js';
import { type IpPrefix, parsePrefix, prefixInside } from '../../net/ip.js';
import { renderTable } from './format.js';
import { checkApproval } from '../../bgp/approval.js';

export interface PoolView {
  name: string;
  /** ApprovalStale: Approved, but not with the content the approval's digest records (never advertised). */
  state: 'Pending' | 'Approved' | 'ApprovalStale' | 'Rejected';
  cidrs: string[];
  advertise: string;
  by: string;
  reason: string;
  time: string;
  /** Nodes whose advertised prefixes include one inside the pool's CIDRs, sorted. */
  advertisingNodes: string[];
}

function parsed(list: readonly string[] | undefined): IpPrefix[] {
  return (list ?? []).flatMap((raw) => {
    const r = parsePrefix(raw);
    return r.ok ? [r.prefix] : [];
  });
}

/** True when some prefix of `advertised` lies inside (or equals) some prefix of `pool`. Unparseable entries never match. */
export function advertisesInside(advertised: readonly string[] | undefined, pool: readonly string[] | undefined): boolean {
  const outer = parsed(pool);
  return parsed(advertised).some((p) => outer.some((o) => prefixInside(p, o)));
}

export function poolViews(pools: readonly PodAddressPool[], nodes: readonly PodLBNode[]): PoolView[] {
  return [...pools]
    .sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''))
    .map((p) => {
      const a = p.spec?.approval;
      return {
        name: p.metadata.name ?? '',
        state: a?.state === 'Approved' && !checkApproval(p.spec).ok ? 'ApprovalStale' : (a?.state ?? 'Pending'),
        cidrs: [...(p.spec?.cidrs ?? [])],
        advertise: p.spec?.advertise ?? 'NodeCIDR',
        by: a?.by ?? '',
        reason: a?.reason ?? '',
        time: a?.time ?? '',
        advertisingNodes: nodes
          .filter((n) => advertisesInside(n.status?.bgp?.advertisedPrefixes, p.spec?.cidrs))
          .map((n) => n.metadata.name ?? '')
          .sort(),
      };
    });
}

/** `wide` (-o wide) adds the decision's reason and time and names the advertising nodes. */
export function renderPools(views: readonly PoolView[], opts: { wide?: boolean } = {}): string {
  if (views.length === 0) return 'No PodAddressPools found.\n';
  return renderTable([
    ['NAME', 'STATE', 'CIDRS', 'ADVERTISE', 'BY', 'NODES', ...(opts.wide ? ['DECIDED', 'REASON', 'ADVERTISING NODES'] : [])],
    ...views.map((v) => [
      v.name,
      v.state,
      v.cidrs.join(','),
      v.advertise,
      v.by || '-',
      String(v.advertisingNodes.length),
      ...(opts.wide ? [v.time || '-', v.reason || '-', v.advertisingNodes.join(',') || '-'] : []),
    ]),
  ]);
}
