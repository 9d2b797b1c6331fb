import { describe, expect, it } from 'vitest';
import { parseConfig, parseNode } from './config.js';
import { nodeFixture, peerFixture } from '../../testkit/bgp-fixtures.js';
import { parsePeer } from './peer-config.js';
import { peerModel, planPeers } from './peers.js';

const rack = (r: string) => ({ nodeSelector: { matchLabels: { 'topology.kubernetes.io/rack': r } } });

describe('planPeers: one parse, many nodes', () => {
  const config = parseConfig({
    pools: [],
    peers: [
      peerFixture('r12-tor', { peerAddress: '172.31.0.1', ...rack('r12') }),
      peerFixture('r13-tor', { peerAddress: '172.31.0.1', ...rack('r13') }),
      peerFixture('route-server', { peerAddress: 'fd00:31::53', nodeSelector: {} }),
      peerFixture('broken', { peerASN: 0, ...rack('r13') }),
      peerFixture('bad-selector', { nodeSelector: { matchLabels: { 'a b': 'c' } } }),
    ],
    secrets: [],
  });
  const node = (name: string, r: string | undefined, internalIP?: string | null) =>
    parseNode(nodeFixture({ name, labels: r ? { 'topology.kubernetes.io/rack': r } : {}, ...(internalIP !== undefined ? { internalIP } : {}) }));

  it.each<[string, ReturnType<typeof node>, string[], string[]]>([
    ['rack r12: its ToR and the route server', node('a', 'r12'), ['r12-tor', 'route-server'], ['bad-selector:InvalidPeer']],
    [
      'rack r13: the same ToR address is fine on another rack; the broken peer selects it',
      node('b', 'r13'),
      ['r13-tor', 'route-server'],
      ['bad-selector:InvalidPeer', 'broken:InvalidPeer'],
    ],
    ['no rack label: the route server only', node('c', undefined), ['route-server'], ['bad-selector:InvalidPeer']],
    ['no router id: no session, selector problems still said', node('d', 'r13', null), [], ['bad-selector:InvalidPeer']],
  ])('%s', (_n, n, sessions, problems) => {
    const r = planPeers(config.peers, n, undefined);
    expect(r.peers.map((p) => p.peer).sort()).toEqual(sessions);
    expect(r.problems.map((p) => `${p.object.name}:${p.reason}`)).toEqual(problems);
  });

  it('sorts sessions by protocol name and keeps the first peer per address', () => {
    const c = parseConfig({ pools: [], peers: [peerFixture('b'), peerFixture('a'), peerFixture('c', { peerAddress: '172.31.0.9' })], secrets: [] });
    const r = planPeers(c.peers, parseNode(nodeFixture()), undefined);
    expect(r.peers.map((p) => p.peer)).toEqual(['a', 'c']);
    expect(r.peers.map((p) => p.protocol)).toEqual([...r.peers.map((p) => p.protocol)].sort());
    expect(r.problems).toMatchObject([{ object: { name: 'b' }, field: 'spec.peerAddress', reason: 'DuplicatePeer' }]);
  });
});

describe('peerModel', () => {
  it.each<[string, object, { v4?: string; v6?: string } | undefined, string]>([
    ['fixed address ignores the gateway', {}, undefined, '172.31.0.1'],
    ['Gateway, IPv4', { peerAddress: 'Gateway' }, { v4: '172.31.0.254', v6: 'fd00::1' }, '172.31.0.254'],
    ['Gateway of the source family', { peerAddress: 'Gateway', sourceAddress: 'fd00::2' }, { v4: '172.31.0.254', v6: 'FD00::1' }, 'fd00::1'],
    ['Gateway not looked up', { peerAddress: 'Gateway' }, undefined, 'GatewayNotFound'],
    ['Gateway before the other problems', { peerAddress: 'Gateway', peerASN: 0 }, undefined, 'GatewayNotFound'],
    ['Gateway found, then the other problems', { peerAddress: 'Gateway', peerASN: 0 }, { v4: '172.31.0.254' }, 'InvalidPeer'],
    [
      'session problem before BFD and password',
      { peerASN: 0, bfd: { multiplier: 0 }, passwordSecretRef: { name: 'x', key: 'y' } },
      undefined,
      'InvalidPeer spec.peerASN',
    ],
    ['BFD problem before password', { bfd: { multiplier: 0 }, passwordSecretRef: { name: 'x', key: 'y' } }, undefined, 'InvalidPeer spec.bfd.multiplier'],
    ['password problem last', { passwordSecretRef: { name: 'x', key: 'y' } }, undefined, 'PasswordSecretNotFound spec.passwordSecretRef'],
  ])('%s', (_n, spec, gateway, want) => {
    const r = peerModel(parsePeer(peerFixture('tor', spec), []), gateway);
    const got = r.ok ? r.peer.address : `${r.problem.reason} ${r.problem.field}`;
    expect(got.startsWith(want)).toBe(true);
    if (r.ok) expect(r.peer.viaGateway).toBe((spec as { peerAddress?: string }).peerAddress === 'Gateway' ? true : undefined);
  });
});
