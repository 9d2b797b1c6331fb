// Clashes between podlb's Calico BGPPeers and hand-made ones. Pure.
//
// confd builds at most one BIRD session per (node, peer IP, port) (projectcalico/calico v3.32.1
// confd/pkg/backends/calico/bgp_processor.go: the session name is derived from the peer IP and
// port alone): when a hand-made Calico BGPPeer and one of podlb's both apply to a node with the
// same peer IP and port, which one's filter and password the session gets is Calico's arbitrary
// choice (a global hand-made peer always wins). podlb cannot know what the ToR receives there,
// so a podlb Calico BGPPeer (one partition) that would share a node with a hand-made one is
// not rendered at all, and the podlb BGPPeer is told which nodes and which Calico object.
//
// Which nodes a Calico BGPPeer applies to: `node` set: that node; else `nodeSelector` set: the
// nodes it selects; else every node (a global peer). A peer with `peerSelector` peers with
// Calico nodes, not with peerIP, and cannot clash. peerIP is `IP`, `IP:port` or `[IPv6]:port`;
// port 179 when not given (podlb never sets one).
import { problem, type Problem } from '../../api/problem.js';
import { API_VERSION } from '../../api/types.js';
import { parseIp } from '../../net/ip.js';
import { OWNER_ANNOTATION, type CalicoBGPPeer, type CalicoRender } from './render.js';
import { calicoSelectorMatches, CalicoSelectorSyntaxError } from './selector-match.js';
import { isOwnedByPodlb, type CalicoCurrent } from './sync.js';

export interface NodeLabels {
  name: string;
  labels: Readonly<Record<string, string>>;
}

const BGP_PORT = 179;

/** `ip|port` of a Calico peerIP, or undefined when it is not an address. */
export function peerEndpoint(peerIP: unknown): string | undefined {
  if (typeof peerIP !== 'string') return undefined;
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(peerIP) ?? /^([^:]+):(\d+)$/.exec(peerIP);
  const ip = parseIp(m ? m[1] : peerIP);
  return ip ? `${ip.text}|${m ? Number(m[2]) : BGP_PORT}` : undefined;
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Foreign {
  name: string;
  endpoint: string;
  global: boolean;
  /** True when it applies to the node; a selector Calico's syntax podlb cannot read counts as every node. */
  applies: (n: NodeLabels) => boolean;
}

function foreignPeers(current: readonly CalicoCurrent[]): Foreign[] {
  const out: Foreign[] = [];
  for (const c of current) {
    if (isOwnedByPodlb(c) || !isMap(c.spec)) continue;
    const s = c.spec;
    if (typeof s.peerSelector === 'string' && s.peerSelector !== '') continue;
    const endpoint = peerEndpoint(s.peerIP);
    if (!endpoint) continue;
    const name = c.metadata.name ?? '';
    if (typeof s.node === 'string' && s.node !== '') out.push({ name, endpoint, global: false, applies: (n) => n.name === s.node });
    else if (typeof s.nodeSelector === 'string' && s.nodeSelector.trim() !== '') {
      const sel = s.nodeSelector;
      out.push({
        name,
        endpoint,
        global: false,
        applies: (n) => {
          try {
            return calicoSelectorMatches(sel, n.labels);
          } catch (err) {
            if (err instanceof CalicoSelectorSyntaxError) return true;
            throw err;
          }
        },
      });
    } else out.push({ name, endpoint, global: true, applies: () => true });
  }
  return out;
}

/** The render without podlb Calico BGPPeers (and their filters) that would share a session with a hand-made one, and Problems saying so. */
export function dropClashes(render: CalicoRender, current: readonly CalicoCurrent[], nodes: readonly NodeLabels[]): CalicoRender {
  const foreign = foreignPeers(current);
  if (foreign.length === 0) return render;
  const dropped = new Set<string>();
  // Per podlb BGPPeer: the clashes found, as `node (Calico BGPPeer x, global)`.
  const byOwner = new Map<string, { clashes: string[]; global: boolean }>();
  for (const p of render.peers) {
    const endpoint = peerEndpoint(p.spec.peerIP);
    const same = foreign.filter((f) => f.endpoint === endpoint);
    if (same.length === 0) continue;
    const clashes: string[] = [];
    let global = false;
    for (const n of nodes) {
      if (!calicoSelectorMatches(p.spec.nodeSelector, n.labels)) continue;
      for (const f of same) {
        if (!f.applies(n)) continue;
        clashes.push(`${n.name} (Calico BGPPeer ${f.name}${f.global ? ', global' : ''})`);
        global ||= f.global;
      }
    }
    if (clashes.length === 0) continue;
    dropped.add(p.metadata.name);
    const owner = ownerOf(p);
    const o = byOwner.get(owner) ?? { clashes: [], global: false };
    o.clashes.push(...clashes);
    o.global ||= global;
    byOwner.set(owner, o);
  }
  if (dropped.size === 0) return render;
  const problems: Problem[] = [...byOwner.entries()].map(([owner, o]) => {
    const peer = render.peers.find((p) => ownerOf(p) === owner)!;
    const list = [...new Set(o.clashes)].sort();
    const shown = list.length > 5 ? `${list.slice(0, 5).join(', ')} and ${list.length - 5} more` : list.join(', ');
    return problem(
      { apiVersion: API_VERSION, kind: 'BGPPeer', name: owner },
      'spec.peerAddress',
      'CalicoPeerClash',
      `BGPPeer ${owner}: a hand-made Calico BGPPeer peers with ${peer.spec.peerIP} port ${BGP_PORT} on nodes podlb would peer from: ${shown}. Calico keeps one session per node, peer IP and port and chooses arbitrarily whose filter and password it gets${o.global ? ' (a global Calico BGPPeer always wins)' : ''}, so podlb renders nothing for the nodes of the affected Calico BGPPeers (${[...dropped].filter((d) => render.peers.some((p) => p.metadata.name === d && ownerOf(p) === owner)).join(', ')}): remove one of the two, or make their node selections disjoint`,
    );
  });
  return {
    peers: render.peers.filter((p) => !dropped.has(p.metadata.name)),
    filters: render.filters.filter((f) => !dropped.has(f.metadata.name)),
    problems: [...render.problems, ...problems],
  };
}

function ownerOf(p: CalicoBGPPeer): string {
  return p.metadata.annotations[OWNER_ANNOTATION]!.split('/')[1] ?? p.metadata.name;
}
