import { describe, expect, it } from 'vitest';
import type { BGPPeer, PodAddressPool } from '../api/types.js';
import { parsePrefix, type AddrText, type PrefixText } from '../net/ip.js';
import type { BirdPassword, BirdSymbol } from './bird-values.js';
import { parseConfig, parseNode, parsePool } from './config.js';
import { nodeFixture, peerFixture, poolFixture, secretFixture } from '../../testkit/bgp-fixtures.js';
import { buildBgpPlan, planBgp, type BirdModel } from './model.js';
import { parsePeer } from './peer-config.js';

const texts = (list: readonly { text: string }[]) => list.map((p) => p.text);
const where = (ps: readonly { object: { kind: string; name: string }; field: string; reason: string }[]) =>
  ps.map((p) => `${p.object.kind}/${p.object.name} ${p.field} ${p.reason}`);

describe('parsePool', () => {
  it.each<[string, Partial<PodAddressPool['spec']>, { state: string; mode: string; cidrs: string[]; communities: [number, number][]; problems: string[] }]>([
    [
      'valid, canonical',
      { cidrs: ['10.244.0.0/16', 'FD00:0244::/56'], communities: ['65000:100', '65000:100', '1:2'] },
      {
        state: 'Approved',
        mode: 'NodeCIDR',
        cidrs: ['10.244.0.0/16', 'fd00:244::/56'],
        communities: [
          [65000, 100],
          [1, 2],
        ],
        problems: [],
      },
    ],
    [
      'pending but parsed',
      { approval: { state: 'Pending' } },
      { state: 'Pending', mode: 'NodeCIDR', cidrs: ['10.244.0.0/16', 'fd00:244::/56'], communities: [], problems: [] },
    ],
    [
      'unknown state is Pending',
      { approval: { state: 'Maybe' as 'Pending' } },
      { state: 'Pending', mode: 'NodeCIDR', cidrs: ['10.244.0.0/16', 'fd00:244::/56'], communities: [], problems: [] },
    ],
    [
      'rejected and invalid: both known',
      { approval: { state: 'Rejected' }, cidrs: ['x'] },
      { state: 'Rejected', mode: 'NodeCIDR', cidrs: [], communities: [], problems: ['spec.cidrs[0]'] },
    ],
    ['PodIPs', { advertise: 'PodIPs' }, { state: 'Approved', mode: 'PodIPs', cidrs: ['10.244.0.0/16', 'fd00:244::/56'], communities: [], problems: [] }],
    [
      'bad advertise stops before cidrs',
      { advertise: 'All' as 'PodIPs', cidrs: ['x'] },
      { state: 'Approved', mode: 'NodeCIDR', cidrs: [], communities: [], problems: ['spec.advertise'] },
    ],
    [
      'every bad CIDR, none kept',
      { cidrs: ['10.0.0.0/8', '10.1.0.5/16', 'nope'] },
      { state: 'Approved', mode: 'NodeCIDR', cidrs: [], communities: [], problems: ['spec.cidrs[1]', 'spec.cidrs[2]'] },
    ],
    [
      'bad CIDR stops before communities',
      { cidrs: ['nope'], communities: ['x'] },
      { state: 'Approved', mode: 'NodeCIDR', cidrs: [], communities: [], problems: ['spec.cidrs[0]'] },
    ],
    [
      'communities not a list',
      { communities: 'x' as unknown as string[] },
      { state: 'Approved', mode: 'NodeCIDR', cidrs: [], communities: [], problems: ['spec.communities[0]'] },
    ],
  ])('%s', (_n, spec, want) => {
    const c = parsePool(poolFixture('p', spec));
    expect({ state: c.state, mode: c.mode, cidrs: texts(c.cidrs), communities: c.communities, problems: c.problems.map((p) => p.field) }).toEqual(want);
    expect(c.problems.every((p) => p.reason === 'InvalidPool' && p.severity === 'Warning')).toBe(true);
  });

  it('keeps a selector problem apart from the other fields, which are still checked', () => {
    const c = parsePool(poolFixture('p', { nodeSelector: { matchLabels: { rack: 'a b' } }, cidrs: ['nope'] }));
    expect(c.selector).toBeUndefined();
    expect(c.selectorProblem).toMatchObject({ field: 'spec.nodeSelector.matchLabels[rack]', reason: 'InvalidPool' });
    expect(c.problems.map((p) => p.field)).toEqual(['spec.cidrs[0]']);
  });

  it('survives objects that are not shaped like a pool', () => {
    for (const raw of [null, {}, { metadata: { name: 7 } }, { spec: 'x' }]) {
      const c = parsePool(raw as unknown as PodAddressPool);
      expect(c.name).toBe('<unnamed>');
      expect(c.state).toBe('Pending');
      expect(c.problems.map((p) => p.field)).toEqual(['spec.cidrs']);
    }
  });
});

describe('parsePeer', () => {
  const pw = secretFixture('tor-md5', 'password', 's3cret');
  const ref = { name: 'tor-md5', key: 'password' };
  it.each<[string, Partial<BGPPeer['spec']>, { session?: string; bfd?: string; password?: string; gateway?: string[] }]>([
    ['valid', {}, {}],
    ['bad address', { peerAddress: '1.2.3' }, { session: 'spec.peerAddress InvalidPeer' }],
    ['link-local', { peerAddress: 'fe80::1' }, { session: 'spec.peerAddress PeerAddressNotSupported' }],
    ['unspecified IPv6 (BIRD refuses the whole config with it)', { peerAddress: '::' }, { session: 'spec.peerAddress InvalidPeerAddress' }],
    ['unspecified IPv4', { peerAddress: '0.0.0.0' }, { session: 'spec.peerAddress InvalidPeerAddress' }],
    ['"this network" 0/8', { peerAddress: '0.1.2.3' }, { session: 'spec.peerAddress InvalidPeerAddress' }],
    ['loopback IPv4', { peerAddress: '127.0.0.1' }, { session: 'spec.peerAddress InvalidPeerAddress' }],
    ['loopback IPv6', { peerAddress: '::1' }, { session: 'spec.peerAddress InvalidPeerAddress' }],
    ['multicast IPv4', { peerAddress: '224.0.0.5' }, { session: 'spec.peerAddress InvalidPeerAddress' }],
    ['multicast IPv6', { peerAddress: 'ff02::2' }, { session: 'spec.peerAddress InvalidPeerAddress' }],
    ['broadcast', { peerAddress: '255.255.255.255' }, { session: 'spec.peerAddress InvalidPeerAddress' }],
    ['reserved 240/4', { peerAddress: '240.0.0.1' }, { session: 'spec.peerAddress InvalidPeerAddress' }],
    ['link-local IPv4', { peerAddress: '169.254.0.1' }, { session: 'spec.peerAddress PeerAddressNotSupported' }],
    ['IPv4-mapped IPv6', { peerAddress: '::ffff:172.31.0.1' }, { session: 'spec.peerAddress InvalidPeerAddress' }],
    ['documentation range is a real unicast address', { peerAddress: '192.0.2.10' }, {}],
    ['documentation range IPv6', { peerAddress: '2001:db8::1' }, {}],
    ['unspecified source address', { sourceAddress: '0.0.0.0' }, { session: 'spec.sourceAddress InvalidPeerAddress' }],
    ['loopback source address', { sourceAddress: '127.0.0.1' }, { session: 'spec.sourceAddress InvalidPeerAddress' }],
    ['first session problem only', { peerASN: 0, localASN: -1 }, { session: 'spec.peerASN InvalidPeer' }],
    ['keepalive not below hold', { holdTimeSeconds: 9, keepaliveSeconds: 9 }, { session: 'spec.keepaliveSeconds InvalidPeer' }],
    ['source of the other family', { sourceAddress: 'fd00::2' }, { session: 'spec.sourceAddress InvalidPeer' }],
    ['bfd on iBGP without source', { localASN: 65000, bfd: { enabled: true } }, { bfd: 'spec.bfd InvalidPeer' }],
    ['bfd multiplier', { bfd: { multiplier: 0 } }, { bfd: 'spec.bfd.multiplier InvalidPeer' }],
    ['bfd off is not checked against multihop', { ebgpMultihop: 2, bfd: { enabled: false } }, {}],
    ['missing Secret', { passwordSecretRef: { name: 'other', key: 'password' } }, { password: 'spec.passwordSecretRef PasswordSecretNotFound' }],
    ['Secret found', { passwordSecretRef: ref }, {}],
    ['Gateway, IPv4 first', { peerAddress: 'Gateway' }, { gateway: ['v4', 'v6'] }],
    ['Gateway of the source family', { peerAddress: 'Gateway', sourceAddress: 'fd00::2' }, { gateway: ['v6'] }],
  ])('%s', (_n, spec, want) => {
    const c = parsePeer(peerFixture('tor', spec), [pw]);
    const show = (p: { field: string; reason: string } | undefined) => (p ? `${p.field} ${p.reason}` : undefined);
    expect({ session: show(c.sessionProblem), bfd: show(c.bfdProblem), password: show(c.passwordProblem), gateway: c.gateway }).toEqual({
      session: undefined,
      bfd: undefined,
      password: undefined,
      gateway: undefined,
      ...want,
    });
    expect(c.settings === undefined).toBe(c.sessionProblem !== undefined);
  });

  it('parses the session into typed values with the defaults filled in', () => {
    const c = parsePeer(
      peerFixture('tor', { holdTimeSeconds: undefined, keepaliveSeconds: undefined, gracefulRestart: undefined, passwordSecretRef: ref, bfd: {} }),
      [pw],
    );
    expect(c.settings).toMatchObject({
      address: { family: 4, text: '172.31.0.1' },
      peerAsn: 65000,
      localAsn: 64512,
      holdTime: 90,
      keepaliveTime: 30,
      gracefulRestart: { enabled: true },
    });
    expect(c.bfd).toEqual({ intervalMs: 300, multiplier: 3 });
    expect(c.password).toBe('s3cret');
    expect(c.protocol).toMatch(/^podlb_tor_[0-9a-f]{6}$/);
  });
});

describe('parseConfig', () => {
  const input = {
    pools: [poolFixture('b-bad', { cidrs: ['nope'] }), poolFixture('a-ok'), poolFixture('c-pending', { approval: { state: 'Pending' }, communities: ['x'] })],
    peers: [peerFixture('z-bad', { peerASN: 0 }), 'junk' as unknown as BGPPeer, peerFixture('a-sel', { nodeSelector: { matchLabels: { 'a b': 'c' } } })],
    secrets: [],
  };

  it('sorts by name, leaves out non-objects, and lists what is wrong with each object whatever the node', () => {
    const c = parseConfig(input);
    expect(c.pools.map((p) => p.name)).toEqual(['a-ok', 'b-bad', 'c-pending']);
    expect(c.peers.map((p) => p.name)).toEqual(['a-sel', 'z-bad']);
    expect(c.node).toBeUndefined();
    expect(where(c.problems)).toEqual([
      'PodAddressPool/b-bad spec.cidrs[0] InvalidPool',
      'PodAddressPool/c-pending spec.communities[0] InvalidPool',
      'BGPPeer/a-sel spec.nodeSelector.matchLabels["a b"] InvalidPeer',
      'BGPPeer/z-bad spec.peerASN InvalidPeer',
    ]);
  });

  it("puts the Node's problems first when given one", () => {
    const c = parseConfig({ ...input, node: nodeFixture({ internalIP: null, podCIDRs: [] }) });
    expect(where(c.problems).slice(0, 2)).toEqual(['Node/node-a status.addresses NoRouterID', 'Node/node-a spec.podCIDRs NoPodCIDR']);
  });

  it('plans every node from one parse exactly as buildBgpPlan does from the objects', () => {
    const objects = {
      pools: [poolFixture(), poolFixture('nested', { cidrs: ['10.244.1.0/25'], communities: ['65000:1'] })],
      peers: [peerFixture(), peerFixture('gw', { peerAddress: 'Gateway' })],
      secrets: [],
    };
    const config = parseConfig(objects);
    const facts = { defaultGateway: { v4: '172.31.0.254' } };
    for (const node of [nodeFixture(), nodeFixture({ name: 'b', podCIDRs: ['10.244.1.0/24', 'fd00:244:0:2::/64'] }), nodeFixture({ name: 'c', labels: {} })]) {
      expect(planBgp(config, parseNode(node), facts)).toEqual(buildBgpPlan({ node, ...objects, ...facts }));
    }
  });
});

describe('parseNode', () => {
  it('takes the first IPv4 InternalIP and remembers where each podCIDR was listed', () => {
    const n = nodeFixture({ podCIDRs: ['garbage', 'FD00::/64', '10.244.1.0/24', 'fd00::/64'] });
    n.status = {
      addresses: [
        { type: 'InternalIP', address: 'fd00::5' },
        { type: 'ExternalIP', address: '192.0.2.9' },
        { type: 'InternalIP', address: '172.31.0.7' },
      ],
    };
    const c = parseNode(n);
    expect(c.routerId?.text).toBe('172.31.0.7');
    expect(texts(c.podCidrs)).toEqual(['fd00::/64', '10.244.1.0/24', 'fd00::/64']);
    expect([...c.podCidrIndex]).toEqual([
      ['fd00::/64', 1],
      ['10.244.1.0/24', 2],
    ]);
    expect(where(c.problems)).toEqual(['Node/node-a spec.podCIDRs[0] InvalidPodCIDR']);
  });
});

describe('branded values', () => {
  it('only the parsers make the strings bird.conf is rendered from (checked by tsc)', () => {
    const r = parsePrefix('10.0.0.0/8');
    if (!r.ok) throw new Error(r.reason);
    const ok: PrefixText = r.prefix.text;
    // @ts-expect-error a plain string is not a validated prefix
    const prefix: PrefixText = '10.0.0.0/8 ]; include "/etc/passwd';
    // @ts-expect-error a plain string is not a validated address
    const address: AddrText = '1.2.3.4; router id 6.6.6.6';
    // @ts-expect-error a plain string is not a BIRD symbol
    const symbol: BirdSymbol = 'evil { }';
    // @ts-expect-error a plain string is not a checked password
    const password: BirdPassword = 'a"b';
    // @ts-expect-error the model takes branded prefixes only
    const model: Pick<BirdModel, 'v4'> = { v4: ['10.0.0.0/8'] };
    expect([ok, prefix, address, symbol, password, model.v4[0]]).toHaveLength(6);
  });
});
