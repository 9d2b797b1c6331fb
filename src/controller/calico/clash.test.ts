// Clashes with hand-made Calico BGPPeers, per node, and the Calico selector evaluator they use.
import { describe, expect, it } from 'vitest';
import { peerFixture, poolFixture } from '../../../testkit/bgp-fixtures.js';
import { dropClashes, type NodeLabels, peerEndpoint } from './clash.js';
import { renderCalico } from './render.js';
import { calicoSelectorMatches } from './selector-match.js';
import type { CalicoCurrent } from './sync.js';
import type { Problem } from '../../api/problem.js';

const nodes: NodeLabels[] = [
  { name: 'n1', labels: { rack: 'r1', gpu: 'true' } },
  { name: 'n2', labels: { rack: 'r1' } },
  { name: 'n3', labels: { rack: 'r2' } },
];
const clashes = (r: { problems: Problem[] }) => r.problems.filter((p) => p.reason === 'CalicoPeerClash');
const handMade = (name: string, spec: Record<string, unknown>): CalicoCurrent => ({ metadata: { name }, spec: { asNumber: 65000, ...spec } });
// One podlb peer on rack r1, split in two partitions by the gpu pool's node selector.
const render = renderCalico({
  peers: [peerFixture('tor', { peerAddress: '172.31.0.1', nodeSelector: { matchLabels: { rack: 'r1' } } })],
  pools: [poolFixture('gpu', { cidrs: ['10.251.0.0/16'], nodeSelector: { matchLabels: { gpu: 'true' } } })],
});

describe('dropClashes', () => {
  it('the render has two partitions to start with', () => {
    expect(render.peers).toHaveLength(2);
  });

  it('a global hand-made peer with the same IP takes every node: nothing of the podlb peer is rendered, and it is told', () => {
    const r = dropClashes(render, [handMade('rr', { peerIP: '172.31.0.1' })], nodes);
    expect(r.peers).toEqual([]);
    expect(r.filters).toEqual([]);
    const [p, ...more] = clashes(r);
    expect(more).toEqual([]);
    expect(p).toMatchObject({ reason: 'CalicoPeerClash', object: { kind: 'BGPPeer', name: 'tor' } });
    expect(p!.message).toMatch(/n1 \(Calico BGPPeer rr, global\), n2 \(Calico BGPPeer rr, global\)/);
    expect(p!.message).toMatch(/a global Calico BGPPeer always wins/);
    expect(p!.message).not.toMatch(/n3/);
  });

  it('a node-specific one drops only the partition that selects that node', () => {
    for (const spec of [{ node: 'n1' }, { nodeSelector: "gpu == 'true'" }, { nodeSelector: 'has(gpu) && rack starts with "r"' }]) {
      const r = dropClashes(render, [handMade('mine', { peerIP: '172.31.0.1:179', ...spec })], nodes);
      expect(r.peers, JSON.stringify(spec)).toHaveLength(1);
      expect(r.peers[0]!.spec.nodeSelector).toMatch(/!\(gpu == 'true'\)/);
      expect(r.filters.map((f) => f.metadata.name)).toEqual(r.peers.map((p) => p.metadata.name));
      expect(clashes(r)).toHaveLength(1);
      expect(clashes(r)[0]!.message).not.toMatch(/global/);
    }
  });

  it('no clash: another port, another IP, other nodes, a peerSelector peer, or podlb-owned', () => {
    const owned: CalicoCurrent = { ...render.peers[0]!, metadata: { ...render.peers[0]!.metadata } } as unknown as CalicoCurrent;
    for (const c of [
      handMade('port', { peerIP: '172.31.0.1:1179' }),
      handMade('ip', { peerIP: '172.31.0.2' }),
      handMade('r2', { peerIP: '172.31.0.1', nodeSelector: "rack == 'r2'" }),
      handMade('n3', { peerIP: '172.31.0.1', node: 'n3' }),
      handMade('mesh', { peerSelector: 'all()' }),
      owned,
    ]) {
      expect(dropClashes(render, [c], nodes), c.metadata.name).toEqual(render);
    }
  });

  it('a hand-made selector podlb cannot read counts as every node', () => {
    const r = dropClashes(render, [handMade('odd', { peerIP: '172.31.0.1', nodeSelector: 'rack ~= "x"' })], nodes);
    expect(r.peers).toEqual([]);
  });
});

describe('two podlb BGPPeers on one address', () => {
  const two = (bSelector: Record<string, string>) =>
    renderCalico({
      peers: [
        peerFixture('a-tor', { peerAddress: '172.31.0.1', nodeSelector: { matchLabels: { rack: 'r1' } } }),
        peerFixture('b-tor', { peerAddress: '172.31.0.1', nodeSelector: { matchLabels: bSelector } }),
      ],
      pools: [],
    });

  it('disjoint racks (an anycast ToR address): both rendered', () => {
    const r = two({ rack: 'r2' });
    expect(dropClashes(r, [], nodes)).toEqual(r);
  });

  it('overlapping nodes: the first by name keeps them, the other is not rendered and is told', () => {
    const r = dropClashes(two({ gpu: 'true' }), [], nodes);
    expect(r.peers.map((p) => p.metadata.name)).toEqual(['podlb-a-tor']);
    expect(clashes(r)).toHaveLength(1);
    expect(clashes(r)[0]).toMatchObject({ object: { name: 'b-tor' } });
    expect(clashes(r)[0]!.message).toMatch(/n1 \(podlb BGPPeer a-tor\)/);
  });
});

describe('peerEndpoint', () => {
  it.each([
    ['172.31.0.1', '172.31.0.1|179'],
    ['172.31.0.1:1179', '172.31.0.1|1179'],
    ['fd00::1', 'fd00::1|179'],
    ['[fd00::1]:1179', 'fd00::1|1179'],
    ['bogus', undefined],
  ])('%s', (raw, want) => {
    expect(peerEndpoint(raw)).toBe(want);
  });
});

describe('calicoSelectorMatches', () => {
  const l = { a: 'x', b: 'yz' };
  it.each([
    ['all()', true],
    ['', true],
    ["a == 'x'", true],
    ['a == "y"', false],
    ["c != 'x'", true], // != and not in match a node without the label (Calico's ast.go)
    ["c not in {'x'}", true],
    ["c == 'x'", false],
    ["a in {'w', 'x'}", true],
    ["b contains 'z'", true],
    ["b ends with 'y'", false],
    ['has(a) && !has(c)', true],
    ["!(a == 'x') || b == 'yz'", true],
    ["(!has(a) || a != 'x')", false],
  ])('%s -> %s', (expr, want) => {
    expect(calicoSelectorMatches(expr, l)).toBe(want);
  });
  it('refuses what it cannot read', () => {
    expect(() => calicoSelectorMatches("a == 'x' &&", l)).toThrow();
    expect(() => calicoSelectorMatches('a ~= "x"', l)).toThrow();
  });
});
