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
