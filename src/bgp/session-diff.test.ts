import { describe, expect, it } from 'vitest';
import type { BGPPeer } from '../api/types.js';
import { nodeFixture, peerFixture, poolFixture, secretFixture } from '../../testkit/bgp-fixtures.js';
import { buildBgpPlan, protocolName, type BgpPlanInput } from './model.js';
import { sessionResettingChanges } from './session-diff.js';

function plan(over: Partial<BgpPlanInput> = {}) {
  return buildBgpPlan({ node: nodeFixture(), pools: [poolFixture()], peers: [peerFixture()], secrets: [], ...over });
}

const pwPeer = () => peerFixture('tor', { passwordSecretRef: { name: 'tor-md5', key: 'password' } });

describe('sessionResettingChanges', () => {
  it('names the fields that restart a session, and only those', () => {
    const a = plan({ peers: [peerFixture('tor'), peerFixture('other', { peerAddress: '172.31.0.9' })] }).model;
    const prefixOnly = plan({
      node: nodeFixture({ podCIDRs: ['10.244.1.0/24', '10.244.2.0/24'] }),
      peers: [peerFixture('tor'), peerFixture('other', { peerAddress: '172.31.0.9' })],
    }).model;
    expect(sessionResettingChanges(a, prefixOnly)).toEqual([]);
    const timers = plan({
      peers: [peerFixture('tor', { holdTimeSeconds: 30, keepaliveSeconds: 10 }), peerFixture('other', { peerAddress: '172.31.0.9' })],
    }).model;
    expect(sessionResettingChanges(a, timers)).toEqual([{ peer: 'tor', protocol: protocolName('tor'), fields: ['holdTime', 'keepaliveTime'] }]);
    const pw = plan({ peers: [pwPeer()], secrets: [secretFixture('tor-md5', 'password', 'secret-1')] }).model;
    const pw2 = plan({ peers: [pwPeer()], secrets: [secretFixture('tor-md5', 'password', 'secret-2')] }).model;
    expect(JSON.stringify(sessionResettingChanges(pw, pw2))).toBe(JSON.stringify([{ peer: 'tor', protocol: protocolName('tor'), fields: ['password'] }]));
  });
});

describe('sessionResettingChanges: one field at a time', () => {
  const secrets = [secretFixture('a', 'password', 'secret-a'), secretFixture('b', 'password', 'secret-b')];
  const peersOf = (spec: Partial<BGPPeer['spec']>) => plan({ peers: [peerFixture('tor', spec)], secrets, defaultGateway: { v4: '172.31.0.1' } }).model;
  const base: Partial<BGPPeer['spec']> = { passwordSecretRef: { name: 'a', key: 'password' } };
  it.each<[string, Partial<BGPPeer['spec']>, string[]]>([
    ['peerAddress', { peerAddress: '172.31.0.9' }, ['address']],
    ['Gateway resolving to the same address', { peerAddress: 'Gateway' }, []],
    ['peerASN', { peerASN: 65001 }, ['peerAsn']],
    ['localASN', { localASN: 64513 }, ['localAsn']],
    ['holdTimeSeconds', { holdTimeSeconds: 60 }, ['holdTime']],
    ['keepaliveSeconds', { keepaliveSeconds: 20 }, ['keepaliveTime']],
    ['password', { passwordSecretRef: { name: 'b', key: 'password' } }, ['password']],
    ['ebgpMultihop', { ebgpMultihop: 2 }, ['multihop']],
    ['sourceAddress', { sourceAddress: '172.31.0.2' }, ['sourceAddress']],
    ['graceful restart off', { gracefulRestart: { enabled: false } }, ['gracefulRestart']],
    ['graceful restart time', { gracefulRestart: { enabled: true, restartTimeSeconds: 60 } }, ['gracefulRestart']],
    ['BFD on', { bfd: { enabled: true } }, []],
    ['nodeSelector only', { nodeSelector: { matchLabels: { 'podlb.io/bgp': 'true' } } }, []],
  ])('%s', (_n, change, fields) => {
    const before = peersOf(base);
    const after = peersOf({ ...base, ...change });
    expect(after.peers).toHaveLength(1);
    expect(sessionResettingChanges(before, after)).toEqual(fields.length ? [{ peer: 'tor', protocol: protocolName('tor'), fields }] : []);
  });

  it('a peer that comes or goes is a new or a removed session, not a restart', () => {
    const one = plan({ peers: [peerFixture('tor')] }).model;
    const two = plan({ peers: [peerFixture('tor'), peerFixture('other', { peerAddress: '172.31.0.9', holdTimeSeconds: 30, keepaliveSeconds: 10 })] }).model;
    expect(sessionResettingChanges(one, two)).toEqual([]);
    expect(sessionResettingChanges(two, one)).toEqual([]);
  });
});
