// The BIRD configuration calico-node's confd writes for one node (IPv4: bird.cfg,
// bird_ipam.cfg, bird_aggr.cfg; IPv6: bird6.cfg, bird6_ipam.cfg, bird6_aggr.cfg), for the
// lab's real BIRD 2. Followed, in projectcalico/calico
// tag v3.32.1 (commit 0ca9d1b93644778cafdf1812f3dda02ac0c361e8):
// confd/etc/calico/confd/templates/bird{,6}{,_ipam,_aggr}.cfg.template and
// confd/pkg/resource/template/template_funcs.go (BGPFilterBIRDFuncs, filterStatement,
// BGPFilterFunctionName). Read, not copied: this file writes the same text.
//
// Calico runs its own fork of BIRD 1.6, the lab runs BIRD 2. Every filter, function and
// statement text (apply_communities, calico_aggr, calico_export_to_bgp_peers,
// calico_kernel_programming, the BGPFilter functions, each peer's import and export filter) is
// Calico's, byte for byte and in Calico's order; only the protocol skeletons are written the
// BIRD 2 way: import/export, `gateway recursive`, `add paths` and `next hop self|keep` inside an
// `ipv4 { }` (bird6: `ipv6 { }`) channel, and `ipv4;` (`ipv6;`) channels for the static and
// direct protocols. Their meaning is BIRD 1's. calico-node runs bird and bird6 as two daemons;
// so does the lab (lab-node.ts).
import type { Family } from '../../src/net/ip.js';
import { bgpFilterFunctionName, BIRD_INT_MAX, confdNodeConfig, type BirdNodeConfig, type CalicoDatastore, type CalicoObj } from './model.js';

export const CALICO_VERSION = 'v3.32.1';
export const CALICO_COMMIT = '0ca9d1b93644778cafdf1812f3dda02ac0c361e8';

export interface CalicoBirdFiles {
  'bird.cfg': string;
  'bird_ipam.cfg': string;
  'bird_aggr.cfg': string;
}

export interface CalicoBird6Files {
  'bird6.cfg': string;
  'bird6_ipam.cfg': string;
  'bird6_aggr.cfg': string;
}

/** bird or bird6: the file names of one IP version's configuration (the first one includes the others). */
export const birdFileNames = (version: Family) => {
  const v = version === 4 ? '' : '6';
  return { main: `bird${v}.cfg`, ipam: `bird${v}_ipam.cfg`, aggr: `bird${v}_aggr.cfg` };
};

const OPERATORS: Record<string, string> = { Equal: '=', NotEqual: '!=', In: '~', NotIn: '!~' };

function fail(what: string): never {
  throw new Error(`BGPFilter: ${what}`);
}

function cidrMatch(rule: any): string {
  const op = OPERATORS[rule.matchOperator] ?? fail(`unexpected operator ${rule.matchOperator}`);
  let cidr: string = rule.cidr;
  if (rule.prefixLength) {
    const len = Number(cidr.split('/')[1]);
    const min = Math.max(len, rule.prefixLength.min ?? len);
    const max = Math.min(cidr.includes(':') ? 128 : 32, rule.prefixLength.max ?? 128);
    cidr = `[ ${cidr}{${min},${max}} ]`;
  }
  return `(net ${op} ${cidr})`;
}

function community(value: string, form: 'match' | 'add'): string {
  const p = value.split(':');
  if (p.length === 2) return form === 'match' ? `((${p[0]}, ${p[1]}) ~ bgp_community)` : `bgp_community.add((${p[0]}, ${p[1]}));`;
  if (p.length === 3) return form === 'match' ? `((${p[0]}, ${p[1]}, ${p[2]}) ~ bgp_large_community)` : `bgp_large_community.add((${p[0]}, ${p[1]}, ${p[2]}));`;
  return fail(`invalid community value ${value}`);
}

/** One rule as Calico's filterStatement writes it. */
export function filterStatement(rule: any): string {
  if (rule.action !== 'Accept' && rule.action !== 'Reject') fail(`unexpected action ${rule.action}`);
  const action = `${String(rule.action).toLowerCase()};`;
  const conds: string[] = [];
  if (rule.cidr) {
    if (!rule.matchOperator) fail('operator not included');
    conds.push(cidrMatch(rule));
  }
  if (rule.source) conds.push(rule.source === 'RemotePeers' ? '((defined(source))&&(source ~ [ RTS_BGP ]))' : fail(`unexpected source ${rule.source}`));
  if (rule.interface) conds.push(`((defined(ifname))&&(ifname ~ "${rule.interface}"))`);
  if (rule.communities) conds.push(community(rule.communities.values?.[0] ?? fail('empty communities'), 'match'));
  if (rule.asPathPrefix?.length) conds.push(`(bgp_path ~ [= ${rule.asPathPrefix.join(' ')} * =])`);
  if (rule.priority !== undefined) conds.push(`(defined(bgp_local_pref)&&(bgp_local_pref = ${BIRD_INT_MAX - rule.priority}))`);
  const ops: string[] = [];
  for (const op of rule.operations ?? []) {
    if (op.addCommunity) ops.push(community(op.addCommunity.value ?? fail('AddCommunity without value'), 'add'));
    else if (op.prependASPath) for (const asn of [...op.prependASPath.prefix].reverse()) ops.push(`bgp_path.prepend(${asn});`);
    else if (op.setPriority) ops.push(`bgp_local_pref = ${BIRD_INT_MAX - op.setPriority.value};`);
    else fail('operation with no field set');
  }
  const body = [...ops, action].join(' ');
  return conds.length > 0 ? `if (${conds.join('&&')}) then { ${body} }` : body;
}

/** Calico's BGPFilterBIRDFuncs for one IP version: one function per filter and direction with rules. */
export function bgpFilterBirdFuncs(filters: readonly CalicoObj[], version: Family = 4): string[] {
  const lines: string[] = [];
  for (const f of filters) {
    const dirs = (['import', 'export'] as const)
      .map((dir) => ({ dir, rules: (f.spec?.[`${dir}V${version}`] ?? []) as any[] }))
      .filter((d) => d.rules.length > 0);
    if (dirs.length === 0) continue;
    lines.push(`# v${version} BGPFilter ${f.metadata.name}`);
    for (const { dir, rules } of dirs) {
      const name = bgpFilterFunctionName(f.metadata.name, dir, version);
      lines.push(rules.some((r) => r.peerType) ? `function ${name}(bool is_same_as) {` : `function ${name}() {`);
      for (const r of rules) {
        const st = filterStatement(r);
        lines.push(`  ${r.peerType === 'iBGP' ? `if (is_same_as) then { ${st} }` : r.peerType === 'eBGP' ? `if (!is_same_as) then { ${st} }` : st}`);
      }
      lines.push('}');
    }
  }
  return lines.length > 0 ? lines : [`# No v${version} BGPFilters configured`];
}

function birdCfg(c: BirdNodeConfig): string {
  const debug = c.debugMode ? `\n  debug ${c.debugMode};` : '';
  const files = birdFileNames(c.version);
  const channel = `ipv${c.version}`;
  const out: string[] = [];
  out.push('function apply_communities ()\n{');
  for (const r of c.communities) out.push(`      if ( net ~ ${r.cidr} ) then {${r.addStatements.map((s) => `\n          ${s}`).join('')}\n      }`);
  out.push(`}\n\n# Generated by confd\ninclude "${files.aggr}";\ninclude "${files.ipam}";\n`);
  out.push(`router id ${c.routerId};`);
  out.push(`
# Configure synchronization between routing tables and kernel.
protocol kernel {
  learn;             # Learn all alien routes from the kernel
  persist;           # Don't remove routes on bird shutdown
  scan time 2;       # Scan kernel routing table every 2 seconds
  ${channel} {
    import all;
    export filter calico_kernel_programming; # Default is export none
  };
  graceful restart;  # Turn on graceful restart to reduce potential flaps in
                     # routes when reloading BIRD configuration.
  merge paths on;    # Allow export multipath routes (ECMP)
}

# Watch interface up/down events.
protocol device {${debug}
  scan time 2;    # Scan interfaces every 2 seconds
}

protocol direct {${debug}
  ${channel};
  interface ${c.directInterfaces};
}
`);
  if (c.nodeIP === '') {
    out.push(`# IPv${c.version} disabled on this node.`);
    return `${out.join('\n')}\n`;
  }
  out.push(`# Template for all BGP clients
template bgp bgp_template {${debug}
  description "Connection to BGP peer";
  local as ${c.asNumber};
  ${channel} {
    gateway recursive; # This should be the default, but just in case.
    add paths on;
  };
  graceful restart;  # See comment in kernel section about graceful restart.
  connect delay time 2;
  connect retry time 5;
  error wait time 5,30;
}

# -------------- BGP Filters ------------------`);
  out.push(...bgpFilterBirdFuncs(c.filters, c.version));
  if (c.peers.length === 0) out.push('# No BGP peers configured for this node');
  else out.push('# BGP Protocol Configurations');
  for (const p of c.peers) {
    const l: string[] = [`protocol bgp ${p.name} from bgp_template {`];
    if (p.ttlSecurity === 'off') l.push('  ttl security off;', '  multihop;');
    else if (p.ttlSecurity) l.push(`  ttl security ${p.ttlSecurity};`);
    if (p.localAsNumber) l.push(`  local as ${p.localAsNumber};`);
    l.push(`  neighbor ${p.ip}${p.port ? ` port ${p.port}` : ''} as ${p.asNumber};`);
    if (p.sourceAddr) l.push(`  source address ${p.sourceAddr};  # The local address we use for the TCP connection`);
    l.push(`  ${channel} {`);
    l.push(`    import filter {\n    ${p.importFilter}\n    };`);
    l.push(`    export filter {\n    ${p.exportFilter}\n    };  # Only want to export routes for workloads.`);
    if (p.nextHopKeep) l.push('    next hop keep;');
    if (p.nextHopSelf) l.push('    next hop self;');
    l.push('  };');
    if (p.passive) l.push('  passive on;');
    if (p.gracefulRestart) l.push(`  graceful restart time ${p.gracefulRestart};`);
    if (p.keepaliveTime) l.push(`  keepalive time ${p.keepaliveTime};`);
    if (p.password !== undefined) l.push(`  password "${p.password}";`);
    if (p.numAllowLocalAs) l.push(`  allow local as ${p.numAllowLocalAs};`);
    l.push('}');
    out.push(l.join('\n'));
  }
  return `${out.join('\n')}\n`;
}

function birdIpamCfg(c: BirdNodeConfig): string {
  return `# Generated by confd

function reject_tunnel_routes () {
  # Don't export tunnel routes to other nodes, Felix programs them.
  # IPIP routes are handled by Bird, and it does not re-advertise them.
  if (defined(ifname)) then {
     if ((ifname ~ "*.cali") || (ifname ~ "*.calico")) then {
        reject;
     }
  }
}

function reject_local_routes () {
  # Don't export local routes learned via BPF as they should never leave the node.
  if (defined(ifname)) then {
     if (ifname ~ "bpf*.cali") then {
        reject;
     }
  }
}

function calico_export_to_bgp_peers(bool internal_peer) {
  # filter code terminates when it calls \`accept;\` or \`reject;\`,
${c.exportRejectDisabledPools.map((l) => `${l}\n`).join('')}
  if (internal_peer) then {
    reject_tunnel_routes();
  }
  reject_local_routes();
  apply_communities();
  calico_aggr();${c.exportAcceptEnabledPools.map((l) => `\n${l}`).join('')}
}

filter calico_kernel_programming {
  if (defined(source) && (source = RTS_BGP) && !defined(krt_metric)) then {
      krt_metric = ${c.normalRoutePriority};
      if (defined(bgp_local_pref)) then {
          krt_metric = ${BIRD_INT_MAX} - bgp_local_pref;
      }
      if (krt_metric < ${c.normalRoutePriority}) then {
          preference = 200;
      }
  }${c.kernelFilterForPools.map((l) => `\n${l}`).join('')}
  accept;
}
`;
}

function birdAggrCfg(c: BirdNodeConfig): string {
  const blocks = c.blocks.filter((b) => !b.cidr.endsWith(c.version === 4 ? '/32' : '/128'));
  const routes =
    blocks.length > 0
      ? `   # IP blocks for this host.\n${blocks.map((b) => `   route ${b.cidr} blackhole;\n`).join('')}`
      : '   # No IP blocks or static routes for this host.\n';
  const aggr = (cidr: string) =>
    `      if ( net = ${cidr} ) then { accept; }\n      if ( net ~ ${cidr} && krt_metric < ${c.normalRoutePriority} ) then { accept; }\n      if ( net ~ ${cidr} ) then { reject; }\n`;
  const fn = c.blocks
    .map((b) =>
      b.state === ''
        ? `      # Block ${b.cidr} is implicitly confirmed.\n${aggr(b.cidr)}`
        : `      # Block ${b.cidr} is ${b.state}\n${b.state === 'confirmed' ? aggr(b.cidr) : ''}`,
    )
    .join('');
  return `# Generated by confd\n\n\nprotocol static {\n   ipv${c.version};\n${routes}}\n\n# Aggregation of routes on this host; export the block, nothing beneath it.\nfunction calico_aggr ()\n{\n${fn}}\n`;
}

export function calicoBirdFiles(c: BirdNodeConfig): CalicoBirdFiles {
  if (c.version !== 4) throw new Error('calicoBirdFiles: an IPv4 configuration (see calicoBird6Files)');
  return { 'bird.cfg': birdCfg(c), 'bird_ipam.cfg': birdIpamCfg(c), 'bird_aggr.cfg': birdAggrCfg(c) };
}

export function calicoBird6Files(c: BirdNodeConfig): CalicoBird6Files {
  if (c.version !== 6) throw new Error('calicoBird6Files: an IPv6 configuration (see calicoBirdFiles)');
  return { 'bird6.cfg': birdCfg(c), 'bird6_ipam.cfg': birdIpamCfg(c), 'bird6_aggr.cfg': birdAggrCfg(c) };
}

/** What confd writes for `nodeName` from the cluster's Calico objects. */
export function confdBirdFiles(ds: CalicoDatastore, nodeName: string): CalicoBirdFiles {
  return calicoBirdFiles(confdNodeConfig(ds, nodeName));
}

/** What confd writes into bird6.cfg and its includes for `nodeName`. */
export function confdBird6Files(ds: CalicoDatastore, nodeName: string): CalicoBird6Files {
  return calicoBird6Files(confdNodeConfig(ds, nodeName, 6));
}
