// The lab kubelet's Ready condition: reason and status from containers and gates, and
// lastTransitionTime kept while the status does not change, as the real kubelet writes it.
import { describe, expect, it } from 'vitest';
import { READINESS_GATE, type Condition, type Pod } from '../api/types.js';
import { readyCondition } from './kubelet.js';

const T0 = '2026-12-06T10:00:00Z';
const NOW = '2026-12-06T10:00:05Z';
const pod = (conditions: Condition[]): Pod =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'default' },
    spec: { containers: [{ name: 'app', image: 'app' }], readinessGates: [{ conditionType: READINESS_GATE }] },
    status: { conditions },
  }) as Pod;
const notReady: Condition = { type: 'Ready', status: 'False', reason: 'ContainersNotReady', lastTransitionTime: T0 };

describe('readyCondition', () => {
  it('containers ready, gate not yet: Ready stays False with a new reason and its old time', () => {
    expect(readyCondition(pod([notReady]), true, NOW)).toMatchObject({ status: 'False', reason: 'ReadinessGatesNotReady', lastTransitionTime: T0 });
  });

  it('containers ready and the gate True: Ready turns True now', () => {
    expect(readyCondition(pod([notReady, { type: READINESS_GATE, status: 'True' }]), true, NOW)).toMatchObject({ status: 'True', lastTransitionTime: NOW });
  });

  it('a Pod without a Ready condition yet starts it now', () => {
    expect(readyCondition(pod([]), false, NOW)).toMatchObject({ status: 'False', reason: 'ContainersNotReady', lastTransitionTime: NOW });
  });
});
