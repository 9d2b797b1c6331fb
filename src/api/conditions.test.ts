import { describe, expect, it } from 'vitest';
import { mergeConditions, transitionTime } from './conditions.js';
import type { Condition } from './types.js';

const T0 = '2026-12-06T10:00:00Z';
const NOW = '2026-12-06T11:00:00Z';
const before: Condition[] = [{ type: 'Ready', status: 'True', reason: 'A', lastTransitionTime: T0 }];

describe('transitionTime', () => {
  it.each([
    ['same status keeps the old time', before, 'Ready', 'True', T0],
    ['a new status is a transition', before, 'Ready', 'False', NOW],
    ['a condition not written before starts now', before, 'Other', 'True', NOW],
    ['no previous conditions', undefined, 'Ready', 'True', NOW],
    ['a previous condition without a time starts now', [{ type: 'Ready', status: 'True' }] as Condition[], 'Ready', 'True', NOW],
  ] as const)('%s', (_, prev, type, status, want) => {
    expect(transitionTime(prev, type, status, NOW)).toBe(want);
  });
});

describe('mergeConditions', () => {
  it('keeps the time across a reason change, moves it on a status change', () => {
    expect(
      mergeConditions(
        before,
        [
          { type: 'Ready', status: 'True', reason: 'B' },
          { type: 'Degraded', status: 'False' },
        ],
        NOW,
      ),
    ).toEqual([
      { type: 'Ready', status: 'True', reason: 'B', lastTransitionTime: T0 },
      { type: 'Degraded', status: 'False', lastTransitionTime: NOW },
    ]);
    expect(mergeConditions(before, [{ type: 'Ready', status: 'False', reason: 'A' }], NOW)[0]!.lastTransitionTime).toBe(NOW);
  });
});
