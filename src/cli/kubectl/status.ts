// `kubectl podlb status`: each node's BGP sessions, advertised prefixes and members, from its PodLBNode.
import type { PodLBNode } from '../../api/types.js';
import { memberCountsText, renderTable } from './format.js';

/** `wide` (-o wide) adds every condition, the last apply and its result, and the whole config hash. */
export function renderStatus(nodes: readonly PodLBNode[], opts: { wide?: boolean } = {}): string {
  const rows = [
    ['NODE', 'BGP', 'SESSIONS', 'PREFIXES', 'MEMBERS(reg/healthy/drain)', 'CONFIG', 'LAST ERROR', ...(opts.wide ? ['LAST APPLY', 'CONDITIONS'] : [])],
  ];
  for (const n of nodes) {
    const s = n.status ?? {};
    const bgp = s.conditions?.find((c) => c.type === 'BGPReady');
    const sessions = (s.bgp?.sessions ?? []).map((x) => `${x.peer}=${x.state}`).join(',') || '-';
    const m = s.members;
    rows.push([
      n.metadata.name ?? '',
      bgp ? `${bgp.status}/${bgp.reason}` : '-',
      sessions,
      (s.bgp?.advertisedPrefixes ?? []).join(',') || '-',
      m ? memberCountsText(m) : '-',
      (opts.wide ? s.bgp?.configHash : s.bgp?.configHash?.slice(0, 12)) ?? '-',
      opts.wide ? s.bgp?.lastError || '-' : (s.bgp?.lastError ?? ''),
      ...(opts.wide
        ? [
            s.bgp?.lastApplyResult ? `${s.bgp.lastApplyResult}@${s.bgp.lastApplyTime ?? '?'}` : '-',
            (s.conditions ?? []).map((c) => `${c.type}=${c.status}/${c.reason}`).join(',') || '-',
          ]
        : []),
    ]);
  }
  return renderTable(rows);
}
