// The wired agent against the in-process API server, with BIRD away and no netlink in the named
// namespace: each failure is its own reconciler's, reported in PodLBNode status, and the rest
// of the run (members, status) still happens every time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition, PodLBNode } from '../api/types.js';
import { startApiServer, type ApiServer } from '../apiserver/index.js';
import { waitFor } from '../lab/netns.js';
import { adminClient } from '../../testkit/api-client.js';
import { describedEvents } from '../../testkit/described-events.js';
import { Agent } from './agent.js';
import { adminKubeConfig } from '../../testkit/api-client.js';

let api: ApiServer;
let dir: string;

beforeAll(async () => {
  api = await startApiServer();
  dir = mkdtempSync(join(tmpdir(), 'podlb-agent-'));
  api.store.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: { podCIDRs: ['10.244.1.0/24'] } });
});
afterAll(async () => {
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Agent', () => {
  it('kernel route and BIRD failures reach PodLBNode status, and members and status still run', async () => {
    const kc = adminKubeConfig(api);
    const agent = await Agent.create({
      nodeName: 'n1',
      kubeConfig: kc,
      log: pino({ level: 'silent' }),
      bird: { socketPath: join(dir, 'bird.ctl'), configPath: join(dir, 'bird.conf') },
      kernel: { netns: 'podlb-no-such-namespace' },
      resyncMs: 100,
    });
    await agent.start();
    try {
      const conditions = await waitFor('status with every condition', () => {
        const n = api.store.list('podlbnodes').items.find((x: unknown) => (x as PodLBNode).metadata.name === 'n1') as PodLBNode | undefined;
        const c = n?.status?.conditions;
        return c && c.length === 4 ? c : undefined;
      });
      const byType = (t: string): Condition | undefined => conditions.find((c) => c.type === t);
      expect(byType('KernelRoutesSynced')).toMatchObject({ status: 'False', reason: 'NetlinkUnavailable' });
      expect(byType('KernelRoutesSynced')?.message).toMatch(/^netlink unavailable: /);
      expect(byType('ConfigApplied')).toMatchObject({ status: 'Unknown', reason: 'BirdUnreachable' });
      expect(byType('BGPReady')).toMatchObject({ status: 'False', reason: 'BirdUnreachable' });
      expect(byType('LoadBalancerReachable')).toMatchObject({ status: 'True' });

      // The Event on the node's PodLBNode names its uid (the agent watches no PodLBNode: the
      // status write learnt it), so `kubectl describe podlbnode n1` lists it.
      const client = adminClient(api);
      try {
        const described = await waitFor('BirdUnreachable described', async () => {
          const evs = await describedEvents(client, { kind: 'PodLBNode', metadata: (api.store.get('podlbnodes', 'n1') as PodLBNode).metadata });
          return evs.some((e) => e.reason === 'BirdUnreachable') ? evs : undefined;
        });
        expect(described.map((e) => e.source?.host)).toContain('n1');
        // The Node's, from the agent's cache of it.
        const onNode = await describedEvents(client, { kind: 'Node', metadata: (api.store.get('nodes', 'n1') as PodLBNode).metadata });
        expect(onNode.map((e) => e.reason)).toContain('NoRouterID');
      } finally {
        await client.close();
      }

      // BIRD backs off while members and status keep running on every resync.
      await agent.nextRun();
      const runs = agent.lastRun!.runs;
      expect(runs.get('members')?.result).toBeDefined();
      expect(runs.get('status')?.result).toBeDefined();
      expect([...runs.keys()]).toEqual(['members', 'gates', 'bird', 'bgpStatus', 'kernel', 'status']);
      expect(agent.healthy).toBe(true);
      const failed = (await agent.metrics.reconcileErrors.get()).values.find((v) => v.labels.component === 'bird');
      expect(failed?.value).toBeGreaterThanOrEqual(1);
      // The loop's failures are counted under the error's code (the socket is missing: BIRD is away).
      expect(failed?.labels.code).toBe('BIRD_UNREACHABLE');
    } finally {
      await agent.stop();
    }
  });
});
