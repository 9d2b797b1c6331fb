import { describe, expect, it } from 'vitest';
import { parseStructure, tokenize, BirdSyntaxError, expectedConfig } from './bird-structure.js';
import { nodeFixture, peerFixture, poolFixture, secretFixture } from './bgp-fixtures.js';
import { buildBgpPlan } from '../src/bgp/model.js';
import { renderBirdConf } from '../src/bgp/render.js';

describe('bird-structure (test support)', () => {
  it('tokenizes strings, comments and punctuation', () => {
    expect(tokenize('a "b c"; # x\n/* y { */ d { e; }')).toEqual(['a', '"b c"', ';', 'd', '{', 'e', ';', '}']);
    expect(() => tokenize('password "a')).toThrow(BirdSyntaxError);
    expect(() => tokenize('a $b;')).toThrow(BirdSyntaxError);
  });

  it('parses statements and blocks, order-insensitive', () => {
    expect(parseStructure('b; a { y; x; }; define S = [ 1, 2 ];')).toEqual([
      { head: 'a', body: [{ head: 'x' }, { head: 'y' }] },
      { head: 'b' },
      { head: 'define S = [ 1 , 2 ]' },
    ]);
    expect(() => parseStructure('a { b; ')).toThrow(BirdSyntaxError);
  });

  it('the independent expectation matches the rendered design example', () => {
    const plan = buildBgpPlan({
      node: nodeFixture({ podCIDRs: ['10.244.1.0/24', 'fd00:244:0:1::/64'] }),
      pools: [poolFixture('p', { communities: ['65000:1'] })],
      peers: [
        peerFixture('a', { passwordSecretRef: { name: 's', key: 'k' }, bfd: { enabled: true } }),
        peerFixture('b', { peerAddress: 'fd00::1', ebgpMultihop: 2 }),
      ],
      secrets: [secretFixture('s', 'k', 'pw')],
    });
    expect(parseStructure(renderBirdConf(plan.model))).toEqual(parseStructure(expectedConfig(plan.model)));
    expect(parseStructure(`${renderBirdConf(plan.model)}\nprotocol bgp x { }`)).not.toEqual(parseStructure(expectedConfig(plan.model)));
  });
});
