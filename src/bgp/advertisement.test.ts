// PodIPs host routes, overlapping pools, partial podCIDRs, Gateway peers and BFD.
import { describe, expect, it } from 'vitest';
import type { Pod, PodAddressPool, Service } from '../api/types.js';
import { nodeFixture, peerFixture, poolFixture } from '../../testkit/bgp-fixtures.js';
import { parsePrefix, type IpPrefix } from '../net/ip.js';
import { buildBgpPlan, describeAdvertised, prefixRemainder, protocolName, sessionResettingChanges, type BgpPlanInput } from './model.js';
import { podIPsForNode } from './pod-ips.js';
import { renderBirdConf } from './render.js';

function plan(over: Partial<BgpPlanInput> = {}) {
  return buildBgpPlan({ node: nodeFixture(), pools: [poolFixture()], peers: [peerFixture()], secrets: [], ...over });
}
const pfx = (t: string): IpPrefix => {
  const r = parsePrefix(t);
  if (!r.ok) throw new Error(r.reason);
  return r.prefix;
};
const podPool = (name: string, spec: Partial<PodAddressPool['spec']> = {}) =>
  poolFixture(name, { advertise: 'PodIPs', cidrs: ['10.250.0.0/16', 'fd00:250::/48'], ...spec });
const reasons = (r: ReturnType<typeof plan>) => r.problems.map((p) => `${p.object.kind}/${p.object.name}:${p.reason}:${p.severity}`);

describe('PodIPs pools', () => {
  const pods = [
    { namespace: 'ads', name: 'b', ips: ['10.250.0.9', 'FD00:250:0:0::9'] },
    { namespace: 'ads', name: 'a', ips: ['10.250.0.10'] },
    { namespace: 'ads', name: 'dup', ips: ['10.250.0.10'] },
    { namespace: 'web', name: 'outside', ips: ['10.99.0.1'] },
  ];

  it('advertises a /32 or /128 per Pod IP inside the pool, sorted and deduplicated', () => {
    const r = plan({ pools: [podPool('pods')], podIPs: pods });
    expect(r.advertised).toEqual([
      { prefix: '10.250.0.9/32', pool: 'pods', mode: 'PodIPs', pod: 'ads/b' },
      { prefix: '10.250.0.10/32', pool: 'pods', mode: 'PodIPs', pod: 'ads/a' },
      { prefix: 'fd00:250::9/128', pool: 'pods', mode: 'PodIPs', pod: 'ads/b' },
    ]);
    expect(r.model.v4).toEqual(['10.250.0.9/32', '10.250.0.10/32']);
    expect(r.model.v6).toEqual(['fd00:250::9/128']);
    expect(reasons(r)).toEqual(['Pod/outside:PodIPNotInPool:Normal', 'Node/node-a:NoPeerForFamily:Normal']);
    const text = renderBirdConf(r.model);
    // A static per host route (BIRD has no kernel protocol, so these "blackhole" routes only
    // exist inside BIRD, to be exported); the export set names the pool, host routes only.
    expect(text).toContain('define PODLB_V4 = [ 10.250.0.0/16{32,32} ];');
    expect(text).toContain('  route 10.250.0.9/32 blackhole;');
    expect(text).toContain('  route fd00:250::9/128 blackhole;');
  });

  it('describes what a node advertises in one line: aggregates by name, host routes counted per pool', () => {
    const r = plan({ pools: [podPool('pods')], podIPs: pods });
    expect(describeAdvertised(r.advertised)).toBe('3 Pod host routes of pool pods');
    expect(describeAdvertised([{ prefix: '10.244.1.0/24', pool: 'nodes', mode: 'NodeCIDR' }, ...r.advertised.slice(0, 1)])).toBe(
      '10.244.1.0/24, 1 Pod host route of pool pods',
    );
    expect(describeAdvertised([])).toBe('nothing');
  });

  it('keeps the export filter unchanged when Pods come and go, so BIRD re-sends only the changed route', () => {
    const one = plan({ pools: [podPool('pods')], podIPs: pods.slice(0, 1) });
    const all = plan({ pools: [podPool('pods')], podIPs: pods });
    const none = plan({ pools: [podPool('pods')], podIPs: [] });
    expect(one.model.v4).not.toEqual(all.model.v4);
    const filterPart = (text: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith('define ') || !/^\s*route /.test(l))
        .join('\n');
    expect(filterPart(renderBirdConf(one.model))).toBe(filterPart(renderBirdConf(all.model)));
    expect(filterPart(renderBirdConf(none.model))).toBe(filterPart(renderBirdConf(all.model)));
    expect(all.model.exportV4).toEqual([{ prefix: '10.250.0.0/16', hostRoutes: true }]);
    expect(all.model.exportV6).toEqual([{ prefix: 'fd00:250::/48', hostRoutes: true }]);
  });

  it('is independent of input order', () => {
    const a = plan({ pools: [podPool('pods')], podIPs: pods });
    const b = plan({ pools: [podPool('pods')], podIPs: [...pods].reverse().map((p) => ({ ...p, ips: [...p.ips].reverse() })) });
    expect(renderBirdConf(b.model)).toBe(renderBirdConf(a.model));
    expect(b.advertised).toEqual(a.advertised);
  });

  it('sits beside a NodeCIDR pool: the aggregate and the host routes are different prefixes', () => {
    const r = plan({
      pools: [poolFixture('agg', { cidrs: ['10.244.0.0/16'] }), podPool('pods')],
      podIPs: [{ namespace: 'a', name: 'p', ips: ['10.250.3.4'] }],
    });
    expect(r.advertised.map((a) => `${a.prefix} ${a.pool} ${a.mode}`)).toEqual(['10.244.1.0/24 agg NodeCIDR', '10.250.3.4/32 pods PodIPs']);
  });

  it('applies the pool communities to its host routes', () => {
    const r = plan({ pools: [podPool('pods', { communities: ['65000:250'] })], podIPs: [{ namespace: 'a', name: 'p', ips: ['10.250.3.4'] }] });
    expect(r.model.communities).toEqual([{ community: [65000, 250], v4: ['10.250.3.4/32'], v6: [] }]);
  });

  it.each<[string, unknown, string]>([
    ['text', 'ten.1.2.3', 'InvalidPodIP'],
    ['injection', '10.250.0.1/32 ]; include "/etc/passwd', 'InvalidPodIP'],
    ['number', 167772161, 'InvalidPodIP'],
  ])('a Pod IP that is %s: Warning on the Pod, others advertised', (_n, ip, reason) => {
    const r = plan({
      pools: [podPool('pods')],
      podIPs: [
        { namespace: 'a', name: 'bad', ips: [ip as string] },
        { namespace: 'a', name: 'good', ips: ['10.250.0.1'] },
      ],
    });
    expect(r.model.v4).toEqual(['10.250.0.1/32']);
    expect(r.problems[0]).toMatchObject({ object: { kind: 'Pod', namespace: 'a', name: 'bad' }, field: 'status.podIPs[0]', reason, severity: 'Warning' });
  });

  it('says so when the caller passed no Pods', () => {
    const r = plan({ pools: [podPool('pods')] });
    expect(r.advertised).toEqual([]);
    expect(reasons(r)).toEqual(['PodAddressPool/pods:PodIPsNotProvided:Normal']);
  });
});

describe('overlapping pools: one owner per prefix', () => {
  it.each<[string, PodAddressPool[], string[], string[]]>([
    [
      'nested: the most specific pool CIDR owns the prefix, Normal on the outer pool',
      [poolFixture('outer', { cidrs: ['10.244.0.0/16'], communities: ['1:1'] }), poolFixture('inner', { cidrs: ['10.244.0.0/20'], communities: ['2:2'] })],
      ['10.244.1.0/24 inner'],
      ['PodAddressPool/outer:OverlappingPool:Normal'],
    ],
    [
      'identical CIDRs: the first name owns it, Warning on the later pool',
      [poolFixture('b-pool', { cidrs: ['10.244.0.0/16'] }), poolFixture('a-pool', { cidrs: ['10.244.0.0/16'] })],
      ['10.244.1.0/24 a-pool'],
      ['PodAddressPool/b-pool:OverlappingPool:Warning'],
    ],
    [
      'disjoint pools: no problem',
      [poolFixture('x', { cidrs: ['10.244.1.0/25'] }), poolFixture('y', { cidrs: ['10.244.1.128/25'] })],
      ['10.244.1.0/25 x', '10.244.1.128/25 y'],
      [],
    ],
    [
      'an overlapping pool that does not select the node is not counted',
      [
        poolFixture('here', { cidrs: ['10.244.0.0/16'] }),
        poolFixture('elsewhere', { cidrs: ['10.244.0.0/16'], nodeSelector: { matchLabels: { rack: 'r99' } } }),
      ],
      ['10.244.1.0/24 here'],
      ['PodAddressPool/elsewhere:PoolNotSelectingNode:Normal'],
    ],
    [
      'an overlapping pool that is not approved is not counted',
      [poolFixture('here', { cidrs: ['10.244.0.0/16'] }), poolFixture('pending', { cidrs: ['10.244.0.0/16'], approval: { state: 'Pending' } })],
      ['10.244.1.0/24 here'],
      ['PodAddressPool/pending:PoolNotApproved:Normal'],
    ],
  ])('%s', (_n, pools, advertised, problems) => {
    const r = plan({ pools });
    expect(r.advertised.map((a) => `${a.prefix} ${a.pool}`)).toEqual(advertised);
    expect(reasons(r)).toEqual(problems);
    expect(renderBirdConf(plan({ pools: [...pools].reverse() }).model)).toBe(renderBirdConf(r.model));
  });

  it('communities come from the owner only', () => {
    const r = plan({
      pools: [
        poolFixture('outer', { cidrs: ['10.244.0.0/16'], communities: ['1:1'] }),
        poolFixture('inner', { cidrs: ['10.244.0.0/20'], communities: ['2:2'] }),
      ],
    });
    expect(r.model.communities).toEqual([{ community: [2, 2], v4: ['10.244.1.0/24'], v6: [] }]);
    expect(r.problems[0]!.message).toMatch(/overlaps PodAddressPool inner \(10\.244\.0\.0\/16 contains 10\.244\.0\.0\/20\).*as inner's/);
  });

  it('nested PodIPs pools: the host route goes to the most specific pool', () => {
    const r = plan({
      pools: [podPool('wide'), podPool('narrow', { cidrs: ['10.250.7.0/24'] })],
      podIPs: [{ namespace: 'a', name: 'p', ips: ['10.250.7.7', '10.250.8.8'] }],
    });
    expect(r.advertised.map((a) => `${a.prefix} ${a.pool}`)).toEqual(['10.250.7.7/32 narrow', '10.250.8.8/32 wide']);
    expect(reasons(r)).toEqual(['PodAddressPool/wide:OverlappingPool:Normal']);
  });
});

describe('partial podCIDRs and pools that skip the node', () => {
  it.each<[string, string[], string[], string[], string[]]>([
    ['podCIDR inside the pool: all of it', ['10.244.1.0/24'], ['10.244.0.0/16'], ['10.244.1.0/24'], []],
    [
      'pool inside the podCIDR: only the pool CIDR, PartialPodCIDR',
      ['10.244.1.0/24'],
      ['10.244.1.128/25'],
      ['10.244.1.128/25'],
      ['Node/node-a:PartialPodCIDR:Normal'],
    ],
    ['two pools covering the podCIDR together: no problem', ['10.244.1.0/24'], ['10.244.1.0/25', '10.244.1.128/25'], ['10.244.1.0/25', '10.244.1.128/25'], []],
    [
      'podCIDR larger than the pool (a /16 podCIDR, a /24 pool)',
      ['10.244.0.0/16'],
      ['10.244.9.0/24'],
      ['10.244.9.0/24'],
      ['Node/node-a:PartialPodCIDR:Normal'],
    ],
    ['no overlap', ['10.244.1.0/24'], ['10.96.0.0/12'], [], ['PodAddressPool/p0:NoPodCIDRInPool:Normal']],
  ])('%s', (_n, podCIDRs, poolCidrs, advertised, problems) => {
    const r = plan({ node: nodeFixture({ podCIDRs }), pools: poolCidrs.map((c, i) => poolFixture(`p${i}`, { cidrs: [c] })) });
    expect(r.advertised.map((a) => a.prefix)).toEqual(advertised);
    expect(reasons(r)).toEqual(problems);
  });

  it('PartialPodCIDR names what is left out', () => {
    const r = plan({ pools: [poolFixture('p', { cidrs: ['10.244.1.0/26'] })] });
    expect(r.problems).toMatchObject([{ object: { kind: 'Node', name: 'node-a' }, field: 'spec.podCIDRs[0]', reason: 'PartialPodCIDR', severity: 'Normal' }]);
    expect(r.problems[0]!.message).toContain('only 10.244.1.0/26 is advertised; 10.244.1.64/26, 10.244.1.128/25 is not');
  });

  it.each<[string, string, string[], string[]]>([
    ['nothing covered', '10.0.0.0/24', [], ['10.0.0.0/24']],
    ['all covered', '10.0.0.0/24', ['10.0.0.0/16'], []],
    ['first quarter', '10.0.0.0/24', ['10.0.0.0/26'], ['10.0.0.64/26', '10.0.0.128/25']],
    ['middle /32', '10.0.0.0/30', ['10.0.0.1/32'], ['10.0.0.0/32', '10.0.0.2/31']],
    ['IPv6', 'fd00::/64', ['fd00::/65'], ['fd00::8000:0:0:0/65']],
  ])('prefixRemainder: %s', (_n, whole, parts, want) => {
    expect(prefixRemainder(pfx(whole), parts.map(pfx)).map((p) => p.text)).toEqual(want);
  });

  it('a pool that selects no label of the node: Normal PoolNotSelectingNode, one per pool', () => {
    const r = plan({
      pools: [
        poolFixture('r13', { nodeSelector: { matchLabels: { 'topology.kubernetes.io/rack': 'r13' } } }),
        poolFixture('gpu', { nodeSelector: { matchExpressions: [{ key: 'gpu', operator: 'Exists' }] } }),
      ],
    });
    expect(r.advertised).toEqual([]);
    expect(r.problems.map((p) => [p.object.name, p.reason, p.severity, p.field])).toEqual([
      ['gpu', 'PoolNotSelectingNode', 'Normal', 'spec.nodeSelector'],
      ['r13', 'PoolNotSelectingNode', 'Normal', 'spec.nodeSelector'],
    ]);
    expect(r.problems[1]!.message).toContain('topology.kubernetes.io/rack');
  });
});

describe('peerAddress: Gateway', () => {
  const gwPeer = (spec = {}) => peerFixture('gw', { peerAddress: 'Gateway', ...spec });

  it.each<[string, BgpPlanInput['defaultGateway'], object, { address?: string; reason?: string }]>([
    ['IPv4 gateway', { v4: '172.31.0.1', v6: 'fd00:31::1' }, {}, { address: '172.31.0.1' }],
    ['only IPv6 (global)', { v6: 'FD00:31::1' }, {}, { address: 'fd00:31::1' }],
    ['sourceAddress picks the family', { v4: '172.31.0.1', v6: 'fd00:31::1' }, { sourceAddress: 'fd00:31::2' }, { address: 'fd00:31::1' }],
    ['not looked up', undefined, {}, { reason: 'GatewayNotFound' }],
    ['node has none', {}, {}, { reason: 'GatewayNotFound' }],
    ['none of the family of sourceAddress', { v4: '172.31.0.1' }, { sourceAddress: 'fd00:31::2' }, { reason: 'GatewayNotFound' }],
    ['link-local IPv6 gateway', { v6: 'fe80::1' }, {}, { reason: 'PeerAddressNotSupported' }],
    ['unspecified IPv6 gateway', { v6: '::' }, {}, { reason: 'InvalidPeerAddress' }],
    ['loopback gateway', { v4: '127.0.0.1' }, {}, { reason: 'InvalidPeerAddress' }],
    ['garbage from the caller', { v4: '172.31.0.1"; include "x' }, {}, { reason: 'GatewayNotFound' }],
  ])('%s', (_n, defaultGateway, spec, want) => {
    const r = plan({ peers: [gwPeer(spec)], ...(defaultGateway !== undefined ? { defaultGateway } : {}) });
    if (want.address) {
      expect(r.model.peers).toMatchObject([{ peer: 'gw', address: want.address, viaGateway: true, protocol: protocolName('gw') }]);
    } else {
      expect(r.model.peers).toEqual([]);
      expect(r.problems.filter((p) => p.severity === 'Warning')).toMatchObject([{ object: { name: 'gw' }, field: 'spec.peerAddress', reason: want.reason }]);
    }
  });

  it('a Gateway peer and an explicit peer for the same address: one session, DuplicatePeer', () => {
    const r = plan({ peers: [gwPeer(), peerFixture('explicit', { peerAddress: '172.31.0.1' })], defaultGateway: { v4: '172.31.0.1' } });
    expect(r.model.peers.map((p) => p.peer)).toEqual(['explicit']);
    expect(reasons(r)).toEqual(['BGPPeer/gw:DuplicatePeer:Warning']);
  });

  it('a new gateway is a session-resetting address change', () => {
    const a = plan({ peers: [gwPeer()], defaultGateway: { v4: '172.31.0.1' } }).model;
    const b = plan({ peers: [gwPeer()], defaultGateway: { v4: '172.31.0.254' } }).model;
    expect(sessionResettingChanges(a, b)).toEqual([{ peer: 'gw', protocol: protocolName('gw'), fields: ['address'] }]);
  });
});

describe('BFD', () => {
  it.each<[string, object | undefined, object | undefined]>([
    ['design example', { enabled: true, minIntervalMilliseconds: 300, multiplier: 3 }, { intervalMs: 300, multiplier: 3 }],
    ['object without enabled means on, with defaults', {}, { intervalMs: 300, multiplier: 3 }],
    ['custom', { minIntervalMilliseconds: 50, multiplier: 5 }, { intervalMs: 50, multiplier: 5 }],
    ['disabled', { enabled: false, minIntervalMilliseconds: 50 }, undefined],
    ['absent', undefined, undefined],
  ])('%s', (_n, bfd, want) => {
    const [peer] = plan({ peers: [peerFixture('tor', bfd === undefined ? {} : { bfd })] }).model.peers;
    expect(peer?.bfd).toEqual(want);
  });

  it('renders bfd per session and one BFD protocol; none without BFD peers', () => {
    const m = plan({
      peers: [
        peerFixture('a', { bfd: { minIntervalMilliseconds: 200, multiplier: 4 } }),
        peerFixture('b', { peerAddress: '172.31.0.9', bfd: { enabled: true } }),
      ],
    }).model;
    const text = renderBirdConf(m);
    expect(text.match(/^protocol bfd podlb_bfd \{$/gm)).toHaveLength(1);
    expect(text).toContain('  bfd { min rx interval 200 ms; min tx interval 200 ms; multiplier 4; };');
    expect(text).toContain('  bfd { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; };');
    expect(text.match(/^ {2}bfd on;$/gm)).toHaveLength(2);
    expect(renderBirdConf(plan().model)).not.toMatch(/bfd/);
  });

  it('BFD on or new intervals keep the session, BFD off restarts it (measured: test/bgp-session-reset.test.ts)', () => {
    const a = plan({ peers: [peerFixture('tor')] }).model;
    const b = plan({ peers: [peerFixture('tor', { bfd: { enabled: true, minIntervalMilliseconds: 100 } })] }).model;
    const c = plan({ peers: [peerFixture('tor', { bfd: { enabled: true, minIntervalMilliseconds: 300 } })] }).model;
    expect(sessionResettingChanges(a, b)).toEqual([]);
    expect(sessionResettingChanges(b, c)).toEqual([]);
    expect(sessionResettingChanges(c, a)).toEqual([{ peer: 'tor', protocol: protocolName('tor'), fields: ['bfd'] }]);
  });

  it.each<[string, object, boolean]>([
    ['eBGP multihop without sourceAddress', { ebgpMultihop: 2 }, false],
    ['iBGP without sourceAddress', { localASN: 65000 }, false],
    ['eBGP multihop with sourceAddress', { ebgpMultihop: 2, sourceAddress: '172.31.0.2' }, true],
    ['iBGP with sourceAddress', { localASN: 65000, sourceAddress: '172.31.0.2' }, true],
  ])('BFD on a multihop session (%s): BIRD needs the local address (found by the fuzz test)', (_n, spec, ok) => {
    const r = plan({ peers: [peerFixture('tor', { bfd: { enabled: true }, ...spec })] });
    expect(r.model.peers.length).toBe(ok ? 1 : 0);
    if (!ok) expect(r.problems).toMatchObject([{ field: 'spec.bfd', reason: 'InvalidPeer' }]);
  });

  it.each<[string, object, string]>([
    ['interval 0', { minIntervalMilliseconds: 0 }, 'spec.bfd.minIntervalMilliseconds'],
    ['interval float', { minIntervalMilliseconds: 1.5 }, 'spec.bfd.minIntervalMilliseconds'],
    ['interval huge', { minIntervalMilliseconds: 1e12 }, 'spec.bfd.minIntervalMilliseconds'],
    ['multiplier string', { multiplier: '3' }, 'spec.bfd.multiplier'],
    ['not an object', ['on'], 'spec.bfd'],
  ])('refuses %s', (_n, bfd, field) => {
    const r = plan({ peers: [peerFixture('tor', { bfd: bfd as never })] });
    expect(r.model.peers).toEqual([]);
    expect(r.problems).toMatchObject([{ field, reason: 'InvalidPeer', severity: 'Warning' }]);
  });
});

describe('podIPsForNode', () => {
  const svc = (ns: string, selector: Record<string, string> | undefined, cls: string | null = 'l7lb'): Service => ({
    metadata: { name: 's', namespace: ns, ...(cls !== null ? { annotations: { 'podlb.io/load-balancer': cls } } : {}) },
    spec: { ...(selector ? { selector } : {}) },
  });
  const pod = (
    name: string,
    over: { ns?: string; node?: string; labels?: Record<string, string>; ips?: string[]; podIP?: string; phase?: string; hostNetwork?: boolean } = {},
  ): Pod => ({
    metadata: { name, namespace: over.ns ?? 'ads', labels: over.labels ?? { app: 'bidder' } },
    spec: { nodeName: over.node ?? 'node-a', containers: [], ...(over.hostNetwork ? { hostNetwork: true } : {}) },
    status: {
      ...(over.phase ? { phase: over.phase } : { phase: 'Running' }),
      ...(over.ips ? { podIPs: over.ips.map((ip) => ({ ip })) } : {}),
      ...(over.podIP ? { podIP: over.podIP } : {}),
    },
  });

  it('keeps this node’s running Pods that an opted-in Service selects', () => {
    const pods = [
      pod('z', { ips: ['10.250.0.2', 'fd00:250::2', '10.250.0.2'] }),
      pod('a', { podIP: '10.250.0.1' }),
      pod('other-node', { node: 'node-b', ips: ['10.250.0.3'] }),
      pod('other-app', { labels: { app: 'x' }, ips: ['10.250.0.4'] }),
      pod('other-ns', { ns: 'web', ips: ['10.250.0.5'] }),
      pod('done', { phase: 'Succeeded', ips: ['10.250.0.6'] }),
      pod('host', { hostNetwork: true, ips: ['172.31.0.2'] }),
      pod('no-ip'),
    ];
    expect(podIPsForNode({ nodeName: 'node-a', pods, services: [svc('ads', { app: 'bidder' })] })).toEqual([
      { namespace: 'ads', name: 'a', ips: ['10.250.0.1'] },
      { namespace: 'ads', name: 'z', ips: ['10.250.0.2', 'fd00:250::2'] },
    ]);
  });

  it.each<[string, Service]>([
    ['not opted in', svc('ads', { app: 'bidder' }, null)],
    ['empty class', svc('ads', { app: 'bidder' }, '')],
    ['no selector', svc('ads', undefined)],
    ['empty selector', svc('ads', {})],
  ])('a Service %s selects nothing', (_n, s) => {
    expect(podIPsForNode({ nodeName: 'node-a', pods: [pod('a', { podIP: '10.250.0.1' })], services: [s] })).toEqual([]);
  });
});
