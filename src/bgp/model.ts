// The BGP planner: raw Node, PodAddressPools, BGPPeers and Secrets in, a validated BirdModel
// out (design §5.1–5.2). Every value that reaches bird.conf is parsed here into a typed value
// and re-serialised from it; no string of an object is copied. One bad pool or peer becomes a
// Problem and is left out, the others keep working. Pure: no I/O, no clock.
import { createHash } from 'node:crypto';
import type { BGPPeer, Node, PodAddressPool, Secret } from '../api/types.js';
import { API_VERSION } from '../api/types.js';
import { problem, type ObjectRef, type Problem } from '../api/problem.js';
import { firstUnmatched, formatRequirement, LabelSelectorError, parseLabelSelector, selectorMatches, type ParsedSelector } from '../util/label-selector.js';
import { comparePrefix, formatAddr, isLinkLocal, parseIp, parsePrefix, prefixInside, type Family, type IpAddr, type IpPrefix } from './ip.js';

/** A string that is a valid BIRD symbol ([A-Za-z_][A-Za-z0-9_]*, at most 64 characters). */
export type BirdSymbol = string & { readonly __birdSymbol: true };

export const BIRD_SYMBOL = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** Where a passwordSecretRef without namespace points: podlb's own namespace. */
export const DEFAULT_SECRET_NAMESPACE = 'podlb-system';
export const DEFAULT_HOLD_TIME = 90;
/** TCP-MD5 (RFC 2385) keys are at most 80 bytes on Linux. */
export const MAX_PASSWORD_BYTES = 80;

export interface BirdPeerModel {
  /** BGPPeer name, for status mapping only; never rendered. */
  readonly peer: string;
  readonly protocol: BirdSymbol;
  readonly family: Family;
  readonly address: string;
  readonly localAsn: number;
  readonly peerAsn: number;
  /** 0 disables hold/keepalive; otherwise 3..65535. */
  readonly holdTime: number;
  /** undefined when holdTime is 0 (BIRD then sends none). */
  readonly keepaliveTime?: number;
  readonly gracefulRestart: { readonly enabled: boolean; readonly restartTime?: number };
  /** Printable ASCII without `"` or `\`, at most 80 bytes. */
  readonly password?: string;
  readonly multihop?: number;
  readonly sourceAddress?: string;
  /** BFD for this session; undefined = off. One interval for min rx and min tx. */
  readonly bfd?: { readonly intervalMs: number; readonly multiplier: number };
  /** peerAddress was `Gateway`: `address` is the node's default gateway of that family. */
  readonly viaGateway?: true;
}

export interface CommunityGroup {
  /** RFC 1997 standard community (asn, value). */
  readonly community: readonly [number, number];
  readonly v4: readonly string[];
  readonly v6: readonly string[];
}

/**
 * The communities of each advertised prefix, in the model's community order. BIRD sets them on
 * the prefix's static route (not in the export filter, see ExportPattern).
 */
export function routeCommunities(m: Pick<BirdModel, 'communities'>): Map<string, (readonly [number, number])[]> {
  const byPrefix = new Map<string, (readonly [number, number])[]>();
  for (const g of m.communities) {
    for (const p of [...g.v4, ...g.v6]) {
      let list = byPrefix.get(p);
      if (!list) byPrefix.set(p, (list = []));
      list.push(g.community);
    }
  }
  return byPrefix;
}

/**
 * One entry of an export filter's prefix set: `prefix` exactly (a NodeCIDR prefix), or with
 * `hostRoutes` only the host routes inside it (an approved PodIPs pool CIDR: `CIDR{32,32}`).
 */
export interface ExportPattern {
  readonly prefix: string;
  readonly hostRoutes: boolean;
}

export interface BirdModel {
  /** Canonical IPv4; undefined when the Node has none (then no peers are configured). */
  readonly routerId: string | undefined;
  /** Canonical prefixes, sorted, deduplicated: exactly what is advertised (the static routes). */
  readonly v4: readonly string[];
  readonly v6: readonly string[];
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

export interface BgpPlanInput {
  node: Node;
  pools: PodAddressPool[];
  peers: BGPPeer[];
  secrets: Secret[];
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

export const DEFAULT_BFD_INTERVAL_MS = 300;
export const DEFAULT_BFD_MULTIPLIER = 3;

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
 * One line for an Event: NodeCIDR aggregates by name, PodIPs host routes counted per pool.
 * Listing 10,000 host routes would only be cut at the Event's 1,024 characters.
 */
export function describeAdvertised(advertised: readonly AdvertisedPrefix[]): string {
  const aggregates = advertised.filter((a) => a.mode !== 'PodIPs').map((a) => a.prefix);
  const hostRoutes = new Map<string, number>();
  for (const a of advertised) if (a.mode === 'PodIPs') hostRoutes.set(a.pool, (hostRoutes.get(a.pool) ?? 0) + 1);
  const parts = [...aggregates, ...[...hostRoutes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([pool, n]) => `${n} Pod host route${n === 1 ? '' : 's'} of pool ${pool}`)];
  return parts.join(', ') || 'nothing';
}

export interface BgpPlan {
  model: BirdModel;
  /** Sorted like the model (family, address, length); one entry per prefix. */
  advertised: AdvertisedPrefix[];
  problems: Problem[];
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Object names as given when they are strings (the API server guarantees it; a YAML file does not). */
const nameOf = (o: { metadata?: { name?: unknown } } | null | undefined): string => {
  const n = isMap(o) && isMap(o.metadata) ? o.metadata.name : undefined;
  return typeof n === 'string' && n !== '' ? n : '<unnamed>';
};

function ref(kind: string, name: string | undefined, apiVersion = API_VERSION): ObjectRef {
  return { apiVersion, kind, name: name ?? '<unnamed>' };
}

/**
 * `podlb_<name, [a-z0-9] kept, others as _, truncated to 32>_<6 hex of sha256(name)>`:
 * readable, a valid BIRD symbol for any input, and distinct for distinct names.
 */
export function protocolName(peerName: string): BirdSymbol {
  const clean = peerName.toLowerCase().replace(/[^a-z0-9]/g, '_').slice(0, 32);
  const hash = createHash('sha256').update(peerName).digest('hex').slice(0, 6);
  return `podlb_${clean}_${hash}` as BirdSymbol;
}

function asn(raw: unknown): number | undefined {
  return isInt(raw) && raw >= 1 && raw <= 4294967295 ? raw : undefined;
}

function safeDisplay(raw: unknown): string {
  return JSON.stringify(typeof raw === 'string' ? raw.slice(0, 64) : raw) ?? String(raw);
}

/** The Node's first InternalIP that is IPv4, canonical. */
function routerIdOf(node: Node): IpAddr | undefined {
  const list: unknown = node.status?.addresses;
  for (const a of Array.isArray(list) ? (list as { type?: unknown; address?: unknown }[]) : []) {
    if (!isMap(a) || a.type !== 'InternalIP') continue;
    const ip = parseIp(a.address);
    if (ip?.family === 4) return ip;
  }
  return undefined;
}

function selectorOrProblem(raw: unknown, obj: ObjectRef, reason: string, problems: Problem[]): ParsedSelector | undefined {
  try {
    return parseLabelSelector(raw, 'spec.nodeSelector');
  } catch (err) {
    if (err instanceof LabelSelectorError) {
      problems.push(problem(obj, err.field, reason, `${obj.kind} ${obj.name}: ${err.message}`));
      return undefined;
    }
    throw err;
  }
}

export type AdvertiseMode = 'NodeCIDR' | 'PodIPs';

interface ValidPool {
  readonly name: string;
  readonly obj: ObjectRef;
  readonly mode: AdvertiseMode;
  readonly cidrs: readonly IpPrefix[];
  readonly communities: readonly (readonly [number, number])[];
}

/** One pool's claim on a candidate prefix: the pool CIDR that contains it (its most specific one). */
interface Claim {
  readonly pool: ValidPool;
  readonly cidr: IpPrefix;
  readonly pod?: string;
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Which pool a prefix belongs to when several approved pools produce it: the pool whose CIDR
 * containing the prefix is the most specific (longest), then the pool name. Like a route
 * lookup: a nested pool (10.244.8.0/21 inside 10.244.0.0/16) owns its range, so its
 * communities apply there. Pools never share a prefix: it is advertised once, for its owner.
 */
export function compareClaims(a: { pool: { name: string }; cidr: IpPrefix }, b: { pool: { name: string }; cidr: IpPrefix }): number {
  return b.cidr.length - a.cidr.length || byName(a.pool, b.pool);
}

function validatePool(pool: PodAddressPool, node: Node, nodeLabels: Record<string, string>, problems: Problem[]): ValidPool | undefined {
  const name = nameOf(pool);
  const obj = ref('PodAddressPool', name);
  const spec = (isMap(pool?.spec) ? pool.spec : {}) as PodAddressPool['spec'];
  const state = isMap(spec.approval) ? spec.approval.state : undefined;
  if (state !== 'Approved') {
    problems.push(problem(obj, 'spec.approval.state', 'PoolNotApproved', `PodAddressPool ${name} is ${state === 'Rejected' ? 'Rejected' : 'not approved yet (Pending)'}: its prefixes are not advertised until the network team approves it (kubectl podlb approve ${name})`, 'Normal'));
    return undefined;
  }
  const sel = selectorOrProblem(spec.nodeSelector, obj, 'InvalidPool', problems);
  if (!sel) return undefined;
  if (!selectorMatches(sel, nodeLabels)) {
    const miss = firstUnmatched(sel, nodeLabels);
    problems.push(problem(obj, 'spec.nodeSelector', 'PoolNotSelectingNode', `PodAddressPool ${name} does not select node ${node.metadata?.name} (requirement ${miss ? formatRequirement(miss) : '?'} not met)`, 'Normal'));
    return undefined;
  }
  const mode = spec.advertise ?? 'NodeCIDR';
  if (mode !== 'NodeCIDR' && mode !== 'PodIPs') {
    problems.push(problem(obj, 'spec.advertise', 'InvalidPool', `PodAddressPool ${name}: spec.advertise must be NodeCIDR or PodIPs, got ${safeDisplay(mode)}`));
    return undefined;
  }
  if (!Array.isArray(spec.cidrs) || spec.cidrs.length === 0) {
    problems.push(problem(obj, 'spec.cidrs', 'InvalidPool', `PodAddressPool ${name}: spec.cidrs must be a non-empty list of CIDRs`));
    return undefined;
  }
  const cidrs: IpPrefix[] = [];
  let bad = false;
  spec.cidrs.forEach((c, i) => {
    const r = parsePrefix(c);
    if (r.ok) cidrs.push(r.prefix);
    else {
      bad = true;
      problems.push(problem(obj, `spec.cidrs[${i}]`, 'InvalidPool', `PodAddressPool ${name}: spec.cidrs[${i}]: ${r.reason}`));
    }
  });
  // One bad CIDR disables the whole pool: advertising part of what was approved is more
  // surprising than advertising none of it while the problem is visible.
  if (bad) return undefined;
  let comms: [number, number][] = [];
  let badComm = false;
  (Array.isArray(spec.communities) ? spec.communities : spec.communities === undefined ? [] : [null]).forEach((c: unknown, i) => {
    const m = typeof c === 'string' ? /^(\d{1,5}):(\d{1,5})$/.exec(c) : null;
    const a = m ? Number(m[1]) : NaN;
    const b = m ? Number(m[2]) : NaN;
    if (!m || a > 65535 || b > 65535) {
      badComm = true;
      problems.push(problem(obj, `spec.communities[${i}]`, 'InvalidPool', `PodAddressPool ${name}: spec.communities[${i}]: ${safeDisplay(c)} is not a standard community ASN:VALUE with both parts 0-65535 (large communities arrive later)`));
    } else comms.push([a, b]);
  });
  if (badComm) return undefined;
  comms = comms.filter((c, i) => comms.findIndex((d) => d[0] === c[0] && d[1] === c[1]) === i);
  return { name, obj, mode, cidrs, communities: comms };
}

/** `whole` minus the union of `parts`, as the fewest prefixes (for messages). */
export function prefixRemainder(whole: IpPrefix, parts: readonly IpPrefix[]): IpPrefix[] {
  const relevant = parts.filter((p) => prefixInside(p, whole) || prefixInside(whole, p));
  if (relevant.length === 0) return [whole];
  if (relevant.some((p) => prefixInside(whole, p))) return [];
  const max = whole.family === 4 ? 32 : 128;
  if (whole.length >= max) return [];
  const len = whole.length + 1;
  const half = 1n << BigInt(max - len);
  const mk = (network: bigint): IpPrefix => ({ family: whole.family, network, length: len, text: `${formatAddr(whole.family, network)}/${len}` });
  return [...prefixRemainder(mk(whole.network), relevant), ...prefixRemainder(mk(whole.network + half), relevant)];
}

/** Overlapping CIDRs of different approved pools that select this node (design §5.1). */
function overlapProblems(pools: readonly ValidPool[], problems: Problem[]): void {
  const pairs = new Map<string, { loser: ValidPool; winner: ValidPool; lines: string[]; identical: boolean }>();
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
          if (!e) pairs.set(key, (e = { loser, winner, lines: [], identical: false }));
          e.identical ||= identical;
          e.lines.push(identical ? `both list ${lc.text}` : `${lc.text} contains ${wc.text}`);
        }
      }
    }
  }
  const sorted = [...pairs.values()].sort((x, y) => byName(x.loser, y.loser) || byName(x.winner, y.winner));
  for (const { loser, winner, lines, identical } of sorted) {
    problems.push(
      problem(
        loser.obj,
        'spec.cidrs',
        'OverlappingPool',
        `PodAddressPool ${loser.name} overlaps PodAddressPool ${winner.name} (${lines.join('; ')}): a prefix inside both is advertised once, as ${winner.name}'s with its communities (the most specific pool CIDR wins, then the pool name)${identical ? `; remove the duplicate CIDR from one of the pools` : ''}`,
        identical ? 'Warning' : 'Normal',
      ),
    );
  }
}

export interface PodIPs {
  namespace: string;
  name: string;
  /** status.podIPs[].ip */
  ips: string[];
}

function planPools(node: Node, nodeLabels: Record<string, string>, podCidrs: IpPrefix[], rawCidrs: readonly unknown[], input: BgpPlanInput, problems: Problem[]) {
  const nodeName = node.metadata?.name ?? '<unnamed>';
  const pools: ValidPool[] = [];
  for (const pool of [...input.pools].sort((a, b) => byName({ name: nameOf(a) }, { name: nameOf(b) }))) {
    const v = validatePool(pool, node, nodeLabels, problems);
    if (v) pools.push(v);
  }
  overlapProblems(pools, problems);

  const candidates = new Map<string, { prefix: IpPrefix; mode: AdvertiseMode; claims: Claim[] }>();
  const claim = (prefix: IpPrefix, mode: AdvertiseMode, c: Claim) => {
    const key = `${mode}\u0000${prefix.text}`;
    let e = candidates.get(key);
    if (!e) candidates.set(key, (e = { prefix, mode, claims: [] }));
    const same = e.claims.findIndex((x) => x.pool === c.pool);
    if (same < 0) e.claims.push(c);
    else if (c.cidr.length > e.claims[same]!.cidr.length) e.claims[same] = c;
  };

  // NodeCIDR: podCIDR ∩ pool CIDR. Prefixes nest or are disjoint, so the intersection is
  // the podCIDR (inside the pool) or the pool CIDR (inside a larger podCIDR).
  const nodeCidrPools = pools.filter((p) => p.mode === 'NodeCIDR');
  for (const p of nodeCidrPools) {
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
      problems.push(problem(p.obj, 'spec.cidrs', 'NoPodCIDRInPool', `PodAddressPool ${p.name}: none of node ${nodeName}'s podCIDRs (${podCidrs.map((x) => x.text).join(', ') || 'none'}) overlap the pool`, 'Normal'));
    }
  }
  // A podCIDR that only partly lies in NodeCIDR pools: the rest is not reachable by BGP.
  podCidrs.forEach((nc) => {
    // The common case, a podCIDR inside a pool, costs one lookup (nodes with many podCIDRs).
    if (candidates.has(`NodeCIDR\u0000${nc.text}`)) return;
    const covering = [...candidates.values()].filter((c) => c.mode === 'NodeCIDR' && prefixInside(c.prefix, nc));
    if (covering.length === 0) return;
    const rest = prefixRemainder(nc, covering.map((c) => c.prefix));
    if (rest.length === 0) return;
    const idx = rawCidrs.findIndex((r) => parsePrefix(r).ok && (parsePrefix(r) as { prefix: IpPrefix }).prefix.text === nc.text);
    const poolNames = [...new Set(covering.flatMap((c) => c.claims.map((x) => x.pool.name)))].sort();
    const shown = rest.slice(0, 8).map((x) => x.text).join(', ') + (rest.length > 8 ? ` and ${rest.length - 8} more` : '');
    problems.push(
      problem(
        ref('Node', nodeName, 'v1'),
        `spec.podCIDRs[${idx < 0 ? 0 : idx}]`,
        'PartialPodCIDR',
        `Node ${nodeName}: podCIDR ${nc.text} lies only partly inside approved pools (${poolNames.join(', ')}): only ${covering.map((c) => c.prefix.text).sort().join(', ')} is advertised; ${shown} is not, so Pods there are not reachable through BGP`,
        'Normal',
      ),
    );
  });

  // PodIPs: a host route per Pod IP inside the pool.
  const podIpPools = pools.filter((p) => p.mode === 'PodIPs');
  if (podIpPools.length > 0) {
    if (input.podIPs === undefined) {
      for (const p of podIpPools) {
        problems.push(problem(p.obj, 'spec.advertise', 'PodIPsNotProvided', `PodAddressPool ${p.name}: advertise: PodIPs needs this node's opted-in Pods, which were not provided; nothing from this pool is advertised`, 'Normal'));
      }
    } else {
      const str = (v: unknown) => (typeof v === 'string' ? v : '<invalid>');
      const pods = (Array.isArray(input.podIPs) ? input.podIPs : [])
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
            problems.push(problem(podRef, `status.podIPs[${i}]`, 'InvalidPodIP', `Pod ${podName}: status.podIPs[${i}]: ${safeDisplay(raw)} is not an IP address; not advertised`));
            return;
          }
          const max = ip.family === 4 ? 32 : 128;
          const host: IpPrefix = { family: ip.family, network: ip.value, length: max, text: `${ip.text}/${max}` };
          for (const p of podIpPools) {
            for (const pc of p.cidrs) {
              if (!prefixInside(host, pc)) continue;
              inAny = true;
              claim(host, 'PodIPs', { pool: p, cidr: pc, pod: podName });
            }
          }
        });
        if (!inAny && Array.isArray(pod.ips) && pod.ips.length > 0) {
          problems.push(problem(podRef, 'status.podIPs', 'PodIPNotInPool', `Pod ${podName}: none of its IPs lies in an approved PodIPs pool that selects node ${nodeName}; no host route is advertised for it`, 'Normal'));
        }
      }
    }
  }

  const advertised = new Map<string, { prefix: IpPrefix; pool: string; mode: AdvertiseMode; pod?: string }>();
  const communities = new Map<string, { community: readonly [number, number]; prefixes: Map<string, IpPrefix> }>();
  for (const c of candidates.values()) {
    // A podCIDR equal to a Pod's host route (a /32 podCIDR) is one prefix: NodeCIDR first.
    if (advertised.has(c.prefix.text)) continue;
    const owner = [...c.claims].sort(compareClaims)[0]!;
    advertised.set(c.prefix.text, { prefix: c.prefix, pool: owner.pool.name, mode: c.mode, ...(owner.pod !== undefined ? { pod: owner.pod } : {}) });
    for (const comm of owner.pool.communities) {
      const key = `${comm[0]}:${comm[1]}`;
      let g = communities.get(key);
      if (!g) communities.set(key, (g = { community: comm, prefixes: new Map() }));
      g.prefixes.set(c.prefix.text, c.prefix);
    }
  }
  const hostRoutePools = podIpPools.flatMap((p) => p.cidrs);
  return { advertised, communities, hostRoutePools };
}

function secretValue(secrets: Secret[], ns: string, name: string, key: string): { value?: Buffer; missing?: string } {
  const s = secrets.find((x) => isMap(x) && isMap(x.metadata) && x.metadata.name === name && (x.metadata.namespace ?? '') === ns);
  if (!s) return { missing: `Secret ${ns}/${name} not found` };
  const b64 = isMap(s.data) ? s.data[key] : undefined;
  if (typeof b64 === 'string') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) return { missing: `Secret ${ns}/${name} key ${key} is not valid base64` };
    return { value: Buffer.from(b64, 'base64') };
  }
  const plain = isMap(s.stringData) ? s.stringData[key] : undefined;
  if (typeof plain === 'string') return { value: Buffer.from(plain, 'utf8') };
  return { missing: `Secret ${ns}/${name} has no key ${key}` };
}

type PeerResult = { ok: true; peer: BirdPeerModel } | { ok: false; problem: Problem };

function planPeer(p: BGPPeer, secrets: Secret[], gateway: BgpPlanInput['defaultGateway']): PeerResult {
  const name = nameOf(p);
  const obj = ref('BGPPeer', name);
  const spec = (isMap(p.spec) ? p.spec : {}) as BGPPeer['spec'] & Record<string, unknown>;
  const fail = (field: string, msg: string, reason = 'InvalidPeer', severity: Problem['severity'] = 'Warning'): PeerResult => ({
    ok: false,
    problem: problem(obj, field, reason, `BGPPeer ${name}: ${field}: ${msg}; the session is not configured`, severity),
  });

  let addr: IpAddr | undefined;
  const viaGateway = spec.peerAddress === 'Gateway';
  if (viaGateway) {
    if (!isMap(gateway)) return fail('spec.peerAddress', `Gateway: the node's default gateway is not known (yet); the agent looks it up via netlink`, 'GatewayNotFound');
    // The family of sourceAddress decides when set; else IPv4 first (the router id is IPv4).
    const src = parseIp(spec.sourceAddress);
    const order: ('v4' | 'v6')[] = src?.family === 6 ? ['v6'] : src?.family === 4 ? ['v4'] : ['v4', 'v6'];
    const key = order.find((k) => gateway[k] !== undefined);
    if (key === undefined) return fail('spec.peerAddress', `Gateway: node has no ${order.map((k) => (k === 'v4' ? 'IPv4' : 'IPv6')).join(' or ')} default gateway`, 'GatewayNotFound');
    addr = parseIp(gateway[key]);
    if (!addr || addr.family !== (key === 'v4' ? 4 : 6)) return fail('spec.peerAddress', `Gateway: the node's default gateway ${safeDisplay(gateway[key])} is not an IPv${key === 'v4' ? 4 : 6} address`, 'GatewayNotFound');
    if (isLinkLocal(addr)) return fail('spec.peerAddress', `Gateway: the node's default gateway ${addr.text} is link-local, which needs an interface: not supported yet`, 'PeerAddressNotSupported');
  } else {
    addr = parseIp(spec.peerAddress);
    if (!addr) return fail('spec.peerAddress', `${safeDisplay(spec.peerAddress)} is not an IP address (or Gateway)`);
    if (isLinkLocal(addr)) return fail('spec.peerAddress', `${addr.text} is link-local, which needs an interface: not supported yet`, 'PeerAddressNotSupported');
  }
  const peerAsn = asn(spec.peerASN);
  if (peerAsn === undefined) return fail('spec.peerASN', `${safeDisplay(spec.peerASN)} must be an integer 1-4294967295`);
  const localAsn = asn(spec.localASN);
  if (localAsn === undefined) return fail('spec.localASN', `${safeDisplay(spec.localASN)} must be an integer 1-4294967295`);

  const hold = spec.holdTimeSeconds ?? DEFAULT_HOLD_TIME;
  if (!isInt(hold) || (hold !== 0 && (hold < 3 || hold > 65535))) return fail('spec.holdTimeSeconds', `${safeDisplay(hold)} must be 0 (no hold timer) or an integer 3-65535`);
  let keepalive: number | undefined;
  if (spec.keepaliveSeconds !== undefined) {
    const k = spec.keepaliveSeconds;
    if (hold === 0) {
      if (k !== 0) return fail('spec.keepaliveSeconds', `must be 0 or unset when holdTimeSeconds is 0`);
    } else if (!isInt(k) || k < 1 || k >= hold) {
      return fail('spec.keepaliveSeconds', `${safeDisplay(k)} must be an integer 1..holdTimeSeconds-1 (${hold - 1})`);
    } else keepalive = k;
  } else if (hold !== 0) keepalive = Math.max(1, Math.floor(hold / 3));

  const gr = spec.gracefulRestart;
  let gracefulRestart: BirdPeerModel['gracefulRestart'] = { enabled: true };
  if (gr !== undefined) {
    if (typeof gr !== 'object' || gr === null) return fail('spec.gracefulRestart', 'must be an object {enabled, restartTimeSeconds}');
    if (gr.enabled !== undefined && typeof gr.enabled !== 'boolean') return fail('spec.gracefulRestart.enabled', 'must be true or false');
    const enabled = gr.enabled ?? true;
    let restartTime: number | undefined;
    if (gr.restartTimeSeconds !== undefined) {
      if (!isInt(gr.restartTimeSeconds) || gr.restartTimeSeconds < 1 || gr.restartTimeSeconds > 4095) {
        return fail('spec.gracefulRestart.restartTimeSeconds', `${safeDisplay(gr.restartTimeSeconds)} must be an integer 1-4095 (12 bits in the BGP capability)`);
      }
      restartTime = gr.restartTimeSeconds;
    }
    gracefulRestart = enabled && restartTime !== undefined ? { enabled, restartTime } : { enabled };
  }

  let multihop: number | undefined;
  if (spec.ebgpMultihop !== undefined) {
    if (!isInt(spec.ebgpMultihop) || spec.ebgpMultihop < 1 || spec.ebgpMultihop > 255) return fail('spec.ebgpMultihop', `${safeDisplay(spec.ebgpMultihop)} must be an integer 1-255`);
    multihop = spec.ebgpMultihop;
  }
  let sourceAddress: string | undefined;
  if (spec.sourceAddress !== undefined) {
    const s = parseIp(spec.sourceAddress);
    if (!s) return fail('spec.sourceAddress', `${safeDisplay(spec.sourceAddress)} is not an IP address`);
    if (s.family !== addr.family) return fail('spec.sourceAddress', `${s.text} is IPv${s.family} but peerAddress is IPv${addr.family}`);
    sourceAddress = s.text;
  }
  let bfd: BirdPeerModel['bfd'];
  if (spec.bfd !== undefined) {
    const b = spec.bfd;
    if (typeof b !== 'object' || b === null || Array.isArray(b)) return fail('spec.bfd', 'must be an object {enabled, minIntervalMilliseconds, multiplier}');
    if (b.enabled !== undefined && typeof b.enabled !== 'boolean') return fail('spec.bfd.enabled', 'must be true or false');
    if (b.minIntervalMilliseconds !== undefined && (!isInt(b.minIntervalMilliseconds) || b.minIntervalMilliseconds < 1 || b.minIntervalMilliseconds > 60000)) {
      return fail('spec.bfd.minIntervalMilliseconds', `${safeDisplay(b.minIntervalMilliseconds)} must be an integer 1-60000`);
    }
    if (b.multiplier !== undefined && (!isInt(b.multiplier) || b.multiplier < 1 || b.multiplier > 255)) return fail('spec.bfd.multiplier', `${safeDisplay(b.multiplier)} must be an integer 1-255`);
    // A bfd object without `enabled` means BFD on: nobody writes intervals to keep it off.
    if (b.enabled !== false) bfd = { intervalMs: b.minIntervalMilliseconds ?? DEFAULT_BFD_INTERVAL_MS, multiplier: b.multiplier ?? DEFAULT_BFD_MULTIPLIER };
  }

  // BIRD refuses the whole file otherwise ("Multihop BGP with BFD requires specified local
  // address"), which would stall every session on the node: found by test/bgp-fuzz.test.ts.
  // iBGP (localASN = peerASN) is multihop in BIRD unless told otherwise. Such a session
  // runs multihop BFD (RFC 5883, UDP 4784): the ToR must be configured for multihop BFD too.
  if (bfd !== undefined && (multihop !== undefined || localAsn === peerAsn) && sourceAddress === undefined) {
    return fail('spec.bfd', `BFD on a ${multihop !== undefined ? 'ebgpMultihop' : 'iBGP (multihop)'} session needs spec.sourceAddress (BIRD must know the local address of a multihop BFD session)`);
  }

  let password: string | undefined;
  const psr = spec.passwordSecretRef;
  if (psr !== undefined) {
    const f = 'spec.passwordSecretRef';
    if (typeof psr !== 'object' || psr === null || typeof psr.name !== 'string' || typeof psr.key !== 'string' || (psr.namespace !== undefined && typeof psr.namespace !== 'string')) {
      return fail(f, 'must be {namespace, name, key} with string values');
    }
    const ns = psr.namespace ?? DEFAULT_SECRET_NAMESPACE;
    const { value, missing } = secretValue(secrets, ns, psr.name, psr.key);
    if (!value) return fail(f, `${missing} (the session is configured once it exists)`, 'PasswordSecretNotFound');
    // Never echo the value: only what is wrong with it.
    if (value.length === 0) return fail(f, `the password in Secret ${ns}/${psr.name} key ${psr.key} is empty`, 'InvalidPassword');
    if (value.length > MAX_PASSWORD_BYTES) return fail(f, `the password in Secret ${ns}/${psr.name} key ${psr.key} is ${value.length} bytes; TCP-MD5 allows at most ${MAX_PASSWORD_BYTES}`, 'InvalidPassword');
    for (const byte of value) {
      if (byte < 0x20 || byte > 0x7e || byte === 0x22 || byte === 0x5c) {
        return fail(f, `the password in Secret ${ns}/${psr.name} key ${psr.key} contains a character podlb cannot place in bird.conf safely (only printable ASCII without " and \\ is accepted)`, 'InvalidPassword');
      }
    }
    password = value.toString('ascii');
  }

  const peer: BirdPeerModel = {
    peer: name,
    protocol: protocolName(name),
    family: addr.family,
    address: addr.text,
    localAsn,
    peerAsn,
    holdTime: hold,
    ...(keepalive !== undefined ? { keepaliveTime: keepalive } : {}),
    gracefulRestart,
    ...(password !== undefined ? { password } : {}),
    ...(multihop !== undefined ? { multihop } : {}),
    ...(sourceAddress !== undefined ? { sourceAddress } : {}),
    ...(bfd !== undefined ? { bfd } : {}),
    ...(viaGateway ? { viaGateway: true as const } : {}),
  };
  return { ok: true, peer };
}

export function buildBgpPlan(input: BgpPlanInput): BgpPlan {
  const problems: Problem[] = [];
  const { node } = input;
  const nodeName = nameOf(node);
  const nodeRef = ref('Node', nodeName, 'v1');
  const rawLabels: unknown = node.metadata?.labels;
  const labels = (isMap(rawLabels) ? rawLabels : {}) as Record<string, string>;

  const rid = routerIdOf(node);
  if (!rid) problems.push(problem(nodeRef, 'status.addresses', 'NoRouterID', `Node ${nodeName} has no IPv4 InternalIP to use as BGP router id; no BGP session is configured`));

  const listed: unknown = node.spec?.podCIDRs ?? (node.spec?.podCIDR ? [node.spec.podCIDR] : []);
  if (!Array.isArray(listed)) problems.push(problem(nodeRef, 'spec.podCIDRs', 'InvalidPodCIDR', `Node ${nodeName}: spec.podCIDRs must be a list of CIDRs`));
  const rawCidrs: unknown[] = Array.isArray(listed) ? listed : [];
  const podCidrs: IpPrefix[] = [];
  rawCidrs.forEach((c, i) => {
    const r = parsePrefix(c);
    if (r.ok) podCidrs.push(r.prefix);
    else problems.push(problem(nodeRef, `spec.podCIDRs[${i}]`, 'InvalidPodCIDR', `Node ${nodeName}: spec.podCIDRs[${i}]: ${r.reason}`));
  });
  if (rawCidrs.length === 0) problems.push(problem(nodeRef, 'spec.podCIDRs', 'NoPodCIDR', `Node ${nodeName} has no spec.podCIDRs: NodeCIDR pools advertise nothing from it`, 'Normal'));

  const { advertised, communities, hostRoutePools } = planPools(node, labels, podCidrs, rawCidrs, input, problems);
  const prefixes = [...advertised.values()].sort((a, b) => comparePrefix(a.prefix, b.prefix));

  const peers: BirdPeerModel[] = [];
  const byAddress = new Map<string, string>();
  const byProtocol = new Map<string, string>();
  const sortedPeers = [...input.peers].filter(isMap).sort((a, b) => byName({ name: nameOf(a) }, { name: nameOf(b) }));
  for (const p of sortedPeers) {
    const name = nameOf(p);
    const obj = ref('BGPPeer', name);
    const sel = selectorOrProblem(isMap(p.spec) ? p.spec.nodeSelector : undefined, obj, 'InvalidPeer', problems);
    if (!sel || !selectorMatches(sel, labels)) continue;
    if (!rid) continue;
    const r = planPeer(p, input.secrets, input.defaultGateway);
    if (!r.ok) {
      problems.push(r.problem);
      continue;
    }
    const dup = byAddress.get(r.peer.address);
    if (dup !== undefined) {
      problems.push(problem(obj, 'spec.peerAddress', 'DuplicatePeer', `BGPPeer ${name}: BGPPeer ${dup} already peers with ${r.peer.address} from node ${nodeName}; this one is not configured`));
      continue;
    }
    if (byProtocol.has(r.peer.protocol)) {
      problems.push(problem(obj, 'metadata.name', 'InvalidPeer', `BGPPeer ${name}: its BIRD protocol name collides with BGPPeer ${byProtocol.get(r.peer.protocol)}; rename one`));
      continue;
    }
    byAddress.set(r.peer.address, name);
    byProtocol.set(r.peer.protocol, name);
    peers.push(r.peer);
  }
  peers.sort((a, b) => (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0));

  for (const fam of [4, 6] as const) {
    if (prefixes.some((p) => p.prefix.family === fam) && peers.length > 0 && !peers.some((p) => p.family === fam)) {
      problems.push(problem(nodeRef, 'spec.podCIDRs', 'NoPeerForFamily', `Node ${nodeName}: IPv${fam} prefixes are to be advertised but no selected BGPPeer has an IPv${fam} peerAddress; they stay unadvertised`, 'Normal'));
    }
  }

  const famList = (fam: Family, list: Iterable<IpPrefix>) => [...list].filter((p) => p.family === fam).sort(comparePrefix).map((p) => p.text);
  const groups = [...communities.values()]
    .sort((a, b) => a.community[0] - b.community[0] || a.community[1] - b.community[1])
    .map((g) => ({ community: g.community, v4: famList(4, g.prefixes.values()), v6: famList(6, g.prefixes.values()) }));

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

  const model: BirdModel = {
    routerId: rid?.text,
    v4: famList(4, prefixes.map((p) => p.prefix)),
    v6: famList(6, prefixes.map((p) => p.prefix)),
    exportV4: exportList(4),
    exportV6: exportList(6),
    communities: groups,
    peers: rid ? peers : [],
  };
  return { model, advertised: prefixes.map((p) => ({ prefix: p.prefix.text, pool: p.pool, mode: p.mode, ...(p.pod !== undefined ? { pod: p.pod } : {}) })), problems };
}

export interface SessionReset {
  peer: string;
  protocol: BirdSymbol;
  /** Fields whose change makes BIRD restart the session, e.g. `holdTime`, `password`. */
  fields: string[];
}

/**
 * What restarts a session on `configure`, measured with BIRD 2.0.12 and FRR 8.4 by
 * test/bgp-session-reset.test.ts (one field changed at a time, FRR's established transitions
 * watched): every option of the BGP protocol itself restarts it (BIRD compares the protocol
 * config as a whole), so address, ASNs, hold and keepalive time, password, multihop, source
 * address and graceful restart (on/off and time) do. Export filter and static route changes
 * (prefixes, communities) do not. BFD is updated in place by BIRD: turning it on or changing
 * its intervals keeps the session; turning it off does restart it in practice, from the
 * ToR's side: BIRD stops its BFD session, the ToR (still configured for BFD) declares it down
 * after its detection time and drops the BGP session, so `bfd` is reported for on -> off.
 */
const RESETTING_FIELDS = ['address', 'family', 'localAsn', 'peerAsn', 'holdTime', 'keepaliveTime', 'password', 'multihop', 'sourceAddress'] as const;

/**
 * Peers present in both models whose change restarts the BGP session in BIRD (design §5.3:
 * prefix, filter and BFD changes are soft, timers and passwords are not), for a log line and
 * an Event before applying. Names fields only, never values (passwords).
 */
export function sessionResettingChanges(before: BirdModel, after: BirdModel): SessionReset[] {
  const old = new Map(before.peers.map((p) => [p.protocol, p]));
  const out: SessionReset[] = [];
  for (const p of after.peers) {
    const o = old.get(p.protocol);
    if (!o) continue;
    const fields: string[] = RESETTING_FIELDS.filter((f) => o[f] !== p[f]);
    if (o.gracefulRestart.enabled !== p.gracefulRestart.enabled || o.gracefulRestart.restartTime !== p.gracefulRestart.restartTime) fields.push('gracefulRestart');
    if (o.bfd !== undefined && p.bfd === undefined) fields.push('bfd');
    if (fields.length > 0) out.push({ peer: p.peer, protocol: p.protocol, fields });
  }
  return out;
}
