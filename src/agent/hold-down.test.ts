import { describe, expect, it } from 'vitest';
import { HoldDown } from './hold-down.js';

describe('HoldDown', () => {
  it('holds the last good value from the first missing moment for holdMs, then drops it; a present value ends the gap', () => {
    const h = new HoldDown<string>(10_000);
    expect(h.resolve('v4', '10.0.0.1', undefined, 0)).toEqual({ value: '10.0.0.1' });
    expect(h.resolve('v4', undefined, '10.0.0.1', 1_000)).toEqual({ value: '10.0.0.1', held: { value: '10.0.0.1', since: 1_000, until: 11_000 } });
    expect(h.resolve('v4', undefined, '10.0.0.1', 10_999).held?.until).toBe(11_000);
    expect(h.resolve('v4', undefined, '10.0.0.1', 11_000)).toEqual({ value: undefined });
    // Back: a new gap starts afresh.
    expect(h.resolve('v4', '10.0.0.2', '10.0.0.1', 12_000)).toEqual({ value: '10.0.0.2' });
    expect(h.resolve('v4', undefined, '10.0.0.2', 13_000).held?.since).toBe(13_000);
  });

  it('nothing to hold without a last good value; forget and retain end gaps the object decided', () => {
    const h = new HoldDown<string>(10_000);
    expect(h.resolve('a', undefined, undefined, 0)).toEqual({ value: undefined });
    h.resolve('a', undefined, 'x', 1_000);
    h.resolve('b', undefined, 'y', 1_000);
    h.forget('a');
    h.retain(['a']);
    expect(h.resolve('a', undefined, 'x', 5_000).held?.since).toBe(5_000);
    expect(h.resolve('b', undefined, 'y', 5_000).held?.since).toBe(5_000);
  });
});
