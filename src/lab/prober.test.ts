import { describe, expect, it } from 'vitest';
import { nextProbeState, readinessProbeOf, type ProbeState } from './prober.js';
import { labPod } from './objects.js';

function feed(results: boolean[], thresholds: { successThreshold: number; failureThreshold: number }): boolean[] {
  let state: ProbeState = { ready: false, run: 0 };
  return results.map((r) => {
    state = nextProbeState(state, r, thresholds).state;
    return state.ready;
  });
}

describe('readiness probe thresholds (kubelet prober worker)', () => {
  it.each<{ name: string; results: boolean[]; success: number; failure: number; want: boolean[] }>([
    { name: 'not ready until the first success', results: [false, false, true], success: 1, failure: 3, want: [false, false, true] },
    { name: 'successThreshold 2 needs two in a row', results: [true, false, true, true], success: 2, failure: 3, want: [false, false, false, true] },
    {
      name: 'failureThreshold 3: two failures keep it ready',
      results: [true, false, false, true, false, false, false],
      success: 1,
      failure: 3,
      want: [true, true, true, true, true, true, false],
    },
    { name: 'failureThreshold 1 drops at once', results: [true, false], success: 1, failure: 1, want: [true, false] },
    { name: 'recovers after a failure run', results: [true, false, false, true], success: 1, failure: 2, want: [true, true, false, true] },
  ])('$name', ({ results, success, failure, want }) => {
    expect(feed(results, { successThreshold: success, failureThreshold: failure })).toEqual(want);
  });

  it('reports a change only when the reported readiness flips', () => {
    const t = { successThreshold: 1, failureThreshold: 1 };
    const a = nextProbeState({ ready: false, run: 0 }, true, t);
    expect(a.changed).toBe(true);
    expect(nextProbeState(a.state, true, t).changed).toBe(false);
  });
});

describe('readinessProbeOf', () => {
  it('fills in the API defaults and resolves a named port', () => {
    expect(readinessProbeOf(labPod('p', 'node1', { readinessProbe: {} }))).toEqual({
      httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP' },
      initialDelaySeconds: 0,
      periodSeconds: 10,
      timeoutSeconds: 1,
      successThreshold: 1,
      failureThreshold: 3,
    });
  });

  it('a Pod without a readinessProbe has none', () => {
    expect(readinessProbeOf(labPod('p', 'node1'))).toBeUndefined();
  });
});
