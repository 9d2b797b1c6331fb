// BGP session state for status: BIRD is not asked while the config reconciler knows it is
// away, and a failed read keeps the last sessions and the cadence for sessions not yet up.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { BirdControl } from '../bgp/bird-control.js';
import { nodeFixture, peerFixture } from '../../testkit/bgp-fixtures.js';
import { BgpSessionsReconciler } from './bgp-sessions.js';
import { AgentMetrics } from './metrics.js';
import type { AgentSnapshot } from './snapshot.js';

const log = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'podlb-sessions-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const snap = { nodeName: 'node-a', node: nodeFixture(), pods: [], services: [], slices: [], classes: [], pools: [], peers: [peerFixture()], secrets: [], gateway: undefined, observedAt: 0 } as AgentSnapshot;
const errors = async (m: AgentMetrics): Promise<number> => (await m.reconcileErrors.get()).values.find((v) => v.labels.component === 'bgpStatus')?.value ?? 0;

describe('BgpSessionsReconciler', () => {
  it('does not ask BIRD while it is known to be away, and says so in BGPReady', async () => {
    const control = new BirdControl(join(dir, 'absent.ctl'), { timeoutMs: 500 });
    const metrics = new AgentMetrics();
    const r = new BgpSessionsReconciler({ nodeName: 'node-a', control, birdError: () => 'connect ENOENT', statusIntervalMs: 5_000, log, metrics });
    const res = await r.reconcile(snap, 10_000);
    expect(await errors(metrics)).toBe(0);
    expect(res.status?.conditions).toEqual([{ type: 'BGPReady', status: 'False', reason: 'BirdUnreachable', message: 'connect ENOENT' }]);
    await control.close();
  });

  it('a failed read is counted, keeps the sessions, and retries at the fast cadence', async () => {
    const control = new BirdControl(join(dir, 'absent.ctl'), { timeoutMs: 500 });
    const metrics = new AgentMetrics();
    const r = new BgpSessionsReconciler({ nodeName: 'node-a', control, birdError: () => undefined, statusIntervalMs: 5_000, log, metrics });
    const res = await r.reconcile(snap, 10_000);
    expect(await errors(metrics)).toBe(1);
    expect(res.nextWakeAt).toBe(10_500);
    expect(res.status?.fields?.bgp?.sessions).toEqual([]);
    expect(res.status?.conditions?.[0]).toMatchObject({ type: 'BGPReady', status: 'False', reason: 'NoPeers' });
    // Not due yet: not asked again.
    await r.reconcile(snap, 10_100);
    expect(await errors(metrics)).toBe(1);
    await control.close();
  });
});
