// What calico-node's confd computes for ONE node from the Calico objects of a cluster: the
// data its BIRD templates are filled with (Calico's types.BirdBGPConfig). Followed:
// projectcalico/calico tag v3.32.1 (commit 0ca9d1b93644778cafdf1812f3dda02ac0c361e8),
// confd/pkg/backends/calico/client.go (updatePeersV1, the BGPConfiguration keys, the global
// defaults), confd/pkg/backends/calico/bgp_processor.go (GetBirdBGPConfig: node, peers,
// import/export filter blocks, communities, IP pools) and libcalico-go's IPPool v3->v1
// conversion. Read, not copied; text.ts writes the files. An IPPool's blockSize and
// natOutgoing do not reach BIRD (IPAM and Felix use them): the blocks come from the
// BlockAffinities.
//
// Input is the objects as the Kubernetes datastore holds them (crd.projectcalico.org/v1;
// their spec is projectcalico.org/v3's). What a lab node cannot show is refused with an error
// rather than approximated: IPIP pools (they need the krt_tunnel attribute of Calico's BIRD
// fork), route reflectors, peerSelector/localWorkloadSelector/reachableBy peers, reverse
// peerings onto this node, service advertisement (static routes), deleted affinities, a
// listen port or address (BIRD 2 has no global `listen bgp`). Two
// BGPPeers that give this node the same peering key (peer IP and port) are refused too:
// confd keeps the first one of a Go map iteration, so which one wins is not defined.
import { createHash } from 'node:crypto';
import { calicoSelectorMatches } from './selector.js';

export interface CalicoObj {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, any>;
}

export interface CalicoDatastore {
  /** Calico Node objects (labels as Kubernetes' Node; spec.bgp.ipv4Address, asNumber). */
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
  nodeName: string;
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
  /** This node's IPv4 blocks (`ls` order: the key text sorted) and their affinity state. */
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

const v4 = (cidrOrIp: string) => !cidrOrIp.includes(':');
/** `10.244.1.0/26` -> 10.244.1.0/26 normalised (host bits cleared), as Go's net.ParseCIDR. */
function networkOf(cidr: string): string {
  const [ip, len] = cidr.split('/');
  const n = ip!.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
  const bits = Number(len);
  const masked = bits === 0 ? 0 : (n & (~0 << (32 - bits))) >>> 0;
  return `${[masked >>> 24, (masked >>> 16) & 255, (masked >>> 8) & 255, masked & 255].join('.')}/${bits}`;
}

function filterStatements(filterNames: readonly string[], ds: CalicoDatastore, dir: 'import' | 'export', sameAS: boolean): string[] {
  const lines: string[] = [];
  for (const name of filterNames) {
    const f = ds.bgpFilters.find((x) => x.metadata.name === name);
    const rules: any[] | undefined = f?.spec?.[dir === 'import' ? 'importV4' : 'exportV4'];
    if (!f || !rules || rules.length === 0) continue;
    const call = bgpFilterFunctionName(name, dir);
    lines.push(rules.some((r) => r.peerType) ? `${call}(${sameAS});` : `${call}();`);
  }
  return lines;
}

/** Calico's `'bgp_<name>_<dir>FilterV4'`, the name cut and hashed to BIRD's 64-character limit. */
export function bgpFilterFunctionName(filterName: string, dir: 'import' | 'export'): string {
  return `'bgp_${truncateAndHash(filterName, 64 - 'bgp__importFilterV4'.length)}_${dir}FilterV4'`;
}

function truncateAndHash(name: string, maxLen: number): string {
  if (name.length <= maxLen) return name;
  const hex = createHash('sha256').update(name).digest('hex').toUpperCase();
  return `${name.slice(0, maxLen - 17)}_${hex.slice(0, 16)}`;
}

function importFilter(filters: readonly string[], ds: CalicoDatastore, sameAS: boolean, prio: number): string {
  return [
    ...filterStatements(filters, ds, 'import', sameAS),
    `if (defined(bgp_local_pref)&&(bgp_local_pref > ${BIRD_INT_MAX - prio})) then`,
    `  preference = ${OVERRIDE_PREFERENCE};`,
    'accept;',
  ].join('\n    ');
}

function exportFilter(filters: readonly string[], ds: CalicoDatastore, sameAS: boolean, prio: number): string {
  return [
    'if (defined(source) && source = RTS_BGP && defined(bgp_local_pref)) then {',
    `  krt_metric = ${BIRD_INT_MAX} - bgp_local_pref;`,
    '} else {',
    `  if (!defined(krt_metric)) then { krt_metric = ${prio}; }`,
    `  bgp_local_pref = ${BIRD_INT_MAX} - krt_metric;`,
    '}',
    ...filterStatements(filters, ds, 'export', sameAS),
    `calico_export_to_bgp_peers(${sameAS});`,
    'reject;',
  ].join('\n    ');
}

const COMMUNITY = /^\d+:\d+(:\d+)?$/;

function communityRules(cfg: Record<string, any> | undefined): BirdNodeConfig['communities'] {
  const named: { name: string; value: string }[] = cfg?.communities ?? [];
  const out: BirdNodeConfig['communities'] = [];
  for (const adv of (cfg?.prefixAdvertisements ?? []) as { cidr?: string; communities?: string[] }[]) {
    if (!adv.cidr || !v4(adv.cidr)) continue;
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
): Pick<BirdNodeConfig, 'exportRejectDisabledPools' | 'exportAcceptEnabledPools' | 'kernelFilterForPools'> {
  const reject: string[] = [];
  const accept: string[] = [];
  const kernel: string[] = [];
  for (const p of ds.ipPools) {
    const cidr = networkOf(p.spec?.cidr);
    if (!v4(cidr)) continue;
    const stmt = (action: string, comment?: string) => `  if (net ~ ${cidr}) then { ${action}; }${comment ? ` # ${comment}` : ''}`;
    const ipip = p.spec?.ipipMode === 'Always' || p.spec?.ipipMode === 'CrossSubnet';
    const vxlan = p.spec?.vxlanMode === 'Always' || p.spec?.vxlanMode === 'CrossSubnet';
    if (p.spec?.disableBGPExport) reject.push(stmt('reject', 'BGP export is disabled.'));
    else accept.push(stmt('accept'));
    if (vxlan) kernel.push(stmt('reject', 'VXLAN routes are handled by Felix.'));
    else if (ipip && programClusterRoutes) refuse(`IPIP pool ${p.metadata.name} (krt_tunnel exists only in Calico's BIRD fork)`);
    else kernel.push(programClusterRoutes ? stmt('accept') : stmt('reject', 'Cluster routes are handled by Felix.'));
  }
  return { exportRejectDisabledPools: reject.sort(byText), exportAcceptEnabledPools: accept.sort(byText), kernelFilterForPools: kernel.sort(byText) };
}

interface PeerKeyed {
  key: string;
  global: boolean;
  source: string;
  peer: BirdPeer;
}

/** confd's BIRD data for `nodeName` (IPv4; bird.cfg, bird_ipam.cfg and bird_aggr.cfg). */
export function confdNodeConfig(ds: CalicoDatastore, nodeName: string): BirdNodeConfig {
  const node = ds.nodes.find((n) => n.metadata.name === nodeName) ?? refuse(`a node without a Calico Node object (${nodeName})`);
  const bgp = node.spec?.bgp ?? refuse(`node ${nodeName} without spec.bgp`);
  if (bgp.routeReflectorClusterID) refuse('a route reflector node');
  const ipv4Address: string = bgp.ipv4Address ?? refuse(`node ${nodeName} without spec.bgp.ipv4Address`);
  const nodeIP = ipv4Address.split('/')[0]!;
  const global = ds.bgpConfigurations.find((c) => c.metadata.name === 'default')?.spec;
  const perNode = ds.bgpConfigurations.find((c) => c.metadata.name === `node.${nodeName}`)?.spec;
  for (const f of ['serviceClusterIPs', 'serviceExternalIPs', 'serviceLoadBalancerIPs']) if (global?.[f]?.length) refuse(`BGPConfiguration ${f}`);
  const asNumber = String(bgp.asNumber ?? global?.asNumber ?? 64512);
  const logLevel = String(perNode?.logSeverityScreen || global?.logSeverityScreen || 'info').toLowerCase();
  const level = logLevel === 'debug' || logLevel === 'info' ? logLevel : 'none';
  const prio: number = global?.ipv4NormalRoutePriority ?? 1024;
  // BIRD 2 has no global `listen bgp`: Calico's listen line cannot be written for it.
  if (perNode?.listenPort || global?.listenPort || global?.bindMode === 'NodeIP') refuse('BGPConfiguration listenPort or bindMode NodeIP');
  const ignored: string[] | undefined = global?.ignoredInterfaces;

  const labelsOf = (name: string) => ds.nodes.find((n) => n.metadata.name === name)?.metadata.labels ?? {};
  const selects = (sel: string, name: string) => calicoSelectorMatches(sel, labelsOf(name));
  const secret = (ref: { name: string; key: string } | undefined) => (ref ? ds.secrets?.[`${ref.name}/${ref.key}`] : undefined);

  const keyed: PeerKeyed[] = [];
  // Mesh peers: every other node with an IPv4 address (the ToR lab turns the mesh off).
  if ((global?.nodeToNodeMeshEnabled ?? true) !== false) {
    for (const other of ds.nodes) {
      const ip = other.spec?.bgp?.ipv4Address?.split('/')[0];
      if (!ip || ip === nodeIP || other.spec?.bgp?.routeReflectorClusterID) continue;
      const peerAS = String(other.spec?.bgp?.asNumber ?? global?.asNumber ?? 64512);
      const sameAS = peerAS === asNumber;
      keyed.push({
        key: `mesh/${ip}`,
        global: true,
        source: 'mesh',
        peer: {
          name: `Mesh_${ip.replaceAll('.', '_')}`,
          ip,
          asNumber: peerAS,
          ttlSecurity: '',
          sourceAddr: nodeIP,
          importFilter: importFilter([], ds, sameAS, prio),
          exportFilter: exportFilter([], ds, sameAS, prio),
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
      // An IPv6 peer (with or without [ip]:port) belongs to bird6.cfg, not generated here.
      const [ip = '', portText] = String(s.peerIP ?? '').split(':');
      if (String(s.peerIP ?? '').split(':').length > 2 || ip === '' || ip === nodeIP) continue;
      const port = portText ? Number(portText) : undefined;
      const peerAS = String(s.asNumber);
      const localAS = s.localASNumber ? String(s.localASNumber) : undefined;
      const sameAS = peerAS === (localAS ?? asNumber);
      const sourceAddress = s.sourceAddress || 'UseNodeIP';
      const ttl: number = s.ttlSecurity ?? 0;
      const nextHopMode: string | undefined = s.nextHopMode;
      const filters: string[] = s.filters ?? [];
      const key = `${ip}:${port ?? 0}`;
      const peer: BirdPeer = {
        name: `${globalPass ? 'Global' : 'Node'}_${ip.replaceAll('.', '_')}${port ? `_port_${port}` : ''}`,
        ip,
        ...(port ? { port } : {}),
        asNumber: peerAS,
        ...(localAS ? { localAsNumber: localAS } : {}),
        ttlSecurity: ttl > 0 ? `on;\n  multihop ${ttl}` : 'off',
        ...(sourceAddress === 'UseNodeIP' ? { sourceAddr: nodeIP } : {}),
        importFilter: importFilter(filters, ds, sameAS, prio),
        exportFilter: exportFilter(filters, ds, sameAS, prio),
        ...(secret(s.password?.secretKeyRef) !== undefined ? { password: secret(s.password?.secretKeyRef)! } : {}),
        ...(s.maxRestartTime ? { gracefulRestart: String(durationSeconds(s.maxRestartTime)) } : {}),
        ...(s.keepaliveTime ? { keepaliveTime: String(durationSeconds(s.keepaliveTime)) } : {}),
        // A global peering between two Calico nodes: the higher IP waits for the lower one.
        passive: globalPass && ds.nodes.some((n) => n.spec?.bgp?.ipv4Address?.split('/')[0] === ip) && ip > nodeIP,
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
    const ip = String(p.spec?.peerIP ?? '').replace(/:\d+$/, '');
    if (ip === nodeIP && p.spec?.reversePeering !== 'Manual') refuse(`BGPPeer ${p.metadata.name}: a reverse peering onto ${nodeName}`);
  }

  const blocks = ds.blockAffinities
    .filter((b) => b.spec?.node === nodeName && (b.spec?.type ?? 'host') === 'host' && v4(b.spec?.cidr ?? ''))
    .flatMap((b) => {
      if (String(b.spec?.deleted) === 'true') refuse(`a deleted block affinity (${b.metadata.name})`);
      // confd treats a pending affinity as absent.
      return b.spec?.state === 'pending' ? [] : [{ cidr: networkOf(b.spec!.cidr), state: String(b.spec?.state ?? '') }];
    })
    .sort((a, b) => byText(a.cidr.replace('/', '-'), b.cidr.replace('/', '-')));

  return {
    nodeName,
    nodeIP,
    asNumber,
    routerId: nodeIP,
    debugMode: level === 'none' ? '' : level === 'debug' ? 'all' : '{ states }',
    directInterfaces: [...(ignored ?? []).map((i) => `-"${i}"`), '-"cali*"', '-"kube-ipvs*"', '"*"'].join(', '),
    normalRoutePriority: prio,
    peers: keyed.map((k) => k.peer).sort((a, b) => byText(a.name, b.name)),
    communities: communityRules(perNode?.prefixAdvertisements ? perNode : global),
    ...poolStatements(ds, global?.programClusterRoutes !== 'Disabled'),
    blocks,
    filters: [...ds.bgpFilters].sort((a, b) => byText(a.metadata.name, b.metadata.name)),
  };
}
