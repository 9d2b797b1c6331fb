// The generator of calico-node's BIRD configuration (text.ts, model.ts, selector.ts): the text
// confd v3.32.1 writes for the cases podlb's Calico mode depends on, and `bird -p` accepting it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CALICO_VERSIONS, calicoCrds } from '../calico-resources.js';
import { validateAgainstCrds } from '../install-schema.js';
import { datastoreObjects, storedDatastore } from './datastore.js';
import { bgpFilterFunctionName, type CalicoObj, confdNodeConfig, durationSeconds, NODE_ANNOTATIONS } from './model.js';
import { CALICO_NODE, rackCluster, TOR_IP, TOR_IPV6 } from './scenario.js';
import { calicoSelectorMatches } from './selector.js';
import { bgpFilterBirdFuncs, CALICO_COMMIT, CALICO_VERSION, confdBird6Files, confdBirdFiles, filterStatement } from './text.js';

const KINDS = new WeakMap<CalicoObj, string>();
const filter = (name: string, spec: Record<string, unknown>): CalicoObj => {
  const o = { metadata: { name }, spec };
  KINDS.set(o, 'BGPFilter');
  return o;
};
const peer = (name: string, spec: Record<string, unknown>): CalicoObj => {
  const o = { metadata: { name }, spec: { peerIP: TOR_IP, asNumber: 65000, ...spec } };
  KINDS.set(o, 'BGPPeer');
  return o;
};

const torFilter = filter('tor-out', {
  exportV4: [{ action: 'Reject', matchOperator: 'NotIn', cidr: '10.244.0.0/16' }],
  importV4: [{ action: 'Reject', matchOperator: 'Equal', cidr: '0.0.0.0/0' }],
  exportV6: [{ action: 'Reject', matchOperator: 'NotIn', cidr: 'fd00:244::/56' }],
});
const torPeer = peer('tor', { nodeSelector: "topology.kubernetes.io/rack == 'r12'", filters: ['tor-out'], maxRestartTime: '2m' });
const torPeer6 = peer('tor6', { peerIP: TOR_IPV6, nodeSelector: "topology.kubernetes.io/rack == 'r12'", filters: ['tor-out'] });
/** Rules of every kind confd writes, and the statement it writes for each. */
const RULES: [Record<string, unknown>, string][] = [
  [{ action: 'Accept', matchOperator: 'In', cidr: '10.0.0.0/8' }, 'if ((net ~ 10.0.0.0/8)) then { accept; }'],
  [{ action: 'Reject', matchOperator: 'NotEqual', cidr: '10.0.0.0/8' }, 'if ((net != 10.0.0.0/8)) then { reject; }'],
  [{ action: 'Reject', matchOperator: 'In', cidr: '10.0.0.0/8', prefixLength: { min: 12 } }, 'if ((net ~ [ 10.0.0.0/8{12,32} ])) then { reject; }'],
  [
    { action: 'Accept', source: 'RemotePeers', interface: 'eth*' },
    'if (((defined(source))&&(source ~ [ RTS_BGP ]))&&((defined(ifname))&&(ifname ~ "eth*"))) then { accept; }',
  ],
  [
    {
      action: 'Accept',
      matchOperator: 'In',
      cidr: '10.0.0.0/8',
      operations: [{ addCommunity: { value: '65000:7' } }, { prependASPath: { prefix: [1, 2] } }],
    },
    'if ((net ~ 10.0.0.0/8)) then { bgp_community.add((65000, 7)); bgp_path.prepend(2); bgp_path.prepend(1); accept; }',
  ],
  [{ action: 'Reject' }, 'reject;'],
];

const files = confdBirdFiles(rackCluster([torPeer], [torFilter]), CALICO_NODE);

describe('confd v3.32.1 BIRD text', () => {
  it('records the Calico version it follows, in the code and in its header comment', () => {
    expect([CALICO_VERSION, CALICO_COMMIT]).toEqual(['v3.32.1', '0ca9d1b93644778cafdf1812f3dda02ac0c361e8']);
    for (const f of ['./text.ts', './model.ts']) {
      const header = readFileSync(fileURLToPath(new URL(f, import.meta.url)), 'utf8').split('\nimport ')[0]!;
      expect(header, f).toContain(`tag ${CALICO_VERSION} (commit ${CALICO_COMMIT})`);
    }
  });

  it("feeds on objects Calico's own v3.32.1 CRD schemas accept (BGPConfiguration, IPPool, BlockAffinity, BGPPeer, BGPFilter)", () => {
    const crds = calicoCrds(CALICO_VERSION);
    const ds = rackCluster([torPeer, torPeer6], [torFilter]);
    const rules = filter('rules', {
      exportV4: RULES.map(([r]) => r),
      importV4: [{ action: 'Reject', matchOperator: 'In', cidr: '10.0.0.0/8', peerType: 'eBGP' }],
      exportV6: [{ action: 'Reject', matchOperator: 'In', cidr: 'fd00::/8', prefixLength: { min: 64 } }],
    });
    ds.bgpFilters.push(rules);
    const checked = datastoreObjects(ds).filter((o) => o.list !== 'nodes');
    expect(new Set(checked.map((o) => o.obj.kind))).toEqual(new Set(['BGPConfiguration', 'IPPool', 'BlockAffinity', 'BGPPeer', 'BGPFilter']));
    for (const { obj } of checked) expect(validateAgainstCrds(obj, crds), `${obj.kind} ${obj.metadata.name}`).toEqual([]);
    // And the API server stores every one, the Kubernetes Nodes included, and what it stores
    // (defaults added) makes the same configuration.
    const stored = storedDatastore(ds, CALICO_VERSION);
    expect(stored.ipPools.map((p) => p.spec?.assignmentMode)).toEqual(ds.ipPools.map(() => 'Automatic'));
    expect(confdBirdFiles(stored, CALICO_NODE)).toEqual(confdBirdFiles(ds, CALICO_NODE));
    expect(confdBird6Files(stored, CALICO_NODE)).toEqual(confdBird6Files(ds, CALICO_NODE));
  });

  it("has no Calico Node object: the Kubernetes datastore serves no crd.projectcalico.org Node, the Node's annotations carry its BGP spec", () => {
    for (const v of CALICO_VERSIONS) {
      const calicoNode = {
        apiVersion: 'crd.projectcalico.org/v1',
        kind: 'Node',
        metadata: { name: CALICO_NODE },
        spec: { bgp: { ipv4Address: '172.31.1.2/24' } },
      };
      expect(validateAgainstCrds(calicoNode, calicoCrds(v)), v).toEqual(['<root>: no given CRD serves apiVersion "crd.projectcalico.org/v1" kind "Node"']);
    }
    const ds = rackCluster([], []);
    delete ds.nodes[0]!.metadata.annotations![NODE_ANNOTATIONS.ipv4Address];
    expect(() => confdNodeConfig(ds, CALICO_NODE)).toThrow(/without a projectcalico.org\/IPv4Address annotation/);
  });

  it("v3.26.0's BlockAffinity has no spec.type (3.26's IPAM knows host affinities only): its API server prunes it and confd reads a missing type as host", () => {
    const ds = rackCluster([torPeer, torPeer6], [torFilter]);
    const crds = calicoCrds('v3.26.0');
    for (const { obj } of datastoreObjects(ds).filter((o) => o.list !== 'nodes')) {
      expect(validateAgainstCrds(obj, crds), `${obj.kind} ${obj.metadata.name}`).toEqual(obj.kind === 'BlockAffinity' ? ['spec.type: unknown field'] : []);
    }
    const stored = storedDatastore(ds, 'v3.26.0');
    expect(stored.blockAffinities.map((b) => b.spec?.type)).toEqual(ds.blockAffinities.map(() => undefined));
    expect(confdBirdFiles(stored, CALICO_NODE)).toEqual(confdBirdFiles(ds, CALICO_NODE));
    expect(confdBird6Files(stored, CALICO_NODE)).toEqual(confdBird6Files(ds, CALICO_NODE));
  });

  it('refuses what the API server refuses: an IPv6 IPPool with IPIP (a CEL rule of v3.32.1), a CIDR that is none', () => {
    const ipip6 = rackCluster([], []);
    ipip6.ipPools.find((p) => p.metadata.name === 'pods6')!.spec!.ipipMode = 'Always';
    expect(() => storedDatastore(ipip6, 'v3.32.1')).toThrow(/IPIP is not supported on IPv6 pools/);
    const badCidr = rackCluster([], []);
    badCidr.ipPools[0]!.spec!.cidr = '10.244.0.0/33';
    expect(() => storedDatastore(badCidr, 'v3.32.1')).toThrow(/spec.cidr/);
  });

  it("calls the peer's BGPFilter function before calico_export_to_bgp_peers, then rejects", () => {
    expect(files['bird.cfg']).toContain(
      [
        '    export filter {',
        '    if (defined(source) && source = RTS_BGP && defined(bgp_local_pref)) then {',
        '      krt_metric = 2147483647 - bgp_local_pref;',
        '    } else {',
        '      if (!defined(krt_metric)) then { krt_metric = 1024; }',
        '      bgp_local_pref = 2147483647 - krt_metric;',
        '    }',
        "    'bgp_tor-out_exportFilterV4'();",
        '    calico_export_to_bgp_peers(false);',
        '    reject;',
        '    };  # Only want to export routes for workloads.',
      ].join('\n'),
    );
  });

  it("calls the import function first, then Calico's default (accept)", () => {
    expect(files['bird.cfg']).toContain(
      [
        '    import filter {',
        "    'bgp_tor-out_importFilterV4'();",
        '    if (defined(bgp_local_pref)&&(bgp_local_pref > 2147482623)) then',
        '      preference = 200;',
        '    accept;',
        '    };',
      ].join('\n'),
    );
    // Without an import rule the filter is Calico's default: accept everything.
    const exportOnly = confdBirdFiles(rackCluster([torPeer], [filter('tor-out', { exportV4: torFilter.spec!.exportV4 })]), CALICO_NODE);
    expect(exportOnly['bird.cfg']).not.toContain('importFilterV4');
    expect(exportOnly['bird.cfg']).toContain('    import filter {\n    if (defined(bgp_local_pref)');
  });

  it('writes each BGPFilter as functions, one statement per rule', () => {
    expect(files['bird.cfg']).toContain(
      [
        '# -------------- BGP Filters ------------------',
        '# v4 BGPFilter tor-out',
        "function 'bgp_tor-out_importFilterV4'() {",
        '  if ((net = 0.0.0.0/0)) then { reject; }',
        '}',
        "function 'bgp_tor-out_exportFilterV4'() {",
        '  if ((net !~ 10.244.0.0/16)) then { reject; }',
        '}',
        '# BGP Protocol Configurations',
        'protocol bgp Node_172_31_1_1 from bgp_template {',
        '  ttl security off;',
        '  multihop;',
        '  neighbor 172.31.1.1 as 65000;',
        '  source address 172.31.1.2;  # The local address we use for the TCP connection',
      ].join('\n'),
    );
    expect(files['bird.cfg']).toContain('  graceful restart time 120;\n}');
  });

  it.each(RULES)('rule %j -> %s', (rule, text) => {
    expect(filterStatement(rule)).toBe(text);
  });

  it('wraps peerType rules in is_same_as guards and takes the bool parameter', () => {
    const lines = bgpFilterBirdFuncs([filter('f', { exportV4: [{ action: 'Reject', matchOperator: 'In', cidr: '10.0.0.0/8', peerType: 'eBGP' }] })]);
    expect(lines).toEqual([
      '# v4 BGPFilter f',
      "function 'bgp_f_exportFilterV4'(bool is_same_as) {",
      '  if (!is_same_as) then { if ((net ~ 10.0.0.0/8)) then { reject; } }',
      '}',
    ]);
    expect(bgpFilterBirdFuncs([filter('v6', { exportV6: [{ action: 'Reject', matchOperator: 'In', cidr: '::/0' }] })])).toEqual([
      '# No v4 BGPFilters configured',
    ]);
  });

  it("cuts a long filter name to BIRD's 64-character symbols with a hash, as Calico does", () => {
    const name = `podlb-${'x'.repeat(60)}`;
    const fn = bgpFilterFunctionName(name, 'export');
    expect(fn.length - 2).toBe(64);
    expect(fn).toMatch(/^'bgp_podlb-x{22}_[0-9A-F]{16}_exportFilterV4'$/);
    expect(bgpFilterFunctionName('short', 'import')).toBe("'bgp_short_importFilterV4'");
  });

  it('rejects a disableBGPExport pool first in calico_export_to_bgp_peers, and accepts enabled pools last', () => {
    expect(files['bird_ipam.cfg']).toContain(
      [
        'function calico_export_to_bgp_peers(bool internal_peer) {',
        '  # filter code terminates when it calls `accept;` or `reject;`,',
        '  if (net ~ 10.250.0.0/24) then { reject; } # BGP export is disabled.',
        '',
        '  if (internal_peer) then {',
        '    reject_tunnel_routes();',
        '  }',
        '  reject_local_routes();',
        '  apply_communities();',
        '  calico_aggr();',
        '  if (net ~ 10.244.0.0/15) then { accept; }',
        '  if (net ~ 10.251.0.0/24) then { accept; }',
        '}',
      ].join('\n'),
    );
  });

  it("aggregates the node's confirmed blocks: a blackhole static route and calico_aggr, pending and other nodes' blocks left out", () => {
    expect(files['bird_aggr.cfg']).toContain(
      [
        'protocol static {',
        '   ipv4;',
        '   # IP blocks for this host.',
        '   route 10.244.1.0/26 blackhole;',
        '   route 10.245.0.0/26 blackhole;',
        '   route 10.250.0.16/28 blackhole;',
        '   route 10.251.0.0/26 blackhole;',
        '}',
      ].join('\n'),
    );
    expect(files['bird_aggr.cfg']).toContain(
      [
        '      # Block 10.244.1.0/26 is confirmed',
        '      if ( net = 10.244.1.0/26 ) then { accept; }',
        '      if ( net ~ 10.244.1.0/26 && krt_metric < 1024 ) then { accept; }',
        '      if ( net ~ 10.244.1.0/26 ) then { reject; }',
      ].join('\n'),
    );
    expect(files['bird_aggr.cfg']).not.toContain('10.244.1.64/26');
    expect(files['bird_aggr.cfg']).not.toContain('10.244.9.64/26');
  });

  it('attaches prefixAdvertisements communities (named ones resolved, sorted, large ones too)', () => {
    expect(
      files['bird.cfg'].startsWith(
        [
          'function apply_communities ()',
          '{',
          '      if ( net ~ 10.244.0.0/16 ) then {',
          '          bgp_large_community.add((64512, 1, 2));',
          '          bgp_community.add((64512, 300));',
          '          bgp_community.add((65000, 100));',
          '      }',
          '      if ( net ~ 10.250.0.0/24 ) then {',
          '          bgp_community.add((64512, 999));',
          '      }',
          '}',
        ].join('\n'),
      ),
    ).toBe(true);
  });

  it("is accepted by the real BIRD's parser", () => {
    const dir = mkdtempSync(join(tmpdir(), 'calico-confd-'));
    try {
      for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
      execFileSync('bird', ['-p', '-c', join(dir, 'bird.cfg')], { stdio: 'pipe' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('confd v3.32.1 bird6 text', () => {
  const files6 = confdBird6Files(rackCluster([torPeer, torPeer6], [torFilter]), CALICO_NODE);
  const files4 = confdBirdFiles(rackCluster([torPeer, torPeer6], [torFilter]), CALICO_NODE);

  it('includes the bird6 files and keeps the IPv4 router ID; each peer goes to the BIRD of its address family', () => {
    expect(files6['bird6.cfg']).toContain('include "bird6_aggr.cfg";\ninclude "bird6_ipam.cfg";\n\nrouter id 172.31.1.2;\n');
    expect(files6['bird6.cfg'].match(/protocol bgp \S+/g)).toEqual(['protocol bgp Node_fd00_31_1__1']);
    expect(files4['bird.cfg'].match(/protocol bgp \S+/g)).toEqual(['protocol bgp Node_172_31_1_1']);
    expect(files6['bird6.cfg']).toContain(
      [
        '  neighbor fd00:31:1::1 as 65000;',
        '  source address fd00:31:1::2;  # The local address we use for the TCP connection',
        '  ipv6 {',
        '    import filter {',
        '    if (defined(bgp_local_pref)&&(bgp_local_pref > 2147482623)) then',
      ].join('\n'),
    );
    expect(files6['bird6.cfg']).toContain("    'bgp_tor-out_exportFilterV6'();\n    calico_export_to_bgp_peers(false);\n    reject;\n");
  });

  it("writes the filters' exportV6 rules as V6 functions, and only those", () => {
    expect(files6['bird6.cfg']).toContain(
      [
        '# v6 BGPFilter tor-out',
        "function 'bgp_tor-out_exportFilterV6'() {",
        '  if ((net !~ fd00:244::/56)) then { reject; }',
        '}',
        '# BGP Protocol Configurations',
      ].join('\n'),
    );
    expect(files6['bird6.cfg']).not.toMatch(/FilterV4|10\.244/);
    expect(
      bgpFilterBirdFuncs([filter('f', { exportV6: [{ action: 'Accept', matchOperator: 'In', cidr: 'fd00::/8', prefixLength: { max: 64 } }] })], 6),
    ).toEqual(['# v6 BGPFilter f', "function 'bgp_f_exportFilterV6'() {", '  if ((net ~ [ fd00::/8{8,64} ])) then { accept; }', '}']);
  });

  it('calls an importV6 function before the default accept, with is_same_as for a peerType rule, and no v4 function', () => {
    const f = filter('tor-in', {
      importV4: [{ action: 'Reject', matchOperator: 'Equal', cidr: '0.0.0.0/0' }],
      importV6: [{ action: 'Reject', matchOperator: 'Equal', cidr: '::/0', peerType: 'eBGP' }],
    });
    const text = confdBird6Files(rackCluster([peer('in6', { peerIP: TOR_IPV6, node: CALICO_NODE, filters: ['tor-in'] })], [f]), CALICO_NODE)['bird6.cfg'];
    expect(text).toContain(
      ['    import filter {', "    'bgp_tor-in_importFilterV6'(false);", '    if (defined(bgp_local_pref)&&(bgp_local_pref > 2147482623)) then'].join('\n'),
    );
    expect(text).toContain("function 'bgp_tor-in_importFilterV6'(bool is_same_as) {\n  if (!is_same_as) then { if ((net = ::/0)) then { reject; } }\n}");
    expect(text).not.toContain('FilterV4');
  });

  it('rejects the disableBGPExport v6 pool first and accepts the enabled v6 pools last; the kernel filter holds only rejects', () => {
    expect(files6['bird6_ipam.cfg']).toContain(
      [
        '  # filter code terminates when it calls `accept;` or `reject;`,',
        '  if (net ~ fd00:250::/64) then { reject; } # BGP export is disabled.',
        '',
        '  if (internal_peer) then {',
        '    reject_tunnel_routes();',
        '  }',
        '  reject_local_routes();',
        '  apply_communities();',
        '  calico_aggr();',
        '  if (net ~ fd00:244::/56) then { accept; }',
        '  if (net ~ fd00:251::/64) then { accept; }',
        '}',
      ].join('\n'),
    );
    expect(files6['bird6_ipam.cfg']).toMatch(/ {6}preference = 200;\n {6}\}\n {2}\}\n {2}accept;\n\}\n$/);
    const felixRoutes = rackCluster([], []);
    felixRoutes.bgpConfigurations[0]!.spec!.programClusterRoutes = 'Disabled';
    const kernel = confdNodeConfig(felixRoutes, CALICO_NODE, 6).kernelFilterForPools;
    expect(kernel).toEqual(
      ['fd00:244::/56', 'fd00:250::/64', 'fd00:251::/64'].map((c) => `  if (net ~ ${c}) then { reject; } # Cluster routes are handled by Felix.`),
    );
  });

  it("aggregates the node's confirmed v6 blocks and attaches the v6 prefixAdvertisements communities", () => {
    expect(files6['bird6_aggr.cfg']).toContain(
      [
        'protocol static {',
        '   ipv6;',
        '   # IP blocks for this host.',
        '   route fd00:244::/122 blackhole;',
        '   route fd00:250::10/124 blackhole;',
        '   route fd00:251::/122 blackhole;',
        '}',
      ].join('\n'),
    );
    expect(files6['bird6_aggr.cfg']).toContain(
      '      # Block fd00:244::/122 is confirmed\n      if ( net = fd00:244::/122 ) then { accept; }\n      if ( net ~ fd00:244::/122 && krt_metric < 1024 ) then { accept; }\n',
    );
    expect(files6['bird6_aggr.cfg']).not.toMatch(/fd00:244::40|fd00:244:0:9::/);
    expect(files6['bird6.cfg'].split('\n# Generated by confd')[0]).toBe(
      [
        'function apply_communities ()',
        '{',
        '      if ( net ~ fd00:244::/56 ) then {',
        '          bgp_large_community.add((64512, 1, 2));',
        '          bgp_community.add((64512, 300));',
        '          bgp_community.add((65000, 100));',
        '      }',
        '      if ( net ~ fd00:250::/64 ) then {',
        '          bgp_community.add((64512, 999));',
        '      }',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('reads an IPv6 peerIP as Go does ([ip]:port, any spelling), and writes no BGP for a node without an IPv6 address', () => {
    const names = (peerIP: string) =>
      confdNodeConfig(rackCluster([peer('a', { peerIP, node: CALICO_NODE })], []), CALICO_NODE, 6).peers.map((p) => [p.name, p.ip, p.port]);
    expect(names('[fd00:31:1::1]:1179')).toEqual([['Node_fd00_31_1__1_port_1179', 'fd00:31:1::1', 1179]]);
    expect(names('FD00:31:1:0:0::1')).toEqual([['Node_fd00_31_1__1', 'fd00:31:1::1', undefined]]);
    expect(names(TOR_IP)).toEqual([]);
    const v4only = rackCluster([torPeer6], [torFilter]);
    delete v4only.nodes[0]!.metadata.annotations![NODE_ANNOTATIONS.ipv6Address];
    const text = confdBird6Files(v4only, CALICO_NODE)['bird6.cfg'];
    expect(text.endsWith('}\n\n# IPv6 disabled on this node.\n')).toBe(true);
    expect(text).not.toContain('protocol bgp');
  });

  it("is accepted by the real BIRD's parser", () => {
    const dir = mkdtempSync(join(tmpdir(), 'calico-confd6-'));
    try {
      for (const [f, text] of Object.entries(files6)) writeFileSync(join(dir, f), text);
      execFileSync('bird', ['-p', '-c', join(dir, 'bird6.cfg')], { stdio: 'pipe' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('confd v3.32.1 peer selection', () => {
  const names = (peers: CalicoObj[]) => confdNodeConfig(rackCluster(peers, [torFilter]), CALICO_NODE).peers.map((p) => p.name);

  it('picks node-specific peers by nodeSelector or node name, and a global peer hides a node peer on the same IP', () => {
    expect(names([peer('a', { nodeSelector: "topology.kubernetes.io/rack == 'r13'" })])).toEqual([]);
    expect(names([peer('a', { node: CALICO_NODE })])).toEqual(['Node_172_31_1_1']);
    expect(names([peer('a', { nodeSelector: "has(podlb.io/bgp) && topology.kubernetes.io/rack in {'r12', 'r14'}" })])).toEqual(['Node_172_31_1_1']);
    expect(names([peer('a', {}), peer('b', { node: CALICO_NODE, filters: ['tor-out'] })])).toEqual(['Global_172_31_1_1']);
    expect(names([peer('a', { peerIP: `${TOR_IP}:1179`, node: CALICO_NODE })])).toEqual(['Node_172_31_1_1_port_1179']);
  });

  it('makes a global peering to a higher-addressed Calico node passive, as confd does', () => {
    const cfg = (peerIP: string) =>
      confdNodeConfig(rackCluster([peer('a', { peerIP, asNumber: 64512 })], []), CALICO_NODE).peers.map((p) => [p.name, p.passive]);
    expect(cfg('172.31.2.2')).toEqual([['Global_172_31_2_2', true]]);
    expect(cfg('172.31.0.9')).toEqual([['Global_172_31_0_9', false]]);
  });

  it("refuses two node peers on one IP for the node (confd's pick is Go map order)", () => {
    expect(() => names([peer('a', { node: CALICO_NODE }), peer('b', { node: CALICO_NODE, filters: ['tor-out'] })])).toThrow(/two BGPPeers \(a, b\)/);
  });

  it('turns the node mesh on unless BGPConfiguration turns it off', () => {
    const ds = rackCluster([], []);
    expect(confdNodeConfig(ds, CALICO_NODE).peers).toEqual([]);
    ds.bgpConfigurations[0]!.spec!.nodeToNodeMeshEnabled = undefined;
    expect(confdNodeConfig(ds, CALICO_NODE).peers.map((p) => [p.name, p.passive])).toEqual([['Mesh_172_31_2_2', true]]);
  });

  it.each([
    ["a == 'x' && !has(b)", { a: 'x' }, true],
    ["a != 'x'", {}, true],
    ["a not in {'x', 'y'}", { a: 'z' }, true],
    ["a in {'x'}", {}, false],
    ["!(a == 'x' || b == 'y')", { b: 'y' }, false],
    ["a starts with 'pre' && c ends with 'fix' && d contains 'mid'", { a: 'prefix', c: 'suffix', d: 'amidst' }, true],
    ['all()', {}, true],
    ['', {}, true],
  ])('selector %s on %j -> %s', (sel, labels, want) => {
    expect(calicoSelectorMatches(sel, labels)).toBe(want);
  });

  it('refuses what BIRD 2 cannot express rather than approximating it: IPIP pools, a listen port', () => {
    const ipip = rackCluster([], []);
    ipip.ipPools[0]!.spec!.ipipMode = 'Always';
    expect(() => confdNodeConfig(ipip, CALICO_NODE)).toThrow(/IPIP pool pods .* not modelled/);
    const port = rackCluster([], []);
    port.bgpConfigurations[0]!.spec!.listenPort = 1179;
    expect(() => confdNodeConfig(port, CALICO_NODE)).toThrow(/listenPort .* not modelled/);
  });

  it('refuses a selector it cannot parse, and durations it cannot read', () => {
    expect(() => calicoSelectorMatches("a = 'x'", {})).toThrow(/cannot read " = 'x'"/);
    expect(() => durationSeconds('2 min')).toThrow(/not a duration/);
    expect(durationSeconds('1m30s')).toBe(90);
  });
});
