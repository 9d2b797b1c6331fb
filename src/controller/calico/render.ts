// Calico mode (design §5.6, `podlb controller --bgp=calico`): podlb's BGPPeers and Approved
// PodAddressPools rendered as Calico `BGPPeer` and `BGPFilter` objects (crd.projectcalico.org/v1,
// as Calico's Kubernetes datastore stores them; cluster-scoped). Pure: no I/O, no clock.
//
// Validation is podlb's own (the parsed BGP configuration, src/bgp/config.ts): the same
// objects are accepted or refused, with the same messages, in both modes, except for what
// Calico handles itself (node selection, the password Secret) or does not render (BFD).
//
// Mapping (podlb -> Calico); "ignored" means rendered without it and a Warning Problem:
//   BGPPeer.peerAddress IP      -> BGPPeer.peerIP
//   BGPPeer.peerAddress Gateway -> refused (Calico has no "node's default gateway" peer)
//   BGPPeer.peerASN             -> BGPPeer.asNumber
//   BGPPeer.localASN            -> Calico's AS (BGPConfiguration `default` spec.asNumber, 64512
//                                  when unset): nothing to write; another AS -> localASNumber
//                                  with Calico >= 3.31, refused before (capabilities.ts)
//   BGPPeer.nodeSelector        -> BGPPeer.nodeSelector (Calico syntax), ANDed with the pools'
//                                  node selectors (see partitions below)
//   BGPPeer.passwordSecretRef   -> BGPPeer.password.secretKeyRef {name, key}; the Secret must be
//                                  in calico-node's namespace (Calico reads no other), else refused
//   gracefulRestart             -> Calico's default restartMode GracefulRestart;
//                                  restartTimeSeconds -> maxRestartTime "<n>s";
//                                  enabled: false -> ignored (Calico cannot turn it off)
//   keepaliveSeconds            -> keepaliveTime "<n>s" with Calico >= 3.32, ignored before
//   holdTimeSeconds, bfd, ebgpMultihop, sourceAddress (an IP) -> ignored (no per-peer field in
//                                  Calico's BGPPeer; Calico renders every session multihop unless
//                                  ttlSecurity is set, and uses the node IP as source)
//   (Calico-only) keepOriginalNextHop, numAllowedLocalASNumbers, node, peerSelector: not set
//   PodAddressPool (Approved)   -> BGPFilter export rules rejecting everything not inside an
//                                  approved CIDR (Reject rules only, so Calico's own export
//                                  still runs after them: filter.ts); no import rules (Calico
//                                  imports everything, as without a filter)
//   PodAddressPool.communities  -> ignored (Calico sets communities per IPPool in BGPConfiguration)
//   PodAddressPool advertise    -> NodeCIDR and PodIPs alike: Calico advertises its own IPAM
//                                  blocks (and borrowed /32s); the filter only limits them to
//                                  the approved CIDRs (PodIPs: a Normal Problem says so)
//   PodAddressPool.nodeSelector -> partitions: with k distinct non-empty pool selectors, each
//                                  podlb BGPPeer becomes 2^k Calico BGPPeers with disjoint node
//                                  selectors (peer && chosen pools' selectors && !(the others)),
//                                  each with its own filter exporting exactly the pools that
//                                  select those nodes; at most MAX_POOL_SELECTORS selectors,
//                                  pools beyond are refused (never exported).
import { createHash } from 'node:crypto';
import { API_VERSION, type BGPPeer, type PodAddressPool } from '../../api/types.js';
import { problem, type ObjectRef, type Problem } from '../../api/problem.js';
import { parsePool } from '../../bgp/config.js';
import { DEFAULT_SECRET_NAMESPACE, parsePeer } from '../../bgp/peer-config.js';
import type { IpPrefix } from '../../net/ip.js';
import { LabelSelectorError, type ParsedSelector } from '../../util/label-selector.js';
import { type CalicoCapabilities, describeCalico, OLDEST_CALICO } from './capabilities.js';
import { exportRules, type CalicoFilterRule } from './filter.js';
import { andSelectors, toCalicoSelector } from './selector.js';

export { exportRules, type CalicoFilterAction, type CalicoFilterRule, type CalicoMatchOperator } from './filter.js';

export const CALICO_API_VERSION = 'crd.projectcalico.org/v1';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'podlb';
/** `BGPPeer/<podlb peer name>`: which podlb object a Calico object was rendered from. */
export const OWNER_ANNOTATION = 'podlb.io/owner';
/** Calico's AS number when BGPConfiguration `default` sets none. */
export const CALICO_DEFAULT_ASN = 64512;
/** 2^3 = 8 Calico BGPPeers per podlb BGPPeer at most. */
export const MAX_POOL_SELECTORS = 3;

export interface CalicoMeta {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface CalicoBGPFilter {
  apiVersion: typeof CALICO_API_VERSION;
  kind: 'BGPFilter';
  metadata: CalicoMeta;
  /** Export rules only: podlb leaves imports to Calico (accept all), see exportRules. */
  spec: { exportV4: CalicoFilterRule[]; exportV6: CalicoFilterRule[] };
}

export interface CalicoBGPPeerSpec {
  peerIP: string;
  asNumber: number;
  nodeSelector: string;
  filters: string[];
  password?: { secretKeyRef: { name: string; key: string } };
  maxRestartTime?: string;
  /** Calico >= 3.31 only. */
  localASNumber?: number;
  /** Calico >= 3.32 only. */
  keepaliveTime?: string;
}

export interface CalicoBGPPeer {
  apiVersion: typeof CALICO_API_VERSION;
  kind: 'BGPPeer';
  metadata: CalicoMeta;
  spec: CalicoBGPPeerSpec;
}

export type CalicoObject = CalicoBGPPeer | CalicoBGPFilter;

export interface CalicoRenderInput {
  peers: readonly BGPPeer[];
  pools: readonly PodAddressPool[];
  /** Calico's AS: BGPConfiguration `default` spec.asNumber; CALICO_DEFAULT_ASN when unset. */
  clusterAsn?: number;
  /** Where calico-node runs (`calico-system` with the operator, `kube-system` with manifests). */
  calicoNamespace?: string;
  /** What the cluster's Calico version can express; the oldest supported when unset. */
  capabilities?: CalicoCapabilities;
}

export interface CalicoRender {
  /** Sorted by name. Every peer's filter is in `filters`. */
  peers: CalicoBGPPeer[];
  filters: CalicoBGPFilter[];
  problems: Problem[];
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nameOf = (o: unknown): string => {
  const n = isMap(o) && isMap(o.metadata) ? o.metadata.name : undefined;
  return typeof n === 'string' && n !== '' ? n : '<unnamed>';
};
const ref = (kind: string, name: string): ObjectRef => ({ apiVersion: API_VERSION, kind, name });
const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A parsed object's node selector in Calico's syntax, or its problem (not rendered). */
function selectorOf(
  c: { obj: ObjectRef; selector: ParsedSelector | undefined; selectorProblem?: Problem },
  problems: Problem[],
): { parsed: ParsedSelector; calico: string } | undefined {
  const notRendered = (p: Problem) => problems.push({ ...p, message: `${p.message}; not rendered for Calico` });
  if (!c.selector) {
    notRendered(c.selectorProblem!);
    return undefined;
  }
  try {
    return { parsed: c.selector, calico: toCalicoSelector(c.selector, 'spec.nodeSelector') };
  } catch (err) {
    if (!(err instanceof LabelSelectorError)) throw err;
    notRendered(problem(c.obj, err.field, c.obj.kind === 'BGPPeer' ? 'InvalidPeer' : 'InvalidPool', `${c.obj.kind} ${c.obj.name}: ${err.message}`));
    return undefined;
  }
}

interface CalicoPool {
  name: string;
  /** Calico expression; undefined = every node. */
  selector?: string;
  cidrs: IpPrefix[];
}

function validPools(pools: readonly PodAddressPool[], problems: Problem[]): CalicoPool[] {
  const out: CalicoPool[] = [];
  for (const c of [...pools].sort((a, b) => byText(nameOf(a), nameOf(b))).map(parsePool)) {
    if (c.state !== 'Approved') continue; // pool-status reports approval
    const sel = selectorOf(c, problems);
    if (!sel) continue;
    if (c.problems.length > 0) {
      problems.push(...c.problems);
      continue;
    }
    if (c.mode === 'PodIPs') {
      problems.push(
        problem(
          c.obj,
          'spec.advertise',
          'CalicoAdvertisesBlocks',
          `PodAddressPool ${c.name}: advertise PodIPs is not expressible in Calico mode: Calico advertises its IPAM blocks inside the pool (and /32s of borrowed addresses), the BGPFilter only limits exports to the pool's CIDRs`,
          'Normal',
        ),
      );
    }
    if (c.communities.length > 0) {
      problems.push(
        problem(
          c.obj,
          'spec.communities',
          'CalicoFieldIgnored',
          `PodAddressPool ${c.name}: communities cannot be set by a Calico BGPFilter (Calico attaches communities per IPPool in BGPConfiguration prefixAdvertisements); the prefixes are exported without them`,
        ),
      );
    }
    out.push({ name: c.name, cidrs: [...c.cidrs], ...(sel.parsed.requirements.length > 0 ? { selector: sel.calico } : {}) });
  }
  return out;
}

interface CalicoPeerBase {
  name: string;
  obj: ObjectRef;
  selector: string;
  spec: Omit<CalicoBGPPeerSpec, 'nodeSelector' | 'filters'>;
}

function validPeer(p: BGPPeer, clusterAsn: number, calicoNamespace: string, caps: CalicoCapabilities, problems: Problem[]): CalicoPeerBase | undefined {
  const name = nameOf(p);
  const obj = ref('BGPPeer', name);
  const spec = (isMap(p?.spec) ? p.spec : {}) as Partial<BGPPeer['spec']> & Record<string, unknown>;
  const refuse = (field: string, reason: string, msg: string): undefined => {
    problems.push(problem(obj, field, reason, `BGPPeer ${name}: ${field}: ${msg}; no Calico BGPPeer is rendered for it`));
    return undefined;
  };
  const ignored = (field: string, msg: string) => problems.push(problem(obj, field, 'CalicoFieldIgnored', `BGPPeer ${name}: ${field}: ${msg}`));

  // podlb's peer validation, the session's own fields only: the password Secret is Calico's
  // to read (checked below), and BFD is not rendered, so its multihop/sourceAddress rule does
  // not apply here.
  const c = parsePeer(p, []);
  const sel = selectorOf(c, problems);
  if (!sel) return undefined;
  if (c.gateway)
    return refuse(
      'spec.peerAddress',
      'CalicoCannotExpress',
      `Gateway (the node's default gateway) has no Calico equivalent: a Calico BGPPeer needs a fixed peerIP`,
    );
  if (c.sessionProblem || !c.settings?.address) {
    if (c.sessionProblem) problems.push(c.sessionProblem);
    return undefined;
  }
  const model = { ...c.settings, address: c.settings.address.text };

  if (model.localAsn !== clusterAsn && !caps.perPeerLocalAsn) {
    return refuse(
      'spec.localASN',
      'LocalASNMismatch',
      `${model.localAsn} differs from Calico's AS ${clusterAsn} (BGPConfiguration default spec.asNumber): ${describeCalico(caps)} sets the local AS per node (a per-peer localASNumber needs Calico 3.31 or later); set localASN to ${clusterAsn}, change Calico's AS or upgrade Calico`,
    );
  }

  let password: CalicoBGPPeerSpec['password'];
  const psr: unknown = spec.passwordSecretRef;
  if (psr !== undefined) {
    if (!isMap(psr) || typeof psr.name !== 'string' || typeof psr.key !== 'string' || (psr.namespace !== undefined && typeof psr.namespace !== 'string')) {
      return refuse('spec.passwordSecretRef', 'InvalidPeer', 'must be {namespace, name, key} with string values');
    }
    const ns = (psr.namespace as string | undefined) ?? DEFAULT_SECRET_NAMESPACE;
    if (ns !== calicoNamespace) {
      return refuse(
        'spec.passwordSecretRef.namespace',
        'CalicoCannotExpress',
        `Calico reads BGP passwords only from calico-node's namespace ${calicoNamespace}, the Secret is in ${ns}: copy it to ${calicoNamespace} and point passwordSecretRef there (calico-node also needs a Role to read it)`,
      );
    }
    password = { secretKeyRef: { name: psr.name, key: psr.key } };
  }

  if (spec.holdTimeSeconds !== undefined) ignored('spec.holdTimeSeconds', `Calico's BGPPeer has no hold time; its BIRD uses its own default (240 s)`);
  if (spec.keepaliveSeconds !== undefined && !caps.perPeerKeepalive)
    ignored(
      'spec.keepaliveSeconds',
      `${describeCalico(caps)} has no per-peer keepalive time (keepaliveTime needs Calico 3.32 or later); its BIRD uses its own default`,
    );
  if (isMap(spec.bfd) && spec.bfd.enabled !== false) ignored('spec.bfd', `BFD cannot be set per peer in Calico's BGPPeer; the session runs without BFD`);
  if (model.multihop !== undefined)
    ignored(
      'spec.ebgpMultihop',
      `Calico's BGPPeer has no multihop TTL: Calico renders every session multihop (no TTL limit) unless the Calico BGPPeer sets ttlSecurity, which podlb does not`,
    );
  if (model.sourceAddress !== undefined) ignored('spec.sourceAddress', `Calico's BGPPeer takes no source IP (only UseNodeIP or None); the node's IP is used`);
  if (!model.gracefulRestart.enabled)
    ignored('spec.gracefulRestart.enabled', `Calico cannot turn graceful restart off (restartMode GracefulRestart or LongLivedGracefulRestart); it stays on`);

  return {
    name,
    obj,
    selector: sel.calico,
    spec: {
      peerIP: model.address,
      asNumber: model.peerAsn,
      ...(password ? { password } : {}),
      ...(model.gracefulRestart.enabled && model.gracefulRestart.restartTime !== undefined ? { maxRestartTime: `${model.gracefulRestart.restartTime}s` } : {}),
      ...(model.localAsn !== clusterAsn ? { localASNumber: model.localAsn } : {}),
      ...(caps.perPeerKeepalive && spec.keepaliveSeconds !== undefined && model.keepaliveTime !== undefined
        ? { keepaliveTime: `${model.keepaliveTime}s` }
        : {}),
    },
  };
}

function meta(name: string, owner: string): CalicoMeta {
  return { name, labels: { [MANAGED_BY_LABEL]: MANAGED_BY }, annotations: { [OWNER_ANNOTATION]: `BGPPeer/${owner}` } };
}

const short = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 6);

/** `podlb-<peer>` or, per pool-selector partition, `podlb-<peer>-<6 hex>`; at most 253 characters. */
export function calicoName(peer: string, partition?: string): string {
  const base = `podlb-${peer}`;
  if (partition === undefined) return base.length <= 253 ? base : `${base.slice(0, 246)}-${short(peer)}`;
  return `${base.slice(0, 246)}-${short(`${peer}\u0000${partition}`)}`;
}

export function renderCalico(input: CalicoRenderInput): CalicoRender {
  const problems: Problem[] = [];
  const clusterAsn = input.clusterAsn ?? CALICO_DEFAULT_ASN;
  const calicoNamespace = input.calicoNamespace ?? 'calico-system';
  const pools = validPools(input.pools, problems);

  // Pools for every node, and groups of pools sharing one node selector.
  const always = pools.filter((p) => p.selector === undefined);
  const groups = new Map<string, CalicoPool[]>();
  for (const p of pools) if (p.selector !== undefined) groups.set(p.selector, [...(groups.get(p.selector) ?? []), p]);
  const keys = [...groups.keys()].sort(byText);
  for (const k of keys.slice(MAX_POOL_SELECTORS)) {
    for (const p of groups.get(k)!) {
      problems.push(
        problem(
          ref('PodAddressPool', p.name),
          'spec.nodeSelector',
          'CalicoCannotExpress',
          `PodAddressPool ${p.name}: more than ${MAX_POOL_SELECTORS} distinct pool node selectors (${keys.length}) would need ${2 ** keys.length} Calico BGPPeers per peer; this pool's selector (${k}) is one too many and its CIDRs are not exported: give pools the same nodeSelector where possible`,
        ),
      );
    }
  }
  const used = keys.slice(0, MAX_POOL_SELECTORS);

  const peers: CalicoBGPPeer[] = [];
  const filters: CalicoBGPFilter[] = [];
  const sortedPeers = [...input.peers].filter(isMap).sort((a, b) => byText(nameOf(a), nameOf(b)));
  // Two podlb peers with one address (an anycast ToR address on every rack, split by
  // nodeSelector) are rendered both; where their nodes overlap, clash.ts keeps the first.
  for (const raw of sortedPeers) {
    const base = validPeer(raw, clusterAsn, calicoNamespace, input.capabilities ?? OLDEST_CALICO, problems);
    if (!base) continue;
    for (let mask = 0; mask < 2 ** used.length; mask++) {
      const inKeys = used.filter((_, i) => mask & (1 << i));
      const outKeys = used.filter((_, i) => !(mask & (1 << i)));
      const exported = [...always, ...inKeys.flatMap((k) => groups.get(k)!)];
      const name = used.length === 0 ? calicoName(base.name) : calicoName(base.name, inKeys.join('\u0000') || '<none>');
      filters.push({
        apiVersion: CALICO_API_VERSION,
        kind: 'BGPFilter',
        metadata: meta(name, base.name),
        spec: {
          ...exportRules(exported.flatMap((p) => p.cidrs)),
        },
      });
      peers.push({
        apiVersion: CALICO_API_VERSION,
        kind: 'BGPPeer',
        metadata: meta(name, base.name),
        spec: {
          peerIP: base.spec.peerIP,
          asNumber: base.spec.asNumber,
          nodeSelector: andSelectors([base.selector, ...inKeys], outKeys),
          filters: [name],
          ...(base.spec.password ? { password: base.spec.password } : {}),
          ...(base.spec.maxRestartTime ? { maxRestartTime: base.spec.maxRestartTime } : {}),
          ...(base.spec.localASNumber !== undefined ? { localASNumber: base.spec.localASNumber } : {}),
          ...(base.spec.keepaliveTime ? { keepaliveTime: base.spec.keepaliveTime } : {}),
        },
      });
    }
  }
  const byName = (a: CalicoObject, b: CalicoObject) => byText(a.metadata.name, b.metadata.name);
  return { peers: peers.sort(byName), filters: filters.sort(byName), problems };
}
