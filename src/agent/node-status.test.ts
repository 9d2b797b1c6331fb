import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../apiserver/index.js';
import { KubeClient } from '../kube/client.js';
import { AgentMetrics } from './metrics.js';
import { buildNodeStatus, NodeStatusReconciler, type NodeStatusContribution } from './node-status.js';
import type { AgentSnapshot } from './snapshot.js';
import { NodeStatusWriter } from './status.js';
import { adminClient, adminKubeConfig } from '../../testkit/api-client.js';

const log = pino({ level: 'silent' });

describe('buildNodeStatus', () => {
  const sessions: NodeStatusContribution = {
    fields: { bgp: { sessions: [] } },
    conditions: [{ type: 'BGPReady', status: 'False', reason: 'NoPeers', message: 'm' }],
  };
  const config: NodeStatusContribution = {
    fields: { bgp: { advertisedPrefixes: ['10.244.1.0/24'], configHash: 'abc' } },
    conditions: [{ type: 'ConfigApplied', status: 'True', reason: 'Applied', message: 'm' }],
  };
  const members: NodeStatusContribution = {
    fields: { members: { registered: 1, healthy: 1, draining: 0 } },
    conditions: [{ type: 'LoadBalancerReachable', status: 'True', reason: 'Reachable', message: 'm' }],
  };

  it('merges two parts of bgp, keeps contribution order, and skips missing contributions', () => {
    const s = buildNodeStatus(undefined, [sessions, config, undefined, members], '2026-12-06T10:00:00.000Z');
    expect(s.bgp).toEqual({ sessions: [], advertisedPrefixes: ['10.244.1.0/24'], configHash: 'abc' });
    expect(Object.keys(s.bgp!)).toEqual(['sessions', 'advertisedPrefixes', 'configHash']);
    expect(s.members).toEqual({ registered: 1, healthy: 1, draining: 0 });
    expect(s.conditions?.map((c) => c.type)).toEqual(['BGPReady', 'ConfigApplied', 'LoadBalancerReachable']);
  });

  it('moves lastTransitionTime only when a condition changes status', () => {
    const first = buildNodeStatus(undefined, [sessions, config], '2026-12-06T10:00:00.000Z');
    const up: NodeStatusContribution = { ...sessions, conditions: [{ type: 'BGPReady', status: 'True', reason: 'Established', message: 'm' }] };
    const second = buildNodeStatus(first, [up, config], '2026-12-06T10:05:00.000Z');
    expect(second.conditions?.map((c) => c.lastTransitionTime)).toEqual(['2026-12-06T10:05:00.000Z', '2026-12-06T10:00:00.000Z']);
  });
});

describe('NodeStatusReconciler', () => {
  let api: ApiServer;
  let client: KubeClient;
  beforeAll(async () => {
    api = await startApiServer();
    client = adminClient(api);
  });
  afterAll(async () => {
    await api?.close();
  });

  it('writes the latest contributions, including a kernel condition, through the schema', async () => {
    const parts: (NodeStatusContribution | undefined)[] = [
      { conditions: [{ type: 'KernelRoutesSynced', status: 'False', reason: 'NetlinkUnavailable', message: 'netlink unavailable: ENOENT' }] },
      { fields: { members: { registered: 0, healthy: 0, draining: 0 } } },
    ];
    const r = new NodeStatusReconciler({ writer: new NodeStatusWriter(client, 'ns-rec', log), contributions: () => parts, metrics: new AgentMetrics() });
    const res = await r.reconcile({ node: undefined } as AgentSnapshot, Date.parse('2026-12-06T10:00:00Z'));
    expect(res).toEqual({});
    await r.settled();
    const stored = api.store.get('podlbnodes', 'ns-rec') as { status: { members: unknown; conditions: { type: string; reason: string }[] } };
    expect(stored.status.members).toEqual({ registered: 0, healthy: 0, draining: 0 });
    expect(stored.status.conditions.map((c) => `${c.type}/${c.reason}`)).toEqual(['KernelRoutesSynced/NetlinkUnavailable']);
  });
  it('writes once, then not at all over idle runs: timestamps alone are no change', async () => {
    class CountingClient extends KubeClient {
      writes: string[] = [];
      override patch<T>(path: string, body: unknown, type: Parameters<KubeClient['patch']>[2]): Promise<T> {
        this.writes.push(`PATCH ${path}`);
        return super.patch<T>(path, body, type);
      }
      override create<T>(path: string, body: unknown): Promise<T> {
        this.writes.push(`POST ${path}`);
        return super.create<T>(path, body);
      }
    }
    const counting = new CountingClient(adminKubeConfig(api));
    const parts: (NodeStatusContribution | undefined)[] = [
      {
        fields: {
          bgp: {
            sessions: [{ peer: 'tor', protocol: 'bgp_tor', peerAddress: '172.31.0.1', state: 'Established', since: '2026-12-06T09:00:00Z', routesExported: 1 }],
          },
        },
      },
      { conditions: [{ type: 'BGPReady', status: 'True', reason: 'Established', message: '1/1 sessions up' }] },
      { fields: { members: { registered: 3, healthy: 3, draining: 0 } } },
    ];
    let now = Date.parse('2026-12-06T10:00:00Z');
    const r = new NodeStatusReconciler({
      writer: new NodeStatusWriter(counting, 'ns-idle', log, { now: () => now }),
      contributions: () => parts,
      metrics: new AgentMetrics(),
    });
    await r.reconcile({ node: undefined } as AgentSnapshot, now);
    await r.settled();
    expect(counting.writes).toEqual(['POST /apis/podlb.io/v1alpha1/podlbnodes', 'PATCH /apis/podlb.io/v1alpha1/podlbnodes/ns-idle/status']);
    for (let i = 0; i < 30; i++) {
      now += 2_000;
      await r.reconcile({ node: undefined } as AgentSnapshot, now);
      await r.settled();
    }
    expect(counting.writes, counting.writes.join('\n')).toHaveLength(2);
    // A real change is written, with the condition's transition time of that run.
    parts[2] = { fields: { members: { registered: 4, healthy: 3, draining: 0 } } };
    await r.reconcile({ node: undefined } as AgentSnapshot, now);
    await r.settled();
    expect(counting.writes).toHaveLength(3);
    const stored = api.store.get('podlbnodes', 'ns-idle') as { status: { conditions: { lastTransitionTime: string }[] } };
    expect(stored.status.conditions[0]!.lastTransitionTime).toBe('2026-12-06T10:00:00.000Z');
  });

  it('a run does not wait for a slow write; runs meanwhile fold into one more write; a failure wakes the loop and its Event comes with the next run', async () => {
    class CountingClient extends KubeClient {
      patches = 0;
      override patch<T>(path: string, body: unknown, type: Parameters<KubeClient['patch']>[2]): Promise<T> {
        this.patches += 1;
        return super.patch<T>(path, body, type);
      }
    }
    const counting = new CountingClient(adminKubeConfig(api));
    let registered = 0;
    let wakes = 0;
    const r = new NodeStatusReconciler({
      writer: new NodeStatusWriter(counting, 'ns-beside', log),
      contributions: () => [{ fields: { members: { registered, healthy: 0, draining: 0 } } }],
      metrics: new AgentMetrics(),
      wake: () => (wakes += 1),
    });
    const snap = { node: undefined } as AgentSnapshot;
    await r.reconcile(snap, Date.now());
    await r.settled();
    expect(counting.patches).toBe(1);
    api.faults.setLatencyMs(300);
    try {
      const t0 = performance.now();
      for (let i = 1; i <= 5; i++) {
        registered = i;
        await r.reconcile(snap, Date.now());
      }
      expect(performance.now() - t0).toBeLessThan(250);
      await r.settled();
    } finally {
      api.faults.setLatencyMs(0);
    }
    // The first of the five started a write; the other four folded into one, with the latest.
    expect(counting.patches).toBe(3);
    expect((api.store.get('podlbnodes', 'ns-beside') as { status: { members: { registered: number } } }).status.members.registered).toBe(5);
    expect(wakes).toBe(0);
    registered = 6;
    api.faults.failNext({ count: 1, status: 500, match: (m, p) => m === 'PATCH' && p.includes('ns-beside') });
    await r.reconcile(snap, Date.now());
    await r.settled();
    expect(wakes).toBe(1);
    const next = await r.reconcile(snap, Date.now());
    expect(next.events?.map((e) => e.reason)).toEqual(['StatusWriteFailed']);
    expect(next.nextWakeAt).toBeGreaterThan(Date.now() - 1000);
    await r.settled();
  });
});
