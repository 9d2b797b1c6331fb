// The BGP planner: raw Node, PodAddressPools, BGPPeers and Secrets in, a validated BirdModel
// out (design §5.1–5.2). Every value that reaches bird.conf is parsed here into a typed value
// and re-serialised from it; no string of an object is copied. One bad pool or peer becomes a
// Problem and is left out, the others keep working. Pure: no I/O, no clock.
import { createHash } from 'node:crypto';
import type { BGPPeer, Node, PodAddressPool, Secret } from '../api/types.js';
import { API_VERSION } from '../api/types.js';
import { problem, type ObjectRef, type Problem } from '../api/problem.js';
import { firstUnmatched, formatRequirement, LabelSelectorError, parseLabelSelector, selectorMatches, type ParsedSelector } from '../util/label-selector.js';
import { comparePrefix, isLinkLocal, parseIp, parsePrefix, prefixInside, type Family, type IpAddr, type IpPrefix } from './ip.js';

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
}

export interface CommunityGroup {
  /** RFC 1997 standard community (asn, value). */
  readonly community: readonly [number, number];
  readonly v4: readonly string[];
  readonly v6: readonly string[];
}

export interface BirdModel {
  /** Canonical IPv4; undefined when the Node has none (then no peers are configured). */
  readonly routerId: string | undefined;
  /** Canonical prefixes, sorted, deduplicated: exactly what may be exported. */
  readonly v4: readonly string[];
  readonly v6: readonly string[];
  readonly communities: readonly CommunityGroup[];
  /** Sorted by protocol name. */
  readonly peers: readonly BirdPeerModel[];
}

export interface BgpPlanInput {
  node: Node;
  pools: PodAddressPool[];
  peers: BGPPeer[];
  secrets: Secret[];
}

export interface BgpPlan {
  model: BirdModel;
  advertised: { prefix: string; pool: string }[];
  problems: Problem[];
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

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
  for (const a of node.status?.addresses ?? []) {
    if (a?.type !== 'InternalIP') continue;
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

function planPools(node: Node, nodeLabels: Record<string, string>, podCidrs: IpPrefix[], pools: PodAddressPool[], problems: Problem[]) {
  const advertised = new Map<string, { prefix: IpPrefix; pool: string }>();
  const communities = new Map<string, { community: [number, number]; prefixes: Map<string, IpPrefix> }>();
  const sorted = [...pools].sort((a, b) => ((a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? -1 : 1));
  for (const pool of sorted) {
    const name = pool.metadata?.name ?? '<unnamed>';
    const obj = ref('PodAddressPool', name);
    const spec = pool.spec ?? ({} as PodAddressPool['spec']);
    const state = spec.approval?.state;
    if (state !== 'Approved') {
      problems.push(problem(obj, 'spec.approval.state', 'PoolNotApproved', `PodAddressPool ${name} is ${state === 'Rejected' ? 'Rejected' : 'not approved yet (Pending)'}: its prefixes are not advertised until the network team approves it (kubectl podlb approve ${name})`, 'Normal'));
      continue;
    }
    const sel = selectorOrProblem(spec.nodeSelector, obj, 'InvalidPool', problems);
    if (!sel) continue;
    if (!selectorMatches(sel, nodeLabels)) {
      const miss = firstUnmatched(sel, nodeLabels);
      problems.push(problem(obj, 'spec.nodeSelector', 'PoolNotSelectingNode', `PodAddressPool ${name} does not select node ${node.metadata?.name} (requirement ${miss ? formatRequirement(miss) : '?'} not met)`, 'Normal'));
      continue;
    }
    const mode = spec.advertise ?? 'NodeCIDR';
    if (mode === 'PodIPs') {
      problems.push(problem(obj, 'spec.advertise', 'AdvertiseModeNotSupported', `PodAddressPool ${name}: advertise: PodIPs arrives in a later release; nothing from this pool is advertised yet (use NodeCIDR)`, 'Normal'));
      continue;
    }
    if (mode !== 'NodeCIDR') {
      problems.push(problem(obj, 'spec.advertise', 'InvalidPool', `PodAddressPool ${name}: spec.advertise must be NodeCIDR or PodIPs, got ${safeDisplay(mode)}`));
      continue;
    }
    if (!Array.isArray(spec.cidrs) || spec.cidrs.length === 0) {
      problems.push(problem(obj, 'spec.cidrs', 'InvalidPool', `PodAddressPool ${name}: spec.cidrs must be a non-empty list of CIDRs`));
      continue;
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
    if (bad) continue;
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
    if (badComm) continue;
    comms = comms.filter((c, i) => comms.findIndex((d) => d[0] === c[0] && d[1] === c[1]) === i);
    let any = false;
    for (const pc of cidrs) {
      for (const nc of podCidrs) {
        let adv: IpPrefix | undefined;
        if (prefixInside(nc, pc)) adv = nc;
        else if (prefixInside(pc, nc)) adv = pc;
        if (!adv) continue;
        any = true;
        if (!advertised.has(adv.text)) advertised.set(adv.text, { prefix: adv, pool: name });
        for (const c of comms) {
          const key = `${c[0]}:${c[1]}`;
          let g = communities.get(key);
          if (!g) communities.set(key, (g = { community: c, prefixes: new Map() }));
          g.prefixes.set(adv.text, adv);
        }
      }
    }
    if (!any) {
      problems.push(problem(obj, 'spec.cidrs', 'NoPodCIDRInPool', `PodAddressPool ${name}: none of node ${node.metadata?.name}'s podCIDRs (${podCidrs.map((p) => p.text).join(', ') || 'none'}) overlap the pool`, 'Normal'));
    }
  }
  return { advertised, communities };
}

function secretValue(secrets: Secret[], ns: string, name: string, key: string): { value?: Buffer; missing?: string } {
  const s = secrets.find((x) => x.metadata?.name === name && (x.metadata?.namespace ?? '') === ns);
  if (!s) return { missing: `Secret ${ns}/${name} not found` };
  const b64 = s.data?.[key];
  if (typeof b64 === 'string') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) return { missing: `Secret ${ns}/${name} key ${key} is not valid base64` };
    return { value: Buffer.from(b64, 'base64') };
  }
  const plain = s.stringData?.[key];
  if (typeof plain === 'string') return { value: Buffer.from(plain, 'utf8') };
  return { missing: `Secret ${ns}/${name} has no key ${key}` };
}

type PeerResult = { ok: true; peer: BirdPeerModel } | { ok: false; problem: Problem };

function planPeer(p: BGPPeer, secrets: Secret[]): PeerResult {
  const name = p.metadata?.name ?? '<unnamed>';
  const obj = ref('BGPPeer', name);
  const spec = (p.spec ?? {}) as BGPPeer['spec'] & Record<string, unknown>;
  const fail = (field: string, msg: string, reason = 'InvalidPeer', severity: Problem['severity'] = 'Warning'): PeerResult => ({
    ok: false,
    problem: problem(obj, field, reason, `BGPPeer ${name}: ${field}: ${msg}; the session is not configured`, severity),
  });

  if (spec.peerAddress === 'Gateway') {
    return fail('spec.peerAddress', 'Gateway (the node default gateway) is not supported yet (arrives in a later release); set an IP address', 'PeerAddressNotSupported');
  }
  const addr = parseIp(spec.peerAddress);
  if (!addr) return fail('spec.peerAddress', `${safeDisplay(spec.peerAddress)} is not an IP address (or Gateway)`);
  if (isLinkLocal(addr)) return fail('spec.peerAddress', `${addr.text} is link-local, which needs an interface: not supported yet`, 'PeerAddressNotSupported');
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
  if (spec.bfd !== undefined) {
    const b = spec.bfd;
    if (typeof b !== 'object' || b === null) return fail('spec.bfd', 'must be an object {enabled, minIntervalMilliseconds, multiplier}');
    if (b.enabled !== undefined && typeof b.enabled !== 'boolean') return fail('spec.bfd.enabled', 'must be true or false');
    if (b.minIntervalMilliseconds !== undefined && (!isInt(b.minIntervalMilliseconds) || b.minIntervalMilliseconds < 1 || b.minIntervalMilliseconds > 60000)) {
      return fail('spec.bfd.minIntervalMilliseconds', 'must be an integer 1-60000');
    }
    if (b.multiplier !== undefined && (!isInt(b.multiplier) || b.multiplier < 1 || b.multiplier > 255)) return fail('spec.bfd.multiplier', 'must be an integer 1-255');
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
  };
  return { ok: true, peer };
}

export function buildBgpPlan(input: BgpPlanInput): BgpPlan {
  const problems: Problem[] = [];
  const { node } = input;
  const nodeName = node.metadata?.name ?? '<unnamed>';
  const nodeRef = ref('Node', nodeName, 'v1');
  const labels = node.metadata?.labels ?? {};

  const rid = routerIdOf(node);
  if (!rid) problems.push(problem(nodeRef, 'status.addresses', 'NoRouterID', `Node ${nodeName} has no IPv4 InternalIP to use as BGP router id; no BGP session is configured`));

  const rawCidrs = node.spec?.podCIDRs ?? (node.spec?.podCIDR ? [node.spec.podCIDR] : []);
  const podCidrs: IpPrefix[] = [];
  rawCidrs.forEach((c, i) => {
    const r = parsePrefix(c);
    if (r.ok) podCidrs.push(r.prefix);
    else problems.push(problem(nodeRef, `spec.podCIDRs[${i}]`, 'InvalidPodCIDR', `Node ${nodeName}: spec.podCIDRs[${i}]: ${r.reason}`));
  });
  if (rawCidrs.length === 0) problems.push(problem(nodeRef, 'spec.podCIDRs', 'NoPodCIDR', `Node ${nodeName} has no spec.podCIDRs: NodeCIDR pools advertise nothing from it`, 'Normal'));

  const { advertised, communities } = planPools(node, labels, podCidrs, input.pools, problems);
  const prefixes = [...advertised.values()].sort((a, b) => comparePrefix(a.prefix, b.prefix));

  const peers: BirdPeerModel[] = [];
  const byAddress = new Map<string, string>();
  const byProtocol = new Map<string, string>();
  const sortedPeers = [...input.peers].sort((a, b) => ((a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? -1 : 1));
  for (const p of sortedPeers) {
    const name = p.metadata?.name ?? '<unnamed>';
    const obj = ref('BGPPeer', name);
    const sel = selectorOrProblem(p.spec?.nodeSelector, obj, 'InvalidPeer', problems);
    if (!sel || !selectorMatches(sel, labels)) continue;
    if (!rid) continue;
    const r = planPeer(p, input.secrets);
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

  const model: BirdModel = {
    routerId: rid?.text,
    v4: famList(4, prefixes.map((p) => p.prefix)),
    v6: famList(6, prefixes.map((p) => p.prefix)),
    communities: groups,
    peers: rid ? peers : [],
  };
  return { model, advertised: prefixes.map((p) => ({ prefix: p.prefix.text, pool: p.pool })), problems };
}

export interface SessionReset {
  peer: string;
  protocol: BirdSymbol;
  /** Fields whose change makes BIRD restart the session, e.g. `holdTime`, `password`. */
  fields: string[];
}

const RESETTING_FIELDS = ['address', 'family', 'localAsn', 'peerAsn', 'holdTime', 'keepaliveTime', 'password', 'multihop', 'sourceAddress'] as const;

/**
 * Peers present in both models whose change restarts the BGP session in BIRD (design §5.3:
 * prefix and filter changes are soft, timers and passwords are not), for a log line and an
 * Event before applying. Names fields only, never values (passwords).
 */
export function sessionResettingChanges(before: BirdModel, after: BirdModel): SessionReset[] {
  const old = new Map(before.peers.map((p) => [p.protocol, p]));
  const out: SessionReset[] = [];
  for (const p of after.peers) {
    const o = old.get(p.protocol);
    if (!o) continue;
    const fields: string[] = RESETTING_FIELDS.filter((f) => o[f] !== p[f]);
    if (o.gracefulRestart.enabled !== p.gracefulRestart.enabled || o.gracefulRestart.restartTime !== p.gracefulRestart.restartTime) fields.push('gracefulRestart');
    if (fields.length > 0) out.push({ peer: p.peer, protocol: p.protocol, fields });
  }
  return out;
}
