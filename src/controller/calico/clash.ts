// Clashes between podlb's Calico BGPPeers and hand-made ones. Pure.
//
// confd builds at most one BIRD session per (node, peer IP, port) (projectcalico/calico v3.32.1
// confd/pkg/backends/calico/bgp_processor.go: the session name is derived from the peer IP and
// port alone): when a hand-made Calico BGPPeer and one of podlb's both apply to a node with the
// same peer IP and port, which one's filter and password the session gets is Calico's arbitrary
// choice (a global hand-made peer always wins). podlb cannot know what the ToR receives there,
// so a podlb Calico BGPPeer (one partition) that would share a node with a hand-made one is
// not rendered at all, and the podlb BGPPeer is told which nodes and which Calico object. Two
// podlb BGPPeers on one address are treated alike, the first by name keeping the node.
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
  /** Another podlb BGPPeer (by owner name) rather than a hand-made Calico one. */
  podlb?: boolean;
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

/**
 * The render without podlb Calico BGPPeers (and their filters) that would share a session with
 * another peer on some node, and Problems saying so. The other peer is a hand-made Calico
 * BGPPeer, or another podlb BGPPeer on the same address (an anycast ToR address split by node
 * selectors that overlap): then, as the agent does in BIRD mode, the first by name keeps the node.
 */
export function dropClashes(render: CalicoRender, current: readonly CalicoCurrent[], nodes: readonly NodeLabels[]): CalicoRender {
  const others = foreignPeers(current);
  const dropped = new Set<string>();
  const byOwner = new Map<string, { clashes: string[]; global: boolean; dropped: string[]; peerIP: string }>();
  const ordered = [...render.peers].sort((a, b) => cmp(ownerOf(a), ownerOf(b)) || cmp(a.metadata.name, b.metadata.name));
  const kept: { owner: string; peer: CalicoBGPPeer }[] = [];
  for (const p of ordered) {
    const owner = ownerOf(p);
    const endpoint = peerEndpoint(p.spec.peerIP);
    const same: Foreign[] = [
      ...others.filter((f) => f.endpoint === endpoint),
      ...kept
        .filter((k) => k.owner !== owner && peerEndpoint(k.peer.spec.peerIP) === endpoint)
        .map((k) => ({
          name: k.owner,
          podlb: true,
          endpoint: endpoint!,
          global: false,
          applies: (n: NodeLabels) => calicoSelectorMatches(k.peer.spec.nodeSelector, n.labels),
        })),
    ];
    const clashes: string[] = [];
    let global = false;
    if (same.length > 0) {
      for (const n of nodes) {
        if (!calicoSelectorMatches(p.spec.nodeSelector, n.labels)) continue;
        for (const f of same) {
          if (!f.applies(n)) continue;
          clashes.push(`${n.name} (${f.podlb ? 'podlb BGPPeer' : 'Calico BGPPeer'} ${f.name}${f.global ? ', global' : ''})`);
          global ||= f.global;
        }
      }
    }
    if (clashes.length === 0) {
      kept.push({ owner, peer: p });
      continue;
    }
    dropped.add(p.metadata.name);
    const o = byOwner.get(owner) ?? { clashes: [], global: false, dropped: [], peerIP: p.spec.peerIP };
    o.clashes.push(...clashes);
    o.global ||= global;
    o.dropped.push(p.metadata.name);
    byOwner.set(owner, o);
  }
  if (dropped.size === 0) return render;
  const problems: Problem[] = [...byOwner.entries()].map(([owner, o]) => {
    const list = [...new Set(o.clashes)].sort();
    const shown = list.length > 5 ? `${list.slice(0, 5).join(', ')} and ${list.length - 5} more` : list.join(', ');
    return problem(
      { apiVersion: API_VERSION, kind: 'BGPPeer', name: owner },
      'spec.peerAddress',
      'CalicoPeerClash',
      `BGPPeer ${owner}: another BGPPeer peers with ${o.peerIP} port ${BGP_PORT} on nodes podlb would peer from: ${shown}. Calico keeps one session per node, peer IP and port and chooses arbitrarily whose filter and password it gets${o.global ? ' (a global Calico BGPPeer always wins)' : ''}, so podlb renders nothing for the nodes of the affected Calico BGPPeers (${o.dropped.join(', ')}; a podlb BGPPeer earlier by name keeps its nodes): remove one of the two, or make their node selections disjoint`,
    );
  });
  return {
    peers: render.peers.filter((p) => !dropped.has(p.metadata.name)),
    filters: render.filters.filter((f) => !dropped.has(f.metadata.name)),
    problems: [...render.problems, ...problems],
  };
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function ownerOf(p: CalicoBGPPeer): string {
  return p.metadata.annotations[OWNER_ANNOTATION]!.split('/')[1] ?? p.metadata.name;
}
