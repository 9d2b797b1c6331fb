// BGP session state for status: BIRD is not asked while the config reconciler knows it is
// away, and a failed read keeps the last sessions and the cadence for sessions not yet up.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { BirdControl } from '../bgp/bird-control.js';
import { buildBgpPlan } from '../bgp/model.js';
import { nodeFixture, peerFixture } from '../../testkit/bgp-fixtures.js';
import { BgpSessionsReconciler } from './bgp-sessions.js';
import { AgentMetrics } from './metrics.js';
import type { AgentSnapshot } from './snapshot.js';
import { agentSnapshot } from '../../testkit/agent-snapshot.js';

const log = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'podlb-sessions-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const snap = agentSnapshot({ nodeName: 'node-a', node: nodeFixture(), peers: [peerFixture()] });
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
    // Labelled with the error's stable code, not its message (which names the socket path).
    expect(await metrics.registry.getSingleMetricAsString('podlb_reconcile_errors_total')).toContain(
      'podlb_reconcile_errors_total{component="bgpStatus",code="BIRD_UNREACHABLE"} 1',
    );
    expect(res.nextWakeAt).toBe(10_500);
    expect(res.status?.fields?.bgp?.sessions).toEqual([]);
    expect(res.status?.conditions?.[0]).toMatchObject({ type: 'BGPReady', status: 'False', reason: 'NoPeers' });
    // Not due yet: not asked again.
    await r.reconcile(snap, 10_100);
    expect(await errors(metrics)).toBe(1);
    await control.close();
  });

  // A BIRD control socket that knows one established BGP protocol.
  async function birdWith(protocol: string): Promise<{ path: string; server: Server }> {
    const path = join(dir, `${protocol}.ctl`);
    const server = createServer((sock) => {
      sock.setEncoding('utf8');
      sock.write('0001 BIRD 2.0.12 ready.\n');
      sock.on('data', (d: string) => {
        if (d.includes('show protocols all')) {
          sock.write(
            `2002-Name       Proto      Table      State  Since         Info\n1002-${protocol} BGP        ---        up     10:00:00.000  Established   \n1006-  BGP state:          Established\n    Neighbor address: 172.31.0.1\n0000 \n`,
          );
        }
      });
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(path, r));
    return { path, server };
  }

  it('reports the sessions bird.conf holds: the selected peers, none without a router id', async () => {
    const other = peerFixture('other-rack-tor', { peerAddress: '172.31.9.1', nodeSelector: { matchLabels: { 'topology.kubernetes.io/rack': 'r99' } } });
    const world = { ...snap, peers: [peerFixture(), other] } as AgentSnapshot;
    // The protocol name comes from the full plan the renderer uses, so the two cannot drift.
    const rendered = buildBgpPlan({ node: nodeFixture(), pools: [], peers: [...world.peers], secrets: [] }).model.peers;
    expect(rendered.map((p) => p.peer)).toEqual(['rack-r12-tor']);
    const bird = await birdWith(rendered[0]!.protocol);
    const control = new BirdControl(bird.path, { timeoutMs: 500 });
    const r = new BgpSessionsReconciler({ nodeName: 'node-a', control, birdError: () => undefined, statusIntervalMs: 5_000, log, metrics: new AgentMetrics() });
    const res = await r.reconcile(world, 10_000);
    expect(res.status?.fields?.bgp?.sessions).toMatchObject([
      { peer: 'rack-r12-tor', protocol: rendered[0]!.protocol, peerAddress: '172.31.0.1', state: 'Established' },
    ]);
    const noRouterId = new BgpSessionsReconciler({
      nodeName: 'node-a',
      control,
      birdError: () => undefined,
      statusIntervalMs: 5_000,
      log,
      metrics: new AgentMetrics(),
    });
    const none = await noRouterId.reconcile({ ...world, node: nodeFixture({ internalIP: null }) } as AgentSnapshot, 10_000);
    expect(none.status?.fields?.bgp?.sessions).toEqual([]);
    await control.close();
    await new Promise<void>((r) => bird.server.close(() => r()));
  });
});
