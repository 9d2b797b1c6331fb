import { describe, expect, it } from 'vitest';
import type { BGPPeer, PodAddressPool, Secret } from '../api/types.js';
import { nodeFixture, peerFixture, poolFixture, secretFixture } from '../../testkit/bgp-fixtures.js';
import { BIRD_SYMBOL, buildBgpPlan, protocolName, type BgpPlanInput } from './model.js';
import { renderBirdConf } from './render.js';

function plan(over: Partial<BgpPlanInput> = {}) {
  return buildBgpPlan({ node: nodeFixture(), pools: [poolFixture()], peers: [peerFixture()], secrets: [], ...over });
}

const pwPeer = (ns?: string) => peerFixture('tor', { passwordSecretRef: { ...(ns ? { namespace: ns } : {}), name: 'tor-md5', key: 'password' } });

describe('buildBgpPlan: pools', () => {
  it('advertises the podCIDR inside an approved, selecting pool', () => {
    const r = plan();
    expect(r.advertised).toEqual([{ prefix: '10.244.1.0/24', pool: 'tokyo-pods', mode: 'NodeCIDR' }]);
    expect(r.model.v4).toEqual(['10.244.1.0/24']);
    expect(r.model.v6).toEqual([]);
    expect(r.model.routerId).toBe('172.31.0.2');
    expect(r.problems).toEqual([]);
  });

  it('advertises a pool CIDR that lies inside a podCIDR', () => {
    const r = plan({ pools: [poolFixture('p', { cidrs: ['10.244.1.128/25'] })] });
    expect(r.advertised).toEqual([{ prefix: '10.244.1.128/25', pool: 'p', mode: 'NodeCIDR' }]);
  });

  it('handles dual stack, canonicalises IPv6 and sorts/dedupes across pools', () => {
    const r = plan({
      node: nodeFixture({ podCIDRs: ['FD00:0244:0000:0001:0000::/64', '10.244.1.0/24'] }),
      pools: [poolFixture('z-pool'), poolFixture('a-pool', { cidrs: ['10.244.1.0/24', 'fd00:244:0:1::/64'] })],
    });
    expect(r.advertised).toEqual([
      { prefix: '10.244.1.0/24', pool: 'a-pool', mode: 'NodeCIDR' },
      { prefix: 'fd00:244:0:1::/64', pool: 'a-pool', mode: 'NodeCIDR' },
    ]);
    expect(r.model.v6).toEqual(['fd00:244:0:1::/64']);
  });

  it.each<[string, Partial<PodAddressPool['spec']>, string, string, 'Warning' | 'Normal']>([
    ['pending', { approval: { state: 'Pending' } }, 'spec.approval.state', 'PoolNotApproved', 'Normal'],
    ['rejected', { approval: { state: 'Rejected' } }, 'spec.approval.state', 'PoolNotApproved', 'Normal'],
    ['no approval', { approval: undefined }, 'spec.approval.state', 'PoolNotApproved', 'Normal'],
    ['not selecting', { nodeSelector: { matchLabels: { rack: 'r99' } } }, 'spec.nodeSelector', 'PoolNotSelectingNode', 'Normal'],
    ['bad selector', { nodeSelector: { matchLabels: { rack: 'r1"}' } } }, 'spec.nodeSelector.matchLabels[rack]', 'InvalidPool', 'Warning'],
    ['invalid CIDR', { cidrs: ['10.244.0.0/16', '10.300.0.0/16'] }, 'spec.cidrs[1]', 'InvalidPool', 'Warning'],
    ['host bits set', { cidrs: ['10.244.1.5/16'] }, 'spec.cidrs[0]', 'InvalidPool', 'Warning'],
    ['length too long', { cidrs: ['10.244.0.0/33'] }, 'spec.cidrs[0]', 'InvalidPool', 'Warning'],
    ['not a string', { cidrs: [42 as unknown as string] }, 'spec.cidrs[0]', 'InvalidPool', 'Warning'],
    ['injection in CIDR', { cidrs: ['10.244.0.0/16 ]; include "/etc/passwd"; #'] }, 'spec.cidrs[0]', 'InvalidPool', 'Warning'],
    ['empty cidrs', { cidrs: [] }, 'spec.cidrs', 'InvalidPool', 'Warning'],
    ['bad advertise', { advertise: 'Everything' as 'NodeCIDR' }, 'spec.advertise', 'InvalidPool', 'Warning'],
    ['PodIPs without Pods given', { advertise: 'PodIPs', cidrs: ['10.250.0.0/16'] }, 'spec.advertise', 'PodIPsNotProvided', 'Normal'],
    ['bad community', { communities: ['65000:100', '70000:1'] }, 'spec.communities[1]', 'InvalidPool', 'Warning'],
    ['injected community', { communities: ['1:1)); accept; #'] }, 'spec.communities[0]', 'InvalidPool', 'Warning'],
    ['no overlap', { cidrs: ['10.96.0.0/16'] }, 'spec.cidrs', 'NoPodCIDRInPool', 'Normal'],
  ])('pool %s: problem on the pool, other pools keep working', (_n, spec, field, reason, severity) => {
    const r = plan({ pools: [poolFixture('bad', spec), poolFixture('good', { cidrs: ['10.244.1.0/24'] })] });
    expect(r.advertised).toEqual([{ prefix: '10.244.1.0/24', pool: 'good', mode: 'NodeCIDR' }]);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({ object: { kind: 'PodAddressPool', name: 'bad' }, field, reason, severity });
    expect(renderBirdConf(r.model)).not.toMatch(/passwd|#'|\)\); accept/);
  });

  it('reports a node without IPv4 InternalIP and configures no peers', () => {
    const r = plan({ node: nodeFixture({ internalIP: null }) });
    expect(r.problems.map((p) => p.reason)).toEqual(['NoRouterID']);
    expect(r.model.peers).toEqual([]);
    expect(r.model.routerId).toBeUndefined();
  });

  it('reports an invalid podCIDR on the Node', () => {
    const r = plan({ node: nodeFixture({ podCIDRs: ['10.244.1.0/24', 'garbage'] }) });
    expect(r.problems).toMatchObject([{ object: { kind: 'Node' }, field: 'spec.podCIDRs[1]', reason: 'InvalidPodCIDR' }]);
    expect(r.model.v4).toEqual(['10.244.1.0/24']);
  });

  it('attaches communities to the prefixes of their pool', () => {
    const r = plan({ pools: [poolFixture('p', { communities: ['65000:100', '65000:100', '1:2'] })] });
    expect(r.model.communities).toEqual([
      { community: [1, 2], v4: ['10.244.1.0/24'], v6: [] },
      { community: [65000, 100], v4: ['10.244.1.0/24'], v6: [] },
    ]);
  });
});

describe('buildBgpPlan: peers', () => {
  it('builds a typed peer', () => {
    const r = plan();
    expect(r.model.peers).toEqual([
      {
        peer: 'rack-r12-tor',
        protocol: protocolName('rack-r12-tor'),
        family: 4,
        address: '172.31.0.1',
        localAsn: 64512,
        peerAsn: 65000,
        holdTime: 90,
        keepaliveTime: 30,
        gracefulRestart: { enabled: true, restartTime: 120 },
      },
    ]);
  });

  it('defaults: hold 90, keepalive hold/3, graceful restart on', () => {
    const p = peerFixture('d', { holdTimeSeconds: undefined, keepaliveSeconds: undefined, gracefulRestart: undefined });
    const [peer] = plan({ peers: [p] }).model.peers;
    expect(peer).toMatchObject({ holdTime: 90, keepaliveTime: 30, gracefulRestart: { enabled: true } });
  });

  it('hold 0 disables keepalive', () => {
    const [peer] = plan({ peers: [peerFixture('d', { holdTimeSeconds: 0, keepaliveSeconds: undefined })] }).model.peers;
    expect(peer?.holdTime).toBe(0);
    expect(peer?.keepaliveTime).toBeUndefined();
  });

  it('skips peers that do not select the node, silently', () => {
    const r = plan({ peers: [peerFixture('other-rack', { nodeSelector: { matchLabels: { 'topology.kubernetes.io/rack': 'r13' } } })] });
    expect(r.model.peers).toEqual([]);
    expect(r.problems).toEqual([]);
  });

  it('passes multihop, source address and graceful restart off through', () => {
    const [peer] = plan({
      peers: [peerFixture('m', { ebgpMultihop: 2, sourceAddress: '172.31.0.2', gracefulRestart: { enabled: false, restartTimeSeconds: 100 } })],
    }).model.peers;
    expect(peer).toMatchObject({ multihop: 2, sourceAddress: '172.31.0.2', gracefulRestart: { enabled: false } });
  });

  it.each<[string, Partial<BGPPeer['spec']>, string, string]>([
    ['Gateway, none given', { peerAddress: 'Gateway' }, 'spec.peerAddress', 'GatewayNotFound'],
    ['not an IP', { peerAddress: 'tor.example.com' }, 'spec.peerAddress', 'InvalidPeer'],
    ['IP with injection', { peerAddress: '172.31.0.1 as 1; include "/x"' }, 'spec.peerAddress', 'InvalidPeer'],
    ['leading zeros', { peerAddress: '172.031.0.1' }, 'spec.peerAddress', 'InvalidPeer'],
    ['link-local v6', { peerAddress: 'fe80::1' }, 'spec.peerAddress', 'PeerAddressNotSupported'],
    ['peerASN 0', { peerASN: 0 }, 'spec.peerASN', 'InvalidPeer'],
    ['peerASN too big', { peerASN: 4294967296 }, 'spec.peerASN', 'InvalidPeer'],
    ['peerASN string', { peerASN: '65000' as unknown as number }, 'spec.peerASN', 'InvalidPeer'],
    ['localASN fraction', { localASN: 64512.5 }, 'spec.localASN', 'InvalidPeer'],
    ['hold 2', { holdTimeSeconds: 2 }, 'spec.holdTimeSeconds', 'InvalidPeer'],
    ['hold 65536', { holdTimeSeconds: 65536 }, 'spec.holdTimeSeconds', 'InvalidPeer'],
    ['keepalive = hold', { holdTimeSeconds: 90, keepaliveSeconds: 90 }, 'spec.keepaliveSeconds', 'InvalidPeer'],
    ['keepalive 0', { keepaliveSeconds: 0 }, 'spec.keepaliveSeconds', 'InvalidPeer'],
    ['keepalive with hold 0', { holdTimeSeconds: 0, keepaliveSeconds: 10 }, 'spec.keepaliveSeconds', 'InvalidPeer'],
    ['GR enabled not bool', { gracefulRestart: { enabled: 'yes' as unknown as boolean } }, 'spec.gracefulRestart.enabled', 'InvalidPeer'],
    ['GR time 5000', { gracefulRestart: { restartTimeSeconds: 5000 } }, 'spec.gracefulRestart.restartTimeSeconds', 'InvalidPeer'],
    ['multihop 256', { ebgpMultihop: 256 }, 'spec.ebgpMultihop', 'InvalidPeer'],
    ['source not IP', { sourceAddress: 'eth0' }, 'spec.sourceAddress', 'InvalidPeer'],
    ['source other family', { sourceAddress: 'fd00::2' }, 'spec.sourceAddress', 'InvalidPeer'],
    ['bfd multiplier', { bfd: { enabled: true, multiplier: 0 } }, 'spec.bfd.multiplier', 'InvalidPeer'],
    [
      'bad selector',
      { nodeSelector: { matchExpressions: [{ key: 'rack', operator: 'Gt' as 'In', values: ['1'] }] } },
      'spec.nodeSelector.matchExpressions[0].operator',
      'InvalidPeer',
    ],
  ])('peer %s: problem naming the field, peer omitted, others kept', (_n, spec, field, reason) => {
    const r = plan({ peers: [peerFixture('bad', spec), peerFixture('good', { peerAddress: '172.31.0.9' })] });
    expect(r.model.peers.map((p) => p.peer)).toEqual(['good']);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({ object: { kind: 'BGPPeer', name: 'bad' }, field, reason, severity: 'Warning' });
  });

  it('refuses a second peer with the same address', () => {
    const r = plan({ peers: [peerFixture('b'), peerFixture('a')] });
    expect(r.model.peers.map((p) => p.peer)).toEqual(['a']);
    expect(r.problems).toMatchObject([{ object: { name: 'b' }, reason: 'DuplicatePeer' }]);
  });

  it('notes prefixes of a family that no peer carries', () => {
    const r = plan({ node: nodeFixture({ podCIDRs: ['10.244.1.0/24', 'fd00:244:0:1::/64'] }) });
    expect(r.problems).toMatchObject([{ reason: 'NoPeerForFamily', severity: 'Normal' }]);
  });
});

describe('buildBgpPlan: passwords', () => {
  const withSecret = (value: string | Buffer, ns = 'podlb-system', key = 'password'): Secret[] => [secretFixture('tor-md5', key, value, ns)];

  it('reads the password from the Secret (base64 data)', () => {
    const [peer] = plan({ peers: [pwPeer()], secrets: withSecret('s3cret-Pa55!') }).model.peers;
    expect(peer?.password).toBe('s3cret-Pa55!');
  });

  it('accepts stringData and an explicit namespace', () => {
    const s: Secret = { metadata: { name: 'tor-md5', namespace: 'net' }, stringData: { password: 'abc' } };
    expect(plan({ peers: [pwPeer('net')], secrets: [s] }).model.peers[0]?.password).toBe('abc');
  });

  it('accepts exactly 80 bytes', () => {
    expect(plan({ peers: [pwPeer()], secrets: withSecret('x'.repeat(80)) }).model.peers[0]?.password).toHaveLength(80);
  });

  it.each<[string, Secret[], string]>([
    ['missing secret', [], 'PasswordSecretNotFound'],
    ['other namespace', withSecret('abc', 'default'), 'PasswordSecretNotFound'],
    ['missing key', withSecret('abc', 'podlb-system', 'other'), 'PasswordSecretNotFound'],
    ['invalid base64', [{ metadata: { name: 'tor-md5', namespace: 'podlb-system' }, data: { password: '!!notbase64' } }], 'PasswordSecretNotFound'],
    ['empty', withSecret(''), 'InvalidPassword'],
    ['81 bytes', withSecret('x'.repeat(81)), 'InvalidPassword'],
    ['double quote', withSecret('ab"; include "/etc/passwd'), 'InvalidPassword'],
    ['backslash', withSecret('ab\\"cd'), 'InvalidPassword'],
    ['newline', withSecret('ab\n}\nprotocol bgp evil {'), 'InvalidPassword'],
    ['NUL', withSecret(Buffer.from([0x61, 0x00, 0x62])), 'InvalidPassword'],
    ['non-ASCII', withSecret('pässword'), 'InvalidPassword'],
  ])('%s: peer omitted, the value never echoed', (_n, secrets, reason) => {
    const r = plan({ peers: [pwPeer()], secrets });
    expect(r.model.peers).toEqual([]);
    expect(r.problems).toMatchObject([{ field: 'spec.passwordSecretRef', reason }]);
    const text = JSON.stringify(r.problems) + renderBirdConf(r.model);
    for (const s of secrets) for (const v of Object.values(s.data ?? {})) expect(text).not.toContain(Buffer.from(v, 'base64').toString() || '\u0000none');
  });
});

describe('buildBgpPlan: names and determinism', () => {
  it.each(['rack-r12-tor', 'a', 'x'.repeat(253), 'tor"; include "/etc/passwd"; #', 'tor}\nprotocol bgp evil {', 'UPPER.case/with spaces'])(
    'protocol name for %j is a valid BIRD symbol',
    (n) => {
      const s = protocolName(n);
      expect(s).toMatch(BIRD_SYMBOL);
      expect(s.startsWith('podlb_')).toBe(true);
    },
  );

  it('distinct names give distinct protocol names', () => {
    expect(protocolName('a.b')).not.toBe(protocolName('a-b'));
  });

  it('a hostile peer name never reaches the file', () => {
    const hostile = 'tor"; include "/etc/passwd"; # {x}\nprotocol';
    const r = plan({ peers: [peerFixture(hostile)] });
    expect(r.model.peers).toHaveLength(1);
    const text = renderBirdConf(r.model);
    // Neutralised to a symbol: the words may survive, the syntax cannot.
    expect(text).not.toContain('"');
    expect(text).not.toContain('{x}');
    expect(text).not.toMatch(/^\s*include/m);
    expect(text).not.toMatch(/^protocol bgp evil/m);
    expect(text).toMatch(/^protocol bgp podlb_[a-z0-9_]{1,32}_[0-9a-f]{6} \{$/m);
  });

  it('hostile labels on the node cannot match anything unexpected', () => {
    const r = plan({ node: nodeFixture({ labels: { 'podlb.io/bgp': 'true"; }', 'topology.kubernetes.io/rack': 'r12' } }) });
    // The pool's selector wants exactly "true": not selected, noted; the text has no trace.
    expect(r.advertised).toEqual([]);
    expect(renderBirdConf(r.model)).not.toContain('"; }');
  });

  it('input order does not change the output', () => {
    const pools = [
      poolFixture('a', { cidrs: ['10.244.1.0/25'] }),
      poolFixture('b', { cidrs: ['10.244.1.128/25'] }),
      poolFixture('c', { approval: { state: 'Pending' } }),
    ];
    const peers = [peerFixture('p1', { peerAddress: '172.31.0.1' }), peerFixture('p2', { peerAddress: '172.31.0.3' })];
    const a = plan({ pools, peers });
    const b = plan({ pools: [...pools].reverse(), peers: [...peers].reverse() });
    expect(renderBirdConf(b.model)).toBe(renderBirdConf(a.model));
    expect(b.advertised).toEqual(a.advertised);
    expect(b.problems).toEqual(a.problems);
  });
});
