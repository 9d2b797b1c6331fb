// What calico-node's confd computes for ONE node from the Calico objects of a cluster: the
// data its BIRD templates are filled with (Calico's types.BirdBGPConfig). Followed:
// projectcalico/calico tag v3.32.1 (commit 0ca9d1b93644778cafdf1812f3dda02ac0c361e8),
// confd/pkg/backends/calico/client.go (updatePeersV1, the BGPConfiguration keys, the global
// defaults), confd/pkg/backends/calico/bgp_processor.go (GetBirdBGPConfig: node, peers,
// import/export filter blocks, communities, IP pools) and libcalico-go's IPPool v3->v1
// conversion. Read, not copied; text.ts writes the files. An IPPool's blockSize and
// natOutgoing do not reach BIRD (IPAM and Felix use them): the blocks come from the
// BlockAffinities. IPv4 and IPv6 are computed apart, as confd's `getBGPConfig 4` and
// `getBGPConfig 6` do for bird.cfg and bird6.cfg; the router ID is the node's IPv4 address in
// both (a BGP router ID has 4 octets).
//
// Input is the objects as the Kubernetes datastore holds them (crd.projectcalico.org/v1;
// their spec is projectcalico.org/v3's). That datastore has no Calico Node resource: a Calico
// Node is the Kubernetes Node, its BGP fields in the annotations libcalico-go's
// K8sNodeToCalico reads (libcalico-go/lib/backend/k8s/resources/node.go), its labels the
// Node's. What a lab node cannot show is refused with an error
// rather than approximated: IPIP pools (they need the krt_tunnel attribute of Calico's BIRD
// fork), route reflectors, peerSelector/localWorkloadSelector/reachableBy peers, reverse
// peerings onto this node, service advertisement (static routes), deleted affinities, a
// listen port or address (BIRD 2 has no global `listen bgp`). Two
// BGPPeers that give this node the same peering key (peer IP and port) are refused too:
// confd keeps the first one of a Go map iteration, so which one wins is not defined.
import { createHash } from 'node:crypto';
import { type Family, formatAddr, maxLength, parseIp } from '../../src/net/ip.js';
import { calicoSelectorMatches } from './selector.js';

export interface CalicoObj {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, any>;
}

/** The Kubernetes Node annotations that carry a Calico Node's BGP spec. */
export const NODE_ANNOTATIONS = {
  ipv4Address: 'projectcalico.org/IPv4Address',
  ipv6Address: 'projectcalico.org/IPv6Address',
  asNumber: 'projectcalico.org/ASNumber',
  routeReflectorClusterID: 'projectcalico.org/RouteReflectorClusterID',
} as const;

export interface CalicoDatastore {
  /** Kubernetes Nodes (v1), Calico's BGP fields in NODE_ANNOTATIONS. */
  nodes: CalicoObj[];
  /** `default` and `node.<name>`. */
  bgpConfigurations: CalicoObj[];
  ipPools: CalicoObj[];
  /** spec: {node, cidr, state, deleted, type}. */
  blockAffinities: CalicoObj[];
  bgpPeers: CalicoObj[];
  bgpFilters: CalicoObj[];
  /** BGP passwords: Secrets of calico-node's namespace, `name/key` -> value. */
  secrets?: Record<string, string>;
}

export interface BirdPeer {
  name: string;
  ip: string;
  port?: number;
  asNumber: string;
  localAsNumber?: string;
  /** `off`, or `on;\n  multihop N` as Calico writes it. */
  ttlSecurity: string;
  sourceAddr?: string;
  importFilter: string;
  exportFilter: string;
  password?: string;
  gracefulRestart?: string;
  keepaliveTime?: string;
  passive: boolean;
  nextHopSelf: boolean;
  nextHopKeep: boolean;
  numAllowLocalAs?: string;
}

export interface BirdNodeConfig {
  /** 4: bird.cfg and its includes; 6: bird6.cfg and its includes. */
  version: Family;
  nodeName: string;
  /** The node's address of this IP version; '' when it has none (confd then writes no BGP part). */
  nodeIP: string;
  asNumber: string;
  routerId: string;
  debugMode: string;
  directInterfaces: string;
  normalRoutePriority: number;
  peers: BirdPeer[];
  /** prefixAdvertisements: CIDR -> BIRD add statements. */
  communities: { cidr: string; addStatements: string[] }[];
  exportRejectDisabledPools: string[];
  exportAcceptEnabledPools: string[];
  kernelFilterForPools: string[];
  /** This node's blocks of this IP version (`ls` order: the key text sorted) and their affinity state. */
  blocks: { cidr: string; state: string }[];
  /** BGPFilters in key order, for the function definitions. */
  filters: CalicoObj[];
}

/** 2^31-1: Calico converts between route priority and bgp_local_pref with it. */
export const BIRD_INT_MAX = 2147483647;
const OVERRIDE_PREFERENCE = 200;

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const refuse = (what: string): never => {
  throw new Error(`calico-confd: ${what} is not modelled by this lab (see testkit/calico-confd/model.ts)`);
};

/** Go's time.Duration text (`120s`, `2m30s`, `1h`) in whole seconds, rounded as confd does. */
export function durationSeconds(d: string): number {
  const unit: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
  const parts = [...d.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)];
  if (d === '' || parts.map((p) => p[0]).join('') !== d) throw new Error(`not a duration: ${d}`);
  return Math.round(parts.reduce((t, p) => t + Number(p[1]) * unit[p[2]!]!, 0));
}

const familyOfText = (cidrOrIp: string): Family => (cidrOrIp.includes(':') ? 6 : 4);

/** A CIDR as Go's net.ParseCIDR and IPNet.String() give it: host bits cleared, canonical address text. */
function networkOf(cidr: string): string {
  const [ip, len] = cidr.split('/');
  const addr = parseIp(ip) ?? refuse(`a CIDR Go could not parse (${cidr})`);
  const host = BigInt(maxLength(addr.family) - Number(len));
  return `${formatAddr(addr.family, (addr.value >> host) << host)}/${Number(len)}`;
}

/** A BGPPeer's peerIP split as Go's net.SplitHostPort does: `1.2.3.4:179` and `[fd00::1]:179` carry a port. */
function splitHostPort(peerIP: string): { host: string; port?: number } {
  const m = /^\[([^\]]*)\]:(\d+)$/.exec(peerIP) ?? /^([^:[\]]*):(\d+)$/.exec(peerIP);
  return m && Number(m[2]) < 65536 ? { host: m[1]!, port: Number(m[2]) } : { host: peerIP };
}

/** A Kubernetes Node as a Calico Node's BGP spec: addresses (without their length), AS, RR cluster ID. */
export function calicoNodeBgp(node: CalicoObj): { ipv4?: string; ipv6?: string; asNumber?: string; rrClusterID?: string } {
  const a = node.metadata.annotations ?? {};
  // K8sNodeToCalico drops an address annotation its validator refuses; so does this.
  const addr = (key: string, family: Family) => {
    const ip = parseIp(a[key]?.split('/')[0]);
    return ip?.family === family ? ip.text : undefined;
  };
  const ipv4 = addr(NODE_ANNOTATIONS.ipv4Address, 4);
  const ipv6 = addr(NODE_ANNOTATIONS.ipv6Address, 6);
  const asNumber = a[NODE_ANNOTATIONS.asNumber];
  const rrClusterID = a[NODE_ANNOTATIONS.routeReflectorClusterID];
  return { ...(ipv4 ? { ipv4 } : {}), ...(ipv6 ? { ipv6 } : {}), ...(asNumber ? { asNumber } : {}), ...(rrClusterID ? { rrClusterID } : {}) };
}

const nodeAddress = (node: CalicoObj, version: Family) => calicoNodeBgp(node)[version === 4 ? 'ipv4' : 'ipv6'];

function filterStatements(filterNames: readonly string[], ds: CalicoDatastore, dir: 'import' | 'export', sameAS: boolean, version: Family): string[] {
  const lines: string[] = [];
  for (const name of filterNames) {
    const f = ds.bgpFilters.find((x) => x.metadata.name === name);
    const rules: any[] | undefined = f?.spec?.[`${dir}V${version}`];
    if (!f || !rules || rules.length === 0) continue;
    const call = bgpFilterFunctionName(name, dir, version);
    lines.push(rules.some((r) => r.peerType) ? `${call}(${sameAS});` : `${call}();`);
  }
  return lines;
}

/** Calico's `'bgp_<name>_<dir>FilterV4'` (or V6), the name cut and hashed to BIRD's 64-character limit. */
export function bgpFilterFunctionName(filterName: string, dir: 'import' | 'export', version: Family = 4): string {
  return `'bgp_${truncateAndHash(filterName, 64 - 'bgp__importFilterV4'.length)}_${dir}FilterV${version}'`;
}

function truncateAndHash(name: string, maxLen: number): string {
  if (name.length <= maxLen) return name;
  const hex = createHash('sha256').update(name).digest('hex').toUpperCase();
  return `${name.slice(0, maxLen - 17)}_${hex.slice(0, 16)}`;
}

function importFilter(filters: readonly string[], ds: CalicoDatastore, sameAS: boolean, prio: number, version: Family): string {
  return [
    ...filterStatements(filters, ds, 'import', sameAS, version),
    `if (defined(bgp_local_pref)&&(bgp_local_pref > ${BIRD_INT_MAX - prio})) then`,
    `  preference = ${OVERRIDE_PREFERENCE};`,
    'accept;',
  ].join('\n    ');
}

function exportFilter(filters: readonly string[], ds: CalicoDatastore, sameAS: boolean, prio: number, version: Family): string {
  return [
    'if (defined(source) && source = RTS_BGP && defined(bgp_local_pref)) then {',
    `  krt_metric = ${BIRD_INT_MAX} - bgp_local_pref;`,
    '} else {',
    `  if (!defined(krt_metric)) then { krt_metric = ${prio}; }`,
    `  bgp_local_pref = ${BIRD_INT_MAX} - krt_metric;`,
    '}',
    ...filterStatements(filters, ds, 'export', sameAS, version),
    `calico_export_to_bgp_peers(${sameAS});`,
    'reject;',
  ].join('\n    ');
}

const COMMUNITY = /^\d+:\d+(:\d+)?$/;

function communityRules(cfg: Record<string, any> | undefined, version: Family): BirdNodeConfig['communities'] {
  const named: { name: string; value: string }[] = cfg?.communities ?? [];
  const out: BirdNodeConfig['communities'] = [];
  for (const adv of (cfg?.prefixAdvertisements ?? []) as { cidr?: string; communities?: string[] }[]) {
    if (!adv.cidr || familyOfText(adv.cidr) !== version) continue;
    const values = new Set<string>();
    for (const c of adv.communities ?? []) {
      if (COMMUNITY.test(c)) values.add(c);
      else {
        const d = named.find((n) => n.name === c);
        if (d) values.add(d.value);
      }
    }
    const addStatements = [...values].sort(byText).flatMap((c) => {
      const p = c.split(':');
      if (p.length === 2) return [`bgp_community.add((${p[0]}, ${p[1]}));`];
      if (p.length === 3) return [`bgp_large_community.add((${p[0]}, ${p[1]}, ${p[2]}));`];
      return [];
    });
    if (addStatements.length > 0) out.push({ cidr: adv.cidr, addStatements });
  }
  return out;
}

function poolStatements(
  ds: CalicoDatastore,
  programClusterRoutes: boolean,
  version: Family,
): Pick<BirdNodeConfig, 'exportRejectDisabledPools' | 'exportAcceptEnabledPools' | 'kernelFilterForPools'> {
  const reject: string[] = [];
  const accept: string[] = [];
  const kernel: string[] = [];
  for (const p of ds.ipPools) {
    const cidr = networkOf(p.spec?.cidr);
    if (familyOfText(cidr) !== version) continue;
    const stmt = (action: string, comment?: string) => `  if (net ~ ${cidr}) then { ${action}; }${comment ? ` # ${comment}` : ''}`;
    const ipip = p.spec?.ipipMode === 'Always' || p.spec?.ipipMode === 'CrossSubnet';
    const vxlan = p.spec?.vxlanMode === 'Always' || p.spec?.vxlanMode === 'CrossSubnet';
    if (p.spec?.disableBGPExport) reject.push(stmt('reject', 'BGP export is disabled.'));
    else accept.push(stmt('accept'));
    // Into bird6's kernel filter confd writes rejects only: it ends in `accept;` anyway, and
    // bird's accepts are there for the krt_tunnel of IPIP, which IPv6 pools cannot use.
    if (vxlan) kernel.push(stmt('reject', 'VXLAN routes are handled by Felix.'));
    else if (ipip && programClusterRoutes && version === 4) refuse(`IPIP pool ${p.metadata.name} (krt_tunnel exists only in Calico's BIRD fork)`);
    else if (!programClusterRoutes) kernel.push(stmt('reject', 'Cluster routes are handled by Felix.'));
    else if (version === 4) kernel.push(stmt('accept'));
  }
  return { exportRejectDisabledPools: reject.sort(byText), exportAcceptEnabledPools: accept.sort(byText), kernelFilterForPools: kernel.sort(byText) };
}

interface PeerKeyed {
  key: string;
  global: boolean;
  source: string;
  peer: BirdPeer;
}

/** confd's BIRD data for `nodeName`: IPv4 (bird.cfg and its includes) or IPv6 (bird6.cfg and its includes). */
export function confdNodeConfig(ds: CalicoDatastore, nodeName: string, version: Family = 4): BirdNodeConfig {
  const node = ds.nodes.find((n) => n.metadata.name === nodeName) ?? refuse(`a node without a Kubernetes Node object (${nodeName})`);
  const bgp = calicoNodeBgp(node);
  if (bgp.rrClusterID) refuse('a route reflector node');
  const routerId = bgp.ipv4 ?? refuse(`node ${nodeName} without a ${NODE_ANNOTATIONS.ipv4Address} annotation`);
  const nodeIP = nodeAddress(node, version) ?? '';
  const global = ds.bgpConfigurations.find((c) => c.metadata.name === 'default')?.spec;
  const perNode = ds.bgpConfigurations.find((c) => c.metadata.name === `node.${nodeName}`)?.spec;
  for (const f of ['serviceClusterIPs', 'serviceExternalIPs', 'serviceLoadBalancerIPs']) if (global?.[f]?.length) refuse(`BGPConfiguration ${f}`);
  const asNumber = String(bgp.asNumber ?? global?.asNumber ?? 64512);
  const logLevel = String(perNode?.logSeverityScreen || global?.logSeverityScreen || 'info').toLowerCase();
  const level = logLevel === 'debug' || logLevel === 'info' ? logLevel : 'none';
  const prio: number = global?.[version === 4 ? 'ipv4NormalRoutePriority' : 'ipv6NormalRoutePriority'] ?? 1024;
  // BIRD 2 has no global `listen bgp`: Calico's listen line cannot be written for it.
  if (perNode?.listenPort || global?.listenPort || global?.bindMode === 'NodeIP') refuse('BGPConfiguration listenPort or bindMode NodeIP');
  const ignored: string[] | undefined = global?.ignoredInterfaces;
  const protocolName = (prefix: string, ip: string, port?: number) =>
    `${prefix}_${ip.replaceAll(version === 4 ? '.' : ':', '_')}${port ? `_port_${port}` : ''}`;

  const labelsOf = (name: string) => ds.nodes.find((n) => n.metadata.name === name)?.metadata.labels ?? {};
  const selects = (sel: string, name: string) => calicoSelectorMatches(sel, labelsOf(name));
  const secret = (ref: { name: string; key: string } | undefined) => (ref ? ds.secrets?.[`${ref.name}/${ref.key}`] : undefined);

  const keyed: PeerKeyed[] = [];
  // Mesh peers: every other node with an address of this version (the ToR lab turns the mesh off).
  if ((global?.nodeToNodeMeshEnabled ?? true) !== false) {
    for (const other of ds.nodes) {
      const ip = nodeAddress(other, version);
      const otherBgp = calicoNodeBgp(other);
      if (!ip || ip === nodeIP || otherBgp.rrClusterID) continue;
      const peerAS = otherBgp.asNumber ?? asNumber;
      const sameAS = peerAS === asNumber;
      keyed.push({
        key: `mesh/${ip}`,
        global: true,
        source: 'mesh',
        peer: {
          name: protocolName('Mesh', ip),
          ip,
          asNumber: peerAS,
          ttlSecurity: '',
          sourceAddr: nodeIP,
          importFilter: importFilter([], ds, sameAS, prio, version),
          exportFilter: exportFilter([], ds, sameAS, prio, version),
          ...(global?.nodeMeshMaxRestartTime ? { gracefulRestart: String(durationSeconds(global.nodeMeshMaxRestartTime)) } : {}),
          passive: ip > nodeIP,
          nextHopSelf: false,
          nextHopKeep: false,
        },
      });
    }
  }

  // Explicit peers: the global ones first, then node-specific ones not shadowed by a global one.
  for (const globalPass of [true, false]) {
    for (const p of [...ds.bgpPeers].sort((a, b) => byText(a.metadata.name, b.metadata.name))) {
      const s = p.spec ?? {};
      if (s.peerSelector || s.localWorkloadSelector || s.reachableBy) refuse(`BGPPeer ${p.metadata.name}: peerSelector/localWorkloadSelector/reachableBy`);
      const isGlobal = !s.nodeSelector && !s.node;
      if (globalPass !== isGlobal) continue;
      if (!globalPass && !(s.node === nodeName || (s.nodeSelector && selects(s.nodeSelector, nodeName)))) continue;
      // A peer of the other IP version belongs to the other BIRD; an unparsable one to none (confd logs it).
      const { host, port } = splitHostPort(String(s.peerIP ?? ''));
      const peerIP = parseIp(host);
      if (peerIP?.family !== version || peerIP.text === nodeIP) continue;
      const ip = peerIP.text;
      const peerAS = String(s.asNumber);
      const localAS = s.localASNumber ? String(s.localASNumber) : undefined;
      const sameAS = peerAS === (localAS ?? asNumber);
      const sourceAddress = s.sourceAddress || 'UseNodeIP';
      const ttl: number = s.ttlSecurity ?? 0;
      const nextHopMode: string | undefined = s.nextHopMode;
      const filters: string[] = s.filters ?? [];
      const key = `${ip}:${port ?? 0}`;
      const peer: BirdPeer = {
        name: protocolName(globalPass ? 'Global' : 'Node', ip, port),
        ip,
        ...(port ? { port } : {}),
        asNumber: peerAS,
        ...(localAS ? { localAsNumber: localAS } : {}),
        ttlSecurity: ttl > 0 ? `on;\n  multihop ${ttl}` : 'off',
        ...(sourceAddress === 'UseNodeIP' ? { sourceAddr: nodeIP } : {}),
        importFilter: importFilter(filters, ds, sameAS, prio, version),
        exportFilter: exportFilter(filters, ds, sameAS, prio, version),
        ...(secret(s.password?.secretKeyRef) !== undefined ? { password: secret(s.password?.secretKeyRef)! } : {}),
        ...(s.maxRestartTime ? { gracefulRestart: String(durationSeconds(s.maxRestartTime)) } : {}),
        ...(s.keepaliveTime ? { keepaliveTime: String(durationSeconds(s.keepaliveTime)) } : {}),
        // A global peering between two Calico nodes: the higher IP waits for the lower one.
        passive: globalPass && ds.nodes.some((n) => nodeAddress(n, version) === ip) && ip > nodeIP,
        nextHopSelf: nextHopMode === 'Self',
        nextHopKeep: nextHopMode === 'Keep' || (nextHopMode === undefined && s.keepOriginalNextHop === true && peerAS !== (localAS ?? asNumber)),
        ...(s.numAllowedLocalASNumbers > 0 ? { numAllowLocalAs: String(s.numAllowedLocalASNumbers) } : {}),
      };
      const clash = keyed.find((k) => k.key === key);
      if (clash && !globalPass && clash.global) continue;
      if (clash && JSON.stringify(clash.peer) !== JSON.stringify(peer)) {
        refuse(`two BGPPeers (${clash.source}, ${p.metadata.name}) for peer ${key} on node ${nodeName}: confd keeps one in Go map order`);
      }
      if (!clash) keyed.push({ key, global: globalPass, source: p.metadata.name, peer });
    }
  }
  for (const p of ds.bgpPeers) {
    const ip = parseIp(splitHostPort(String(p.spec?.peerIP ?? '')).host)?.text;
    if (ip && (ip === bgp.ipv4 || ip === bgp.ipv6) && p.spec?.reversePeering !== 'Manual')
      refuse(`BGPPeer ${p.metadata.name}: a reverse peering onto ${nodeName}`);
  }

  const blocks = ds.blockAffinities
    .filter((b) => b.spec?.node === nodeName && (b.spec?.type || 'host') === 'host' && familyOfText(b.spec?.cidr ?? '') === version)
    .flatMap((b) => {
      if (String(b.spec?.deleted) === 'true') refuse(`a deleted block affinity (${b.metadata.name})`);
      // confd treats a pending affinity as absent.
      return b.spec?.state === 'pending' ? [] : [{ cidr: networkOf(b.spec!.cidr), state: String(b.spec?.state ?? '') }];
    })
    .sort((a, b) => byText(a.cidr.replace('/', '-'), b.cidr.replace('/', '-')));

  return {
    version,
    nodeName,
    nodeIP,
    asNumber,
    routerId,
    debugMode: level === 'none' ? '' : level === 'debug' ? 'all' : '{ states }',
    directInterfaces: [...(ignored ?? []).map((i) => `-"${i}"`), '-"cali*"', '-"kube-ipvs*"', '"*"'].join(', '),
    normalRoutePriority: prio,
    peers: keyed.map((k) => k.peer).sort((a, b) => byText(a.name, b.name)),
    communities: communityRules(perNode?.prefixAdvertisements ? perNode : global, version),
    ...poolStatements(ds, global?.programClusterRoutes !== 'Disabled', version),
    blocks,
    filters: [...ds.bgpFilters].sort((a, b) => byText(a.metadata.name, b.metadata.name)),
  };
}
