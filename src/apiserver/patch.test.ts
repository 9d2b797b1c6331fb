// deepEqual decides no-op writes (no new resourceVersion, no watch event) and list merges, so it
// must agree with comparing the two values' JSON documents, whatever their key order.
import { describe, expect, it } from 'vitest';
import { deepEqual } from './patch.js';

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v === 'object' && v !== null)
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
    );
  return v;
}
const asJson = (a: unknown, b: unknown): boolean => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

// a small seeded generator, so a failure names a reproducible case
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
const leaves = [null, undefined, 0, -0, 1, 2.5, Number.NaN, Number.POSITIVE_INFINITY, '', 'a', 'b', true, false];
function gen(r: () => number, depth: number): unknown {
  const x = r();
  if (depth <= 0 || x < 0.4) return leaves[Math.floor(r() * leaves.length)];
  if (x < 0.7) return Array.from({ length: Math.floor(r() * 3) }, () => gen(r, depth - 1));
  const o: Record<string, unknown> = {};
  for (const k of ['a', 'b', 'c'].filter(() => r() < 0.6)) o[k] = gen(r, depth - 1);
  return o;
}
// the same document with keys in another order and, sometimes, one leaf changed
function variant(v: unknown, r: () => number): unknown {
  if (Array.isArray(v)) return v.map((x) => variant(x, r));
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v).reverse();
    return Object.fromEntries(keys.map((k) => [k, variant((v as Record<string, unknown>)[k], r)]));
  }
  return r() < 0.08 ? leaves[Math.floor(r() * leaves.length)] : v;
}

describe('deepEqual', () => {
  it('agrees with comparing canonical JSON on generated pairs', () => {
    const r = rng(7);
    let equal = 0;
    for (let i = 0; i < 20000; i++) {
      const a = gen(r, 4);
      const b = r() < 0.5 ? variant(a, r) : gen(r, 4);
      const want = asJson(a, b);
      if (want) equal++;
      expect([i, deepEqual(a, b)]).toEqual([i, want]);
    }
    // the pairs exercise both answers
    expect(equal).toBeGreaterThan(2000);
    expect(equal).toBeLessThan(18000);
  });

  it.each([
    [{ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 }, true],
    [{ a: undefined }, {}, true],
    [{ a: null }, {}, false],
    [{ a: null }, { a: undefined }, false],
    [[undefined], [null], true],
    [[Number.NaN], [null], true],
    [undefined, null, false],
    [undefined, undefined, true],
    [[1, 2], [2, 1], false],
    [{ a: [] }, { a: {} }, false],
    ['1', 1, false],
  ])('%j vs %j → %s', (a, b, want) => {
    expect(deepEqual(a, b)).toBe(want);
    expect(asJson(a, b)).toBe(want);
  });
});
