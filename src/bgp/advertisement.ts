// What one node advertises (design §5.1): the approved pools that select it, NodeCIDR pools
// as podCIDR ∩ pool, PodIPs pools as a host route per opted-in Pod IP inside them; every
// prefix claimed by exactly one pool (compareClaims), with that pool's communities; and the
// export filter's prefix set. Pure: no I/O, no clock.
import { problem, type ObjectRef, type Problem } from '../api/problem.js';
import { firstUnmatched, formatRequirement, selectorMatches } from '../util/label-selector.js';
import { comparePrefix, formatAddr, hostPrefix, maxLength, parseIp, prefixInside, type Family, type IpPrefix, type PrefixText } from '../net/ip.js';
import { isUsablePool, type AdvertiseMode, type Community, type NodeConfig, type PoolConfig } from './config.js';
import { byName, isMap, safeDisplay } from './parse-util.js';

export interface PodIPs {
  namespace: string;
  name: string;
  /** status.podIPs[].ip */
  ips: string[];
}

export interface AdvertisedPrefix {
  prefix: string;
  /** The one pool the prefix is attributed to (compareClaims). */
  pool: string;
  /** NodeCIDR: an aggregate (the agent adds a kernel blackhole for it, design §5.4); PodIPs: a Pod's host route (never blackholed). */
  mode: AdvertiseMode;
  /** PodIPs only: `namespace/name` of the Pod. */
  pod?: string;
}

/**
 * One entry of an export filter's prefix set: `prefix` exactly (a NodeCIDR prefix), or with
 * `hostRoutes` only the host routes inside it (an approved PodIPs pool CIDR: `CIDR{32,32}`).
 */
export interface ExportPattern {
  readonly prefix: PrefixText;
  readonly hostRoutes: boolean;
}

export interface CommunityGroup {
  readonly community: Community;
  readonly v4: readonly PrefixText[];
  readonly v6: readonly PrefixText[];
}

export interface Advertisement {
  /** Sorted (family, address, length); one entry per prefix. */
  readonly prefixes: readonly { prefix: IpPrefix; pool: string; mode: AdvertiseMode; pod?: string }[];
  readonly exportV4: readonly ExportPattern[];
  readonly exportV6: readonly ExportPattern[];
  /** Sorted by community. */
  readonly communities: readonly CommunityGroup[];
}

/**
 * One line for an Event: NodeCIDR aggregates by name, PodIPs host routes counted per pool.
 * Listing 10,000 host routes would only be cut at the Event's 1,024 characters.
 */
export function describeAdvertised(advertised: readonly AdvertisedPrefix[]): string {
  const aggregates = advertised.filter((a) => a.mode !== 'PodIPs').map((a) => a.prefix);
  const hostRoutes = new Map<string, number>();
  for (const a of advertised) if (a.mode === 'PodIPs') hostRoutes.set(a.pool, (hostRoutes.get(a.pool) ?? 0) + 1);
  const parts = [
    ...aggregates,
    ...[...hostRoutes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([pool, n]) => `${n} Pod host route${n === 1 ? '' : 's'} of pool ${pool}`),
  ];
  return parts.join(', ') || 'nothing';
}

/**
 * Which pool a prefix belongs to when several approved pools produce it: the pool whose CIDR
 * containing the prefix is the most specific (longest), then the pool name. Like a route
 * lookup: a nested pool (10.244.8.0/21 inside 10.244.0.0/16) owns its range, so its
 * communities apply there. Pools never share a prefix: it is advertised once, for its owner.
 */
export function compareClaims(a: { pool: { name: string }; cidr: IpPrefix }, b: { pool: { name: string }; cidr: IpPrefix }): number {
  return b.cidr.length - a.cidr.length || byName(a.pool, b.pool);
}

/** `whole` minus the union of `parts`, as the fewest prefixes (for messages). */
export function prefixRemainder(whole: IpPrefix, parts: readonly IpPrefix[]): IpPrefix[] {
  const relevant = parts.filter((p) => prefixInside(p, whole) || prefixInside(whole, p));
  if (relevant.length === 0) return [whole];
  if (relevant.some((p) => prefixInside(whole, p))) return [];
  const max = maxLength(whole.family);
  if (whole.length >= max) return [];
  const len = whole.length + 1;
  const half = 1n << BigInt(max - len);
  const mk = (network: bigint): IpPrefix => {
    const address = formatAddr(whole.family, network);
    return { family: whole.family, network, length: len, address, text: `${address}/${len}` as PrefixText };
  };
  return [...prefixRemainder(mk(whole.network), relevant), ...prefixRemainder(mk(whole.network + half), relevant)];
}

type UsablePool = PoolConfig & { selector: NonNullable<PoolConfig['selector']> };

/** Overlapping CIDRs of different approved pools that select this node (design §5.1). */
function overlapProblems(pools: readonly UsablePool[], problems: Problem[]): void {
  const pairs = new Map<string, { loser: UsablePool; winner: UsablePool; lines: string[]; identical: boolean }>();
  for (let i = 0; i < pools.length; i++) {
    for (let j = i + 1; j < pools.length; j++) {
      const a = pools[i]!;
      const b = pools[j]!;
      for (const ca of a.cidrs) {
        for (const cb of b.cidrs) {
          if (!prefixInside(ca, cb) && !prefixInside(cb, ca)) continue;
          const identical = ca.length === cb.length;
          // The loser is the pool whose CIDR is less specific; on identical CIDRs the later name.
          const [loser, lc, winner, wc] = identical || ca.length > cb.length ? [b, cb, a, ca] : [a, ca, b, cb];
          const key = `${loser.name}\u0000${winner.name}`;
          let e = pairs.get(key);
          if (!e) {
            e = { loser, winner, lines: [], identical: false };
            pairs.set(key, e);
          }
          e.identical ||= identical;
          e.lines.push(identical ? `both list ${lc.text}` : `${lc.text} contains ${wc.text}`);
        }
      }
    }
  }
  const sorted = [...pairs.values()].sort((x, y) => byName(x.loser, y.loser) || byName(x.winner, y.winner));
  for (const { loser, winner, lines, identical } of sorted) {
    const msg = `PodAddressPool ${loser.name} overlaps PodAddressPool ${winner.name} (${lines.join('; ')}): a prefix inside both is advertised once, as ${winner.name}'s with its communities (the most specific pool CIDR wins, then the pool name)${identical ? `; remove the duplicate CIDR from one of the pools` : ''}`;
    problems.push(problem(loser.obj, 'spec.cidrs', 'OverlappingPool', msg, identical ? 'Warning' : 'Normal'));
  }
}

/** The pools advertised on this node; the others get the one problem that explains why not. */
function selectedPools(pools: readonly PoolConfig[], node: NodeConfig, problems: Problem[]): UsablePool[] {
  const out: UsablePool[] = [];
  for (const p of pools) {
    if (p.approvalProblem) {
      problems.push(p.approvalProblem);
    } else if (p.state !== 'Approved') {
      problems.push(
        problem(
          p.obj,
          'spec.approval.state',
          'PoolNotApproved',
          `PodAddressPool ${p.name} is ${p.state === 'Rejected' ? 'Rejected' : 'not approved yet (Pending)'}: its prefixes are not advertised until the network team approves it (kubectl podlb approve ${p.name})`,
          'Normal',
        ),
      );
    } else if (!p.selector) {
      problems.push(p.selectorProblem!);
    } else if (!selectorMatches(p.selector, node.labels)) {
      const miss = firstUnmatched(p.selector, node.labels);
      problems.push(
        problem(
          p.obj,
          'spec.nodeSelector',
          'PoolNotSelectingNode',
          `PodAddressPool ${p.name} does not select node ${node.name} (requirement ${miss ? formatRequirement(miss) : '?'} not met)`,
          'Normal',
        ),
      );
    } else if (!isUsablePool(p)) {
      problems.push(...p.problems);
    } else out.push(p);
  }
  return out;
}

interface Claim {
  readonly pool: UsablePool;
  /** The pool CIDR that contains the prefix (its most specific one). */
  readonly cidr: IpPrefix;
  readonly pod?: string;
}

/** `podIPs` undefined: not provided, PodIPs pools advertise nothing and say so. */
export function planAdvertisement(pools: readonly PoolConfig[], node: NodeConfig, podIPs: readonly PodIPs[] | undefined, problems: Problem[]): Advertisement {
  const usable = selectedPools(pools, node, problems);
  overlapProblems(usable, problems);
  const podCidrs = node.podCidrs;

  const candidates = new Map<string, { prefix: IpPrefix; mode: AdvertiseMode; claims: Claim[] }>();
  const claim = (prefix: IpPrefix, mode: AdvertiseMode, c: Claim) => {
    const key = `${mode}\u0000${prefix.text}`;
    let e = candidates.get(key);
    if (!e) {
      e = { prefix, mode, claims: [] };
      candidates.set(key, e);
    }
    const same = e.claims.findIndex((x) => x.pool === c.pool);
    if (same < 0) e.claims.push(c);
    else if (c.cidr.length > e.claims[same]!.cidr.length) e.claims[same] = c;
  };

  // NodeCIDR: podCIDR ∩ pool CIDR. Prefixes nest or are disjoint, so the intersection is
  // the podCIDR (inside the pool) or the pool CIDR (inside a larger podCIDR).
  for (const p of usable.filter((x) => x.mode === 'NodeCIDR')) {
    let any = false;
    for (const pc of p.cidrs) {
      for (const nc of podCidrs) {
        const adv = prefixInside(nc, pc) ? nc : prefixInside(pc, nc) ? pc : undefined;
        if (!adv) continue;
        any = true;
        claim(adv, 'NodeCIDR', { pool: p, cidr: pc });
      }
    }
    if (!any) {
      problems.push(
        problem(
          p.obj,
          'spec.cidrs',
          'NoPodCIDRInPool',
          `PodAddressPool ${p.name}: none of node ${node.name}'s podCIDRs (${podCidrs.map((x) => x.text).join(', ') || 'none'}) overlap the pool`,
          'Normal',
        ),
      );
    }
  }
  // A podCIDR that only partly lies in NodeCIDR pools: the rest is not reachable by BGP.
  for (const nc of podCidrs) {
    // The common case, a podCIDR inside a pool, costs one lookup (nodes with many podCIDRs).
    if (candidates.has(`NodeCIDR\u0000${nc.text}`)) continue;
    const covering = [...candidates.values()].filter((c) => c.mode === 'NodeCIDR' && prefixInside(c.prefix, nc));
    if (covering.length === 0) continue;
    const rest = prefixRemainder(
      nc,
      covering.map((c) => c.prefix),
    );
    if (rest.length === 0) continue;
    const poolNames = [...new Set(covering.flatMap((c) => c.claims.map((x) => x.pool.name)))].sort();
    const shown =
      rest
        .slice(0, 8)
        .map((x) => x.text)
        .join(', ') + (rest.length > 8 ? ` and ${rest.length - 8} more` : '');
    const msg = `Node ${node.name}: podCIDR ${nc.text} lies only partly inside approved pools (${poolNames.join(', ')}): only ${covering
      .map((c) => c.prefix.text)
      .sort()
      .join(', ')} is advertised; ${shown} is not, so Pods there are not reachable through BGP`;
    problems.push(problem(node.ref, `spec.podCIDRs[${node.podCidrIndex.get(nc.text) ?? 0}]`, 'PartialPodCIDR', msg, 'Normal'));
  }

  const podIpPools = usable.filter((p) => p.mode === 'PodIPs');
  if (podIpPools.length > 0) claimPodIPs(podIpPools, node, podIPs, claim, problems);

  const advertised = new Map<string, { prefix: IpPrefix; pool: string; mode: AdvertiseMode; pod?: string }>();
  const communities = new Map<string, { community: Community; prefixes: Map<string, IpPrefix> }>();
  for (const c of candidates.values()) {
    // A podCIDR equal to a Pod's host route (a /32 podCIDR) is one prefix: NodeCIDR first.
    if (advertised.has(c.prefix.text)) continue;
    const owner = [...c.claims].sort(compareClaims)[0]!;
    advertised.set(c.prefix.text, { prefix: c.prefix, pool: owner.pool.name, mode: c.mode, ...(owner.pod !== undefined ? { pod: owner.pod } : {}) });
    for (const comm of owner.pool.communities) {
      const key = `${comm[0]}:${comm[1]}`;
      let g = communities.get(key);
      if (!g) {
        g = { community: comm, prefixes: new Map() };
        communities.set(key, g);
      }
      g.prefixes.set(c.prefix.text, c.prefix);
    }
  }
  const prefixes = [...advertised.values()].sort((a, b) => comparePrefix(a.prefix, b.prefix));
  const hostRoutePools = podIpPools.flatMap((p) => p.cidrs);

  const exportList = (fam: Family): ExportPattern[] => {
    const exact = prefixes.filter((p) => p.mode === 'NodeCIDR' && p.prefix.family === fam).map((p) => ({ prefix: p.prefix, hostRoutes: false }));
    const hosts = hostRoutePools.filter((c) => c.family === fam).map((c) => ({ prefix: c, hostRoutes: true }));
    const seen = new Set<string>();
    return [...exact, ...hosts]
      .sort((a, b) => comparePrefix(a.prefix, b.prefix) || Number(a.hostRoutes) - Number(b.hostRoutes))
      .filter((e) => {
        const key = `${e.prefix.text}${e.hostRoutes ? '+' : ''}`;
        return !seen.has(key) && seen.add(key);
      })
      .map((e) => ({ prefix: e.prefix.text, hostRoutes: e.hostRoutes }));
  };
  const groups = [...communities.values()]
    .sort((a, b) => a.community[0] - b.community[0] || a.community[1] - b.community[1])
    .map((g) => ({ community: g.community, v4: familyTexts(4, g.prefixes.values()), v6: familyTexts(6, g.prefixes.values()) }));
  return { prefixes, exportV4: exportList(4), exportV6: exportList(6), communities: groups };
}

/** The canonical texts of the prefixes of one family, sorted. */
export function familyTexts(fam: Family, list: Iterable<IpPrefix>): PrefixText[] {
  return [...list]
    .filter((p) => p.family === fam)
    .sort(comparePrefix)
    .map((p) => p.text);
}

/** PodIPs: a host route per Pod IP inside a PodIPs pool. */
function claimPodIPs(
  pools: readonly UsablePool[],
  node: NodeConfig,
  podIPs: readonly PodIPs[] | undefined,
  claim: (prefix: IpPrefix, mode: AdvertiseMode, c: Claim) => void,
  problems: Problem[],
): void {
  if (podIPs === undefined) {
    for (const p of pools) {
      problems.push(
        problem(
          p.obj,
          'spec.advertise',
          'PodIPsNotProvided',
          `PodAddressPool ${p.name}: advertise: PodIPs needs this node's opted-in Pods, which were not provided; nothing from this pool is advertised`,
          'Normal',
        ),
      );
    }
    return;
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : '<invalid>');
  const pods = (Array.isArray(podIPs) ? podIPs : [])
    .filter(isMap)
    .map((p) => ({ namespace: str(p.namespace), name: str(p.name), ips: p.ips as unknown }))
    .sort((a, b) => (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : byName(a, b)));
  for (const pod of pods) {
    const podName = `${pod.namespace}/${pod.name}`;
    const podRef: ObjectRef = { apiVersion: 'v1', kind: 'Pod', namespace: pod.namespace, name: pod.name };
    let inAny = false;
    (Array.isArray(pod.ips) ? pod.ips : []).forEach((raw, i) => {
      const ip = parseIp(raw);
      if (!ip) {
        problems.push(
          problem(
            podRef,
            `status.podIPs[${i}]`,
            'InvalidPodIP',
            `Pod ${podName}: status.podIPs[${i}]: ${safeDisplay(raw)} is not an IP address; not advertised`,
          ),
        );
        return;
      }
      const host = hostPrefix(ip);
      for (const p of pools) {
        for (const pc of p.cidrs) {
          if (!prefixInside(host, pc)) continue;
          inAny = true;
          claim(host, 'PodIPs', { pool: p, cidr: pc, pod: podName });
        }
      }
    });
    if (!inAny && Array.isArray(pod.ips) && pod.ips.length > 0) {
      problems.push(
        problem(
          podRef,
          'status.podIPs',
          'PodIPNotInPool',
          `Pod ${podName}: none of its IPs lies in an approved PodIPs pool that selects node ${node.name}; no host route is advertised for it`,
          'Normal',
        ),
      );
    }
  }
}
