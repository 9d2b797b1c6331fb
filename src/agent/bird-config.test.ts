// The BIRD config reconciler's decisions: against a scripted control socket for BIRD's answers
// (the real BIRD is in test/agent-lab.test.ts and test/bgp-restarts.test.ts), and against a
// real, absent socket for "BIRD is away".
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BirdCommandError, BirdControl, type BirdReply } from '../bgp/bird-control.js';
import { birdParseControl } from '../../testkit/bird-structure.js';
import { nodeFixture, peerFixture, poolFixture, secretFixture } from '../../testkit/bgp-fixtures.js';
import { BirdConfigReconciler } from './bird-config.js';
import { AgentMetrics } from './metrics.js';
import type { AgentSnapshot } from './snapshot.js';
import { agentSnapshot } from '../../testkit/agent-snapshot.js';

const log = pino({ level: 'silent' });
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'podlb-birdrec-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function snapshot(over: Partial<AgentSnapshot> = {}): AgentSnapshot {
  const node = nodeFixture();
  node.metadata.resourceVersion = '1';
  return agentSnapshot({ nodeName: 'node-a', node, pools: [poolFixture()], peers: [peerFixture()], ...over });
}

const reply = (code: number, text: string): BirdReply => ({ code, text, lines: [{ code, text }], durationMs: 0.3 });

/** BIRD's answers scripted; `refuse` makes `configure check` fail the way BIRD does (8002). */
function scriptedBird(state: { refuse?: boolean; checks: number }): BirdControl {
  return {
    async configureCheck(file: string) {
      state.checks += 1;
      if (state.refuse) throw new BirdCommandError(`configure check "${file}"`, 8002, `${file}:3:1 syntax error`);
      return reply(20, 'Configuration OK');
    },
    async configure() {
      return reply(3, 'Reconfigured');
    },
  } as unknown as BirdControl;
}

describe('BirdConfigReconciler', () => {
  it('applies, says so, and advertises the aggregate; the same inputs are not planned again', async () => {
    const state = { checks: 0 };
    const metrics = new AgentMetrics();
    const r = new BirdConfigReconciler({ nodeName: 'node-a', control: scriptedBird(state), configPath: join(dir, 'bird.conf'), log, metrics });
    expect(r.aggregates).toBeUndefined();
    const res = await r.reconcile(snapshot(), 1_000);
    expect(res.failed).toBeUndefined();
    expect(res.events?.map((e) => e.reason)).toEqual(['BirdConfigApplied']);
    expect(r.aggregates).toEqual(['10.244.1.0/24']);
    expect(readFileSync(join(dir, 'bird.conf'), 'utf8')).toContain('10.244.1.0/24');
    expect(res.status?.conditions).toEqual([expect.objectContaining({ type: 'ConfigApplied', status: 'True', reason: 'Applied' })]);
    expect(res.status?.fields?.bgp).toMatchObject({ advertisedPrefixes: ['10.244.1.0/24'], lastApplyResult: 'Applied' });

    const again = await r.reconcile(snapshot(), 2_000);
    expect(state.checks).toBe(1);
    expect(again.events).toBeUndefined();
    // A minute later the file on disk is compared again even if nothing changed, so drift heals.
    await r.reconcile(snapshot(), 62_000);
    expect((await metrics.birdReloads.get()).values.map((v) => [v.labels.result, v.value])).toEqual([
      ['Applied', 1],
      ['Unchanged', 1],
    ]);
  });

  it('a refused config keeps the old one running, is reported, and is not a failure to back off from', async () => {
    const state = { checks: 0, refuse: true };
    const r = new BirdConfigReconciler({
      nodeName: 'node-a',
      control: scriptedBird(state),
      configPath: join(dir, 'bird.conf'),
      log,
      metrics: new AgentMetrics(),
    });
    const res = await r.reconcile(snapshot(), 1_000);
    expect(res.failed).toBeUndefined();
    expect(res.events?.map((e) => [e.type, e.reason])).toEqual([['Warning', 'BirdConfigRejected']]);
    expect(res.status?.conditions?.[0]).toMatchObject({ type: 'ConfigApplied', status: 'False', reason: 'BirdConfigRejected' });
    expect(r.aggregates).toBeUndefined();
  });

  it('BIRD away: a failure with one Event per episode, status says why, and it recovers', async () => {
    const absent = new BirdControl(join(dir, 'no-such.ctl'), { timeoutMs: 500 });
    const r = new BirdConfigReconciler({ nodeName: 'node-a', control: absent, configPath: join(dir, 'bird.conf'), log, metrics: new AgentMetrics() });
    const first = await r.reconcile(snapshot(), 1_000);
    expect(first.failed?.error).toBeTruthy();
    expect(first.events?.map((e) => e.reason)).toEqual(['BirdUnreachable']);
    expect(first.status?.conditions?.[0]).toMatchObject({ type: 'ConfigApplied', status: 'Unknown', reason: 'BirdUnreachable' });
    expect(first.status?.fields?.bgp?.lastError).toBe(first.failed?.error);
    expect(r.error).toBe(first.failed?.error);
    const second = await r.reconcile(snapshot(), 2_000);
    expect(second.failed).toBeDefined();
    expect(second.events ?? []).toEqual([]);
    await absent.close();
  });

  it('no Node object: a problem, nothing applied', async () => {
    const state = { checks: 0 };
    const r = new BirdConfigReconciler({
      nodeName: 'node-a',
      control: scriptedBird(state),
      configPath: join(dir, 'bird.conf'),
      log,
      metrics: new AgentMetrics(),
    });
    const res = await r.reconcile(snapshot({ node: undefined }), 1_000);
    expect(res.problems?.map((p) => p.reason)).toEqual(['NodeNotFound']);
    expect(state.checks).toBe(0);
  });

  it('a BGPPeer with peerAddress "::" is that peer\'s problem: the rest applies, and later changes still do (real bird -p)', async () => {
    const control = birdParseControl();
    const configPath = join(dir, 'bird.conf');
    const r = new BirdConfigReconciler({ nodeName: 'node-a', control, configPath, log, metrics: new AgentMetrics() });
    const node = nodeFixture({ podCIDRs: ['10.244.1.0/24', '10.250.1.0/24'] });
    node.metadata.resourceVersion = '1';
    const other = (state: 'Approved' | 'Rejected', rv: string) => {
      const p =
        state === 'Approved'
          ? poolFixture('other', { cidrs: ['10.250.0.0/16'] })
          : poolFixture('other', { cidrs: ['10.250.0.0/16'], approval: { state: 'Rejected' } });
      p.metadata.resourceVersion = rv;
      return p;
    };
    const peers = [peerFixture(), peerFixture('unspecified', { peerAddress: '::' })];
    const first = await r.reconcile(snapshot({ node, pools: [poolFixture(), other('Approved', '1')], peers }), 1_000);
    expect(first.status?.conditions?.[0]).toMatchObject({ type: 'ConfigApplied', status: 'True' });
    expect(first.problems?.filter((p) => p.object.kind === 'BGPPeer').map((p) => [p.object.name, p.reason])).toEqual([['unspecified', 'InvalidPeerAddress']]);
    expect(readFileSync(configPath, 'utf8')).toContain('10.250.1.0/24');
    expect(readFileSync(configPath, 'utf8')).toContain('neighbor 172.31.0.1 as 65000');
    // The network team rejects the other pool: withdrawn while the bad peer still exists.
    const second = await r.reconcile(snapshot({ node, pools: [poolFixture(), other('Rejected', '2')], peers }), 2_000);
    expect(second.status?.conditions?.[0]).toMatchObject({ type: 'ConfigApplied', status: 'True' });
    expect(readFileSync(configPath, 'utf8')).not.toContain('10.250.1.0/24');
    expect(r.aggregates).toEqual(['10.244.1.0/24']);
  });

  it('a password Secret that vanishes keeps the running password for the hold-down, reported; then the session goes', async () => {
    const configPath = join(dir, 'bird.conf');
    const r = new BirdConfigReconciler({ nodeName: 'node-a', control: birdParseControl(), configPath, log, metrics: new AgentMetrics(), holdDownMs: 30_000 });
    const peer = peerFixture('rack-r12-tor', { passwordSecretRef: { name: 'tor-md5', key: 'password' } });
    peer.metadata.resourceVersion = '1';
    const secret = secretFixture('tor-md5', 'password', 'Md5-s3cret!');
    secret.metadata!.resourceVersion = '1';
    const bad = secretFixture('tor-md5', 'password', 'a"b');
    bad.metadata!.resourceVersion = '2';
    await r.reconcile(snapshot({ peers: [peer], secrets: [secret] }), 1_000);
    expect(readFileSync(configPath, 'utf8')).toContain('password "Md5-s3cret!"');
    for (const [secrets, at] of [
      [[], 2_000],
      [[bad], 20_000],
    ] as const) {
      const res = await r.reconcile(snapshot({ peers: [peer], secrets: [...secrets] }), at);
      expect(readFileSync(configPath, 'utf8')).toContain('password "Md5-s3cret!"');
      expect(res.problems?.filter((p) => p.object.kind === 'BGPPeer').map((p) => [p.object.name, p.reason])).toEqual([['rack-r12-tor', 'PasswordHeld']]);
      expect(res.status?.conditions?.map((c) => [c.type, c.status])).toEqual([
        ['ConfigApplied', 'True'],
        ['PeerPasswordHeld', 'True'],
      ]);
      // The hold counts from the first missing moment: 2 s + 30 s.
      expect(res.nextWakeAt).toBe(32_000);
    }
    const expired = await r.reconcile(snapshot({ peers: [peer], secrets: [] }), 32_000);
    expect(readFileSync(configPath, 'utf8')).not.toContain('neighbor 172.31.0.1');
    expect(expired.problems?.map((p) => p.reason)).toContain('PasswordSecretNotFound');
    expect(expired.status?.conditions?.map((c) => c.type)).toEqual(['ConfigApplied']);
  });

  it('a held password ends at once when the object says so: the BGPPeer deleted, or its passwordSecretRef removed', async () => {
    const configPath = join(dir, 'bird.conf');
    const r = new BirdConfigReconciler({ nodeName: 'node-a', control: birdParseControl(), configPath, log, metrics: new AgentMetrics(), holdDownMs: 30_000 });
    const peer = peerFixture('rack-r12-tor', { passwordSecretRef: { name: 'tor-md5', key: 'password' } });
    peer.metadata.resourceVersion = '1';
    await r.reconcile(snapshot({ peers: [peer], secrets: [secretFixture('tor-md5', 'password', 'Md5-s3cret!')] }), 1_000);
    await r.reconcile(snapshot({ peers: [peer], secrets: [] }), 2_000);
    expect(readFileSync(configPath, 'utf8')).toContain('password "Md5-s3cret!"');
    const open = peerFixture('rack-r12-tor');
    open.metadata.resourceVersion = '2';
    await r.reconcile(snapshot({ peers: [open], secrets: [] }), 3_000);
    expect(readFileSync(configPath, 'utf8')).toContain('neighbor 172.31.0.1');
    expect(readFileSync(configPath, 'utf8')).not.toContain('password');
    await r.reconcile(snapshot({ peers: [], secrets: [] }), 4_000);
    expect(readFileSync(configPath, 'utf8')).not.toContain('neighbor 172.31.0.1');
  });

  it('a session BIRD refuses is left out and reported on its BGPPeer only; the rest applies, later changes too, without asking again', async () => {
    // BIRD refusing one protocol the way it does (8002 file:line:col, the line inside that protocol).
    const state = { checks: 0 };
    const control = {
      async configureCheck(file: string) {
        state.checks += 1;
        const lines = readFileSync(file, 'utf8').split('\n');
        const at = lines.findIndex((l) => l.includes('neighbor 172.31.0.9 as'));
        if (at >= 0) throw new BirdCommandError(`configure check "${file}"`, 8002, `${file}:${at + 1}:3 Neighbor refused`);
        return reply(20, 'Configuration OK');
      },
      async configure() {
        return reply(3, 'Reconfigured');
      },
    } as unknown as BirdControl;
    const configPath = join(dir, 'bird.conf');
    const r = new BirdConfigReconciler({ nodeName: 'node-a', control, configPath, log, metrics: new AgentMetrics() });
    const peers = [peerFixture(), peerFixture('refused', { peerAddress: '172.31.0.9' })];
    const res = await r.reconcile(snapshot({ peers }), 1_000);
    expect(res.problems?.filter((p) => p.severity === 'Warning').map((p) => [p.object.kind, p.object.name, p.reason])).toEqual([
      ['BGPPeer', 'refused', 'BirdRefusedSession'],
    ]);
    expect(res.problems?.find((p) => p.reason === 'BirdRefusedSession')?.message).toContain('Neighbor refused');
    expect(res.status?.conditions?.[0]).toMatchObject({ type: 'ConfigApplied', status: 'True', reason: 'AppliedWithoutRefusedSessions' });
    expect(readFileSync(configPath, 'utf8')).toContain('neighbor 172.31.0.1 as');
    expect(readFileSync(configPath, 'utf8')).not.toContain('172.31.0.9');
    const checks = state.checks;
    const node = nodeFixture({ podCIDRs: ['10.244.2.0/24'] });
    node.metadata.resourceVersion = '2';
    const next = await r.reconcile(snapshot({ node, peers }), 2_000);
    expect(readFileSync(configPath, 'utf8')).toContain('10.244.2.0/24');
    expect(state.checks - checks).toBe(1);
    expect(next.problems?.map((p) => p.reason)).toContain('BirdRefusedSession');
    // Fixed (the peer's block changes): tried again, and applied.
    const repaired = peerFixture('refused', { peerAddress: '172.31.0.10' });
    repaired.metadata.resourceVersion = '2';
    const fixed = await r.reconcile(snapshot({ node, peers: [peerFixture(), repaired] }), 3_000);
    expect(fixed.status?.conditions?.[0]).toMatchObject({ type: 'ConfigApplied', status: 'True', reason: 'Applied' });
    expect(readFileSync(configPath, 'utf8')).toContain('neighbor 172.31.0.10 as');
  });
});
