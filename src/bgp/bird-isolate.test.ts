// Leaving out the session BIRD refuses, against the real `bird -p` (bird-structure.ts). The bad
// sessions are put into the model directly: validation (peer-config.ts) refuses each of them
// from an object, and this is the net for whatever it misses.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BirdApplier } from './bird-apply.js';
import { applyIsolating, bgpBlocks, birdErrorPosition, type IsolateDeps } from './bird-isolate.js';
import { birdParseControl } from '../../testkit/bird-structure.js';
import { nodeFixture, peerFixture, poolFixture } from '../../testkit/bgp-fixtures.js';
import { buildBgpPlan, type BirdModel, type BirdPeerModel } from './model.js';
import { renderBirdConf } from './render.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'podlb-isolate-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function validModel(n: number): BirdModel {
  const peers = Array.from({ length: n }, (_, i) => peerFixture(`tor-${i}`, { peerAddress: `172.31.0.${10 + i}` }));
  return buildBgpPlan({ node: nodeFixture(), pools: [poolFixture()], peers, secrets: [] }).model;
}

type Fault = (p: BirdPeerModel) => BirdPeerModel;
const FAULTS: [string, Fault][] = [
  ['unspecified IPv6 neighbour', (p) => ({ ...p, family: 6, address: '::' as BirdPeerModel['address'] })],
  ['link-local neighbour without interface', (p) => ({ ...p, family: 6, address: 'fe80::1' as BirdPeerModel['address'] })],
  ['multihop BFD without source address', (p) => ({ ...p, multihop: 2, bfd: { intervalMs: 300, multiplier: 3 } })],
];

function withFault(model: BirdModel, at: number, fault: Fault): BirdModel {
  return { ...model, peers: model.peers.map((p, i) => (i === at ? fault(p) : p)) };
}

function deps(over: Partial<IsolateDeps> = {}) {
  const control = birdParseControl();
  const applier = new BirdApplier({ control, configPath: join(dir, 'bird.conf') });
  const d: IsolateDeps = { render: (m) => renderBirdConf(m), apply: (t) => applier.apply(t), check: (t) => applier.check(t), refused: new Map(), ...over };
  return { d, control };
}

describe('applyIsolating', () => {
  it('finds the protocol block of the line BIRD names', () => {
    const text = renderBirdConf(validModel(2));
    const blocks = bgpBlocks(text);
    expect([...blocks.keys()]).toEqual(validModel(2).peers.map((p) => p.protocol));
    const b = blocks.get(validModel(2).peers[1]!.protocol)!;
    expect(text.split('\n')[b.last - 1]).toBe('}');
    expect(birdErrorPosition('/run/podlb/bird.conf.podlb-candidate:7:1 Neighbor must be configured')).toEqual({
      line: 7,
      message: 'Neighbor must be configured',
    });
    expect(birdErrorPosition('socket closed')).toBeUndefined();
  });

  it.each(FAULTS)('%s: only that session is left out, wherever it is, and the rest is applied', async (_n, fault) => {
    for (const at of [0, 2, 4]) {
      const model = withFault(validModel(5), at, fault);
      const { d } = deps();
      const r = await applyIsolating(model, d);
      expect(r.res.result).toBe('Applied');
      expect(r.leftOut.map((x) => x.peer)).toEqual([`tor-${at}`]);
      expect(r.model.peers.map((p) => p.peer)).toEqual(model.peers.filter((_, i) => i !== at).map((p) => p.peer));
      const running = readFileSync(join(dir, 'bird.conf'), 'utf8');
      expect(running).toBe(renderBirdConf(r.model));
      expect(running).toContain('10.244.1.0/24');
    }
  });

  it('without a position in the error, bisecting finds the session (two bad ones, one after the other)', async () => {
    const model = withFault(withFault(validModel(7), 1, FAULTS[0]![1]), 5, FAULTS[2]![1]);
    const { d } = deps();
    // BIRD's message without file:line:col, as an unexpected BIRD might answer.
    const apply: IsolateDeps['apply'] = async (t) => {
      const r = await d.apply(t);
      return r.error ? { ...r, error: 'refused' } : r;
    };
    const r = await applyIsolating(model, { ...d, apply });
    expect(r.res.result).toBe('Applied');
    expect(r.leftOut.map((x) => x.peer).sort()).toEqual(['tor-1', 'tor-5']);
    expect(r.model.peers).toHaveLength(5);
  });

  it('a session refused before is left out without asking BIRD again, until its block changes', async () => {
    const model = withFault(validModel(3), 1, FAULTS[0]![1]);
    const first = deps();
    const r1 = await applyIsolating(model, first.d);
    const refused = new Map(r1.leftOut.map((x) => [x.protocol, x]));
    const again = deps({ refused });
    const r2 = await applyIsolating(model, again.d);
    expect(r2.leftOut.map((x) => x.peer)).toEqual(['tor-1']);
    // The reduced text is what runs already: no check at all, where the full text would cost a refused one and a search.
    expect(r2.res.result).toBe('Unchanged');
    expect(again.control.checks).toBe(0);
    // Fixed: the block differs, so it is tried and applied.
    const fixed = await applyIsolating(validModel(3), deps({ refused }).d);
    expect(fixed.leftOut).toEqual([]);
    expect(fixed.model.peers).toHaveLength(3);
  });

  it('a fault outside every session cannot be isolated: Failed, the running config stays', async () => {
    const model = validModel(2);
    const { d } = deps();
    const render = (m: BirdModel) => renderBirdConf(m).replace('router id', 'router idd');
    const r = await applyIsolating(model, { ...d, render });
    expect(r.res.result).toBe('Failed');
    expect(r.leftOut).toEqual([]);
  });
});
