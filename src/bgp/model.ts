// The BGP plan of one node (design §5.1–5.2): the parsed configuration (config.ts) planned
// for the node into the BirdModel that bird.conf is rendered from. Every value of the model is
// a branded, parsed value (net/ip.ts, bird-values.ts); no string of an object is copied. One
// bad pool or peer becomes a Problem and is left out, the others keep working. Pure: no I/O,
// no clock.
import type { BGPPeer, Node, PodAddressPool, Secret } from '../api/types.js';
import { problem, type Problem } from '../api/problem.js';
import type { AddrText, PrefixText } from '../net/ip.js';
import { familyTexts, planAdvertisement, type AdvertisedPrefix, type CommunityGroup, type ExportPattern, type PodIPs } from './advertisement.js';
import { parseConfig, parseNode, type BgpConfig, type Community, type NodeConfig } from './config.js';
import { planPeers, type BirdPeerModel } from './peers.js';

export { BIRD_SYMBOL, MAX_PASSWORD_BYTES, protocolName, type BirdPassword, type BirdSymbol } from './bird-values.js';
export {
  compareClaims,
  describeAdvertised,
  prefixRemainder,
  type AdvertisedPrefix,
  type CommunityGroup,
  type ExportPattern,
  type PodIPs,
} from './advertisement.js';
export type { AdvertiseMode } from './config.js';
export { DEFAULT_BFD_INTERVAL_MS, DEFAULT_BFD_MULTIPLIER, DEFAULT_HOLD_TIME, DEFAULT_SECRET_NAMESPACE } from './peer-config.js';
export type { BirdPeerModel } from './peers.js';
export { sessionResettingChanges, type SessionReset } from './session-diff.js';

export interface BirdModel {
  /** Canonical IPv4; undefined when the Node has none (then no peers are configured). */
  readonly routerId: AddrText | undefined;
  /** Canonical prefixes, sorted, deduplicated: exactly what is advertised (the static routes). */
  readonly v4: readonly PrefixText[];
  readonly v6: readonly PrefixText[];
  /**
   * What the export filters accept, sorted: the NodeCIDR prefixes exactly, and host routes
   * only inside each approved PodIPs pool that selects the node. It follows pools and
   * podCIDRs, never Pods, because a changed filter makes BIRD re-export every route to every
   * peer: with the Pods' host routes in it, one Pod starting re-sent all 10,000 of them.
   */
  readonly exportV4: readonly ExportPattern[];
  readonly exportV6: readonly ExportPattern[];
  /** Communities of the advertised prefixes (set on their static routes). */
  readonly communities: readonly CommunityGroup[];
  /** Sorted by protocol name. */
  readonly peers: readonly BirdPeerModel[];
}

/**
 * The communities of each advertised prefix, in the model's community order. BIRD sets them on
 * the prefix's static route (not in the export filter, see ExportPattern).
 */
export function routeCommunities(m: Pick<BirdModel, 'communities'>): Map<string, Community[]> {
  const byPrefix = new Map<string, Community[]>();
  for (const g of m.communities) {
    for (const p of [...g.v4, ...g.v6]) {
      let list = byPrefix.get(p);
      if (!list) {
        list = [];
        byPrefix.set(p, list);
      }
      list.push(g.community);
    }
  }
  return byPrefix;
}

/** What a node's plan needs besides the configuration: facts about the node found at run time. */
export interface NodeFacts {
  /**
   * This node's Pods selected by opted-in Services, with their IPs (`podIPsForNode` in
   * pod-ips.ts builds it). PodIPs pools advertise a host route per IP inside them; when
   * undefined, PodIPs pools advertise nothing and say so (PodIPsNotProvided).
   */
  podIPs?: PodIPs[];
  /**
   * The node's default gateways, found via netlink (main table, default route's gateway).
   * BGPPeers with `peerAddress: Gateway` resolve to the one of the peer's family (IPv4
   * first, or the family of sourceAddress); undefined means "not looked up" (GatewayNotFound).
   */
  defaultGateway?: { v4?: string; v6?: string };
}

export interface BgpPlanInput extends NodeFacts {
  node: Node;
  pools: PodAddressPool[];
  peers: BGPPeer[];
  secrets: Secret[];
}

export interface BgpPlan {
  model: BirdModel;
  /** Sorted like the model (family, address, length); one entry per prefix. */
  advertised: AdvertisedPrefix[];
  problems: Problem[];
}

/** The plan of `node` from a configuration parsed once (parseConfig), for many runs or nodes. */
export function planBgp(config: Pick<BgpConfig, 'pools' | 'peers'>, node: NodeConfig, facts: NodeFacts = {}): BgpPlan {
  const problems: Problem[] = [...node.problems];
  const adv = planAdvertisement(config.pools, node, facts.podIPs, problems);
  const sessions = planPeers(config.peers, node, facts.defaultGateway);
  problems.push(...sessions.problems);
  const peers = sessions.peers;
  for (const fam of [4, 6] as const) {
    if (adv.prefixes.some((p) => p.prefix.family === fam) && peers.length > 0 && !peers.some((p) => p.family === fam)) {
      problems.push(
        problem(
          node.ref,
          'spec.podCIDRs',
          'NoPeerForFamily',
          `Node ${node.name}: IPv${fam} prefixes are to be advertised but no selected BGPPeer has an IPv${fam} peerAddress; they stay unadvertised`,
          'Normal',
        ),
      );
    }
  }
  const prefixes = adv.prefixes.map((p) => p.prefix);
  const model: BirdModel = {
    routerId: node.routerId?.text,
    v4: familyTexts(4, prefixes),
    v6: familyTexts(6, prefixes),
    exportV4: adv.exportV4,
    exportV6: adv.exportV6,
    communities: adv.communities,
    peers: node.routerId ? peers : [],
  };
  const advertised = adv.prefixes.map((p) => ({ prefix: p.prefix.text as string, pool: p.pool, mode: p.mode, ...(p.pod !== undefined ? { pod: p.pod } : {}) }));
  return { model, advertised, problems };
}

/** parseConfig and planBgp in one call: objects in, one node's plan out. */
export function buildBgpPlan(input: BgpPlanInput): BgpPlan {
  const config = parseConfig({ pools: input.pools, peers: input.peers, secrets: input.secrets });
  return planBgp(config, parseNode(input.node), input);
}
