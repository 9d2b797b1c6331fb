// The BGP configuration parsed once: raw PodAddressPools, BGPPeers, Secrets and a Node in,
// typed values out (prefixes, addresses, selectors, ASNs, timers, passwords), with what is
// wrong with each object. Node independent except for the Node itself, so the controller
// (pool status, Calico mode) validates with the same code as the agent, without a made-up
// node. The per-node planners (advertisement.ts, peers.ts) take this configuration only.
// LoadBalancerClasses are not here: they configure members, not BGP (parseLbClass in
// members/binding.ts).
// Pure: no I/O, no clock.
import type { BGPPeer, Node, PodAddressPool, Secret } from '../api/types.js';
import { problem, type ObjectRef, type Problem } from '../api/problem.js';
import type { ParsedSelector } from '../util/label-selector.js';
import { parseIp, parsePrefix, type IpAddr, type IpPrefix, type PrefixText } from '../net/ip.js';
import { byName, isMap, nameOf, parseSelector, ref, safeDisplay } from './parse-util.js';
import { parsePeer, type PeerConfig } from './peer-config.js';
import { checkApproval } from './approval.js';

export type AdvertiseMode = 'NodeCIDR' | 'PodIPs';
export type ApprovalState = 'Approved' | 'Pending' | 'Rejected';
/**
 * ApprovalStale: spec.approval.state says Approved, but the content is not what was approved
 * (or no digest was recorded): never advertised, like Pending. Only `Approved` is advertised.
 */
export type PoolState = ApprovalState | 'ApprovalStale';
/** RFC 1997 standard community (asn, value), both 0-65535. */
export type Community = readonly [number, number];

export interface PoolConfig {
  readonly name: string;
  readonly obj: ObjectRef;
  readonly state: PoolState;
  /** Why an ApprovalStale pool is stale (reason ApprovalStale, the changed fields, the fix). */
  readonly approvalProblem?: Problem;
  /** undefined when spec.nodeSelector does not parse (selectorProblem says why). */
  readonly selector: ParsedSelector | undefined;
  readonly selectorProblem?: Problem;
  /** What is wrong with advertise, cidrs and communities (InvalidPool); empty when valid. */
  readonly problems: readonly Problem[];
  /** As written when valid; when not, PodIPs if it says so, else NodeCIDR (for messages). */
  readonly mode: AdvertiseMode;
  /** Empty unless every CIDR parses. */
  readonly cidrs: readonly IpPrefix[];
  /** Deduplicated, in spec order. */
  readonly communities: readonly Community[];
}

export interface NodeConfig {
  readonly name: string;
  readonly ref: ObjectRef;
  readonly labels: Readonly<Record<string, string>>;
  /** The first IPv4 InternalIP; undefined: no BGP session can be configured. */
  readonly routerId: IpAddr | undefined;
  /** The podCIDRs that parse, in spec order. */
  readonly podCidrs: readonly IpPrefix[];
  /** Index in spec.podCIDRs of each parsed podCIDR's first occurrence (for problem fields). */
  readonly podCidrIndex: ReadonlyMap<PrefixText, number>;
  /** NoRouterID, InvalidPodCIDR, NoPodCIDR. */
  readonly problems: readonly Problem[];
}

export interface BgpConfig {
  /** Sorted by name. */
  readonly pools: readonly PoolConfig[];
  /** Sorted by name; entries that are not objects are left out. */
  readonly peers: readonly PeerConfig[];
  readonly node?: NodeConfig;
  /**
   * What is wrong with the objects themselves, whatever node: the node's, then each pool's and
   * each peer's (its selector, then the first problem that keeps it from working). A node's
   * plan reports the subset that matters there (an unapproved pool's CIDRs do not).
   */
  readonly problems: readonly Problem[];
}

export interface BgpConfigInput {
  pools: readonly PodAddressPool[];
  peers: readonly BGPPeer[];
  secrets: readonly Secret[];
  node?: Node;
}

const COMMUNITY = /^(\d{1,5}):(\d{1,5})$/;

/** One PodAddressPool. Checks stop at the first bad field group, as a reader fixes them in order. */
export function parsePool(pool: PodAddressPool): PoolConfig {
  const name = nameOf(pool);
  const obj = ref('PodAddressPool', name);
  const spec = (isMap(pool?.spec) ? pool.spec : {}) as PodAddressPool['spec'];
  const rawState = isMap(spec.approval) ? spec.approval.state : undefined;
  const written: ApprovalState = rawState === 'Approved' || rawState === 'Rejected' ? rawState : 'Pending';
  const approvalProblem = written === 'Approved' ? staleApproval(name, obj, spec) : undefined;
  const state: PoolState = approvalProblem ? 'ApprovalStale' : written;
  const sel = parseSelector(spec.nodeSelector, obj, 'InvalidPool');
  const rawMode: unknown = spec.advertise ?? 'NodeCIDR';
  const base = {
    name,
    obj,
    state,
    ...(approvalProblem ? { approvalProblem } : {}),
    selector: sel.selector,
    ...(sel.error ? { selectorProblem: sel.problem } : {}),
    mode: rawMode === 'PodIPs' ? ('PodIPs' as const) : ('NodeCIDR' as const),
  };
  const invalid = (problems: Problem[]): PoolConfig => ({ ...base, problems, cidrs: [], communities: [] });
  const bad = (field: string, msg: string) => problem(obj, field, 'InvalidPool', `PodAddressPool ${name}: ${msg}`);

  if (rawMode !== 'NodeCIDR' && rawMode !== 'PodIPs')
    return invalid([bad('spec.advertise', `spec.advertise must be NodeCIDR or PodIPs, got ${safeDisplay(rawMode)}`)]);
  if (!Array.isArray(spec.cidrs) || spec.cidrs.length === 0) return invalid([bad('spec.cidrs', 'spec.cidrs must be a non-empty list of CIDRs')]);
  const cidrs: IpPrefix[] = [];
  const problems: Problem[] = [];
  spec.cidrs.forEach((c, i) => {
    const r = parsePrefix(c);
    if (r.ok) cidrs.push(r.prefix);
    else problems.push(bad(`spec.cidrs[${i}]`, `spec.cidrs[${i}]: ${r.reason}`));
  });
  // One bad CIDR disables the whole pool: advertising part of what was approved is more
  // surprising than advertising none of it while the problem is visible.
  if (problems.length > 0) return invalid(problems);
  const communities: Community[] = [];
  const rawCommunities: unknown[] = Array.isArray(spec.communities) ? spec.communities : spec.communities === undefined ? [] : [null];
  rawCommunities.forEach((c, i) => {
    const m = typeof c === 'string' ? COMMUNITY.exec(c) : null;
    const a = m ? Number(m[1]) : NaN;
    const b = m ? Number(m[2]) : NaN;
    if (!m || a > 65535 || b > 65535) {
      problems.push(
        bad(
          `spec.communities[${i}]`,
          `spec.communities[${i}]: ${safeDisplay(c)} is not a standard community ASN:VALUE with both parts 0-65535 (large communities arrive later)`,
        ),
      );
    } else if (!communities.some((d) => d[0] === a && d[1] === b)) communities.push([a, b]);
  });
  if (problems.length > 0) return invalid(problems);
  return { ...base, mode: rawMode, problems: [], cidrs, communities };
}

/** The ApprovalStale problem of a pool whose spec.approval.state is Approved; undefined when its content is the approved one. */
function staleApproval(name: string, obj: ObjectRef, spec: unknown): Problem | undefined {
  const c = checkApproval(spec);
  if (c.ok) return undefined;
  const reapprove = `kubectl podlb approve ${name} --reason TEXT`;
  const message =
    c.why === 'noDigest'
      ? `PodAddressPool ${name} is Approved but its approval records no content digest (spec.approval.digest; approved before podlb bound approvals to the pool's content, or the record was stripped): it is not advertised until the network team approves it again (${reapprove})`
      : `PodAddressPool ${name} changed after it was approved (${c.fields.length > 0 ? `${c.fields.join(', ')} no longer match${c.fields.length === 1 ? 'es' : ''}` : 'its content no longer matches'} what spec.approval.digest records): it is not advertised until the network team approves the new content (${reapprove}) or the change is reverted`;
  return problem(obj, c.fields.length === 1 ? c.fields[0]! : 'spec.approval.digest', 'ApprovalStale', message);
}

/** An approved pool whose selector and fields are valid: the only kind that is advertised. */
export function isUsablePool(p: PoolConfig): p is PoolConfig & { selector: ParsedSelector } {
  return p.state === 'Approved' && p.selector !== undefined && p.problems.length === 0;
}

/** The Node's router id, podCIDRs and labels. */
export function parseNode(node: Node): NodeConfig {
  const name = nameOf(node);
  const nodeRef = ref('Node', name, 'v1');
  const problems: Problem[] = [];
  const rawLabels: unknown = node.metadata?.labels;
  const labels = (isMap(rawLabels) ? rawLabels : {}) as Record<string, string>;

  let routerId: IpAddr | undefined;
  const addresses: unknown = node.status?.addresses;
  for (const a of Array.isArray(addresses) ? (addresses as unknown[]) : []) {
    if (!isMap(a) || a.type !== 'InternalIP') continue;
    const ip = parseIp(a.address);
    if (ip?.family === 4) {
      routerId = ip;
      break;
    }
  }
  if (!routerId)
    problems.push(
      problem(nodeRef, 'status.addresses', 'NoRouterID', `Node ${name} has no IPv4 InternalIP to use as BGP router id; no BGP session is configured`),
    );

  const listed: unknown = node.spec?.podCIDRs ?? (node.spec?.podCIDR ? [node.spec.podCIDR] : []);
  if (!Array.isArray(listed)) problems.push(problem(nodeRef, 'spec.podCIDRs', 'InvalidPodCIDR', `Node ${name}: spec.podCIDRs must be a list of CIDRs`));
  const raw: unknown[] = Array.isArray(listed) ? listed : [];
  const podCidrs: IpPrefix[] = [];
  const podCidrIndex = new Map<PrefixText, number>();
  raw.forEach((c, i) => {
    const r = parsePrefix(c);
    if (r.ok) {
      podCidrs.push(r.prefix);
      if (!podCidrIndex.has(r.prefix.text)) podCidrIndex.set(r.prefix.text, i);
    } else problems.push(problem(nodeRef, `spec.podCIDRs[${i}]`, 'InvalidPodCIDR', `Node ${name}: spec.podCIDRs[${i}]: ${r.reason}`));
  });
  if (raw.length === 0)
    problems.push(problem(nodeRef, 'spec.podCIDRs', 'NoPodCIDR', `Node ${name} has no spec.podCIDRs: NodeCIDR pools advertise nothing from it`, 'Normal'));
  return { name, ref: nodeRef, labels, routerId, podCidrs, podCidrIndex, problems };
}

export function parseConfig(input: BgpConfigInput): BgpConfig {
  const pools = [...input.pools].sort((a, b) => byName({ name: nameOf(a) }, { name: nameOf(b) })).map(parsePool);
  const peers = [...input.peers]
    .filter(isMap)
    .sort((a, b) => byName({ name: nameOf(a) }, { name: nameOf(b) }))
    .map((p) => parsePeer(p, input.secrets));
  const node = input.node ? parseNode(input.node) : undefined;
  const problems: Problem[] = [...(node?.problems ?? [])];
  for (const p of pools) problems.push(...(p.selectorProblem ? [p.selectorProblem] : []), ...p.problems);
  for (const p of peers) {
    if (p.selectorProblem) problems.push(p.selectorProblem);
    const first = p.sessionProblem ?? p.bfdProblem ?? p.passwordProblem;
    if (first) problems.push(first);
  }
  return { pools, peers, ...(node ? { node } : {}), problems };
}
