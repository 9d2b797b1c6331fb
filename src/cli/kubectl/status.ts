// `kubectl podlb status`: each node's BGP sessions, advertised prefixes and members, from its PodLBNode.
import type { PodLBNode } from '../../api/types.js';
import { renderTable } from './format.js';

export function renderStatus(nodes: readonly PodLBNode[]): string {
  const rows = [['NODE', 'BGP', 'SESSIONS', 'PREFIXES', 'MEMBERS(reg/healthy/drain)', 'CONFIG', 'LAST ERROR']];
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
      m ? `${m.registered}/${m.healthy}/${m.draining}` : '-',
      s.bgp?.configHash?.slice(0, 12) ?? '-',
      s.bgp?.lastError ?? '',
    ]);
  }
  return renderTable(rows);
}
