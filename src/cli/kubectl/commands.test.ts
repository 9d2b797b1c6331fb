// `kubectl podlb` against the in-process API server: the CLI's command layer runs in-process
// (runKubectlPodlb, the same function the binary calls) over HTTP with a kubeconfig file, so
// argument parsing, kubeconfig loading, requests, patches and rendering are all the real ones.
// The plugin has no ServiceAccount: it runs with its user's credentials. Each command runs as
// the user who would type it, authenticated by a bearer token and authorized by the shipped
// RBAC (daemonset/plugin-rbac.yaml): a network-team member (group podlb:network-team) for
// approve/reject, a platform user bound to podlb-viewer for the read-only commands. A small
// HTTP proxy in front of the server plays an older API (no SelfSubjectReview) or, once, a
// concurrent writer where a test needs it.
import { beforeEach, describe, expect, it } from 'vitest';
import { checkApproval, contentDigests } from '../../bgp/approval.js';
import { api, getPool, NETWORK_TEAM_USER, pool, run, startProxy, useKubectlServer, viewerKubeconfig } from '../../../testkit/kubectl-harness.js';

useKubectlServer();

describe('approve and reject', () => {
  beforeEach(() => {
    for (const p of api.store.list('podaddresspools').items) api.store.delete('podaddresspools', p.metadata.name);
    api.store.create('podaddresspools', pool('tokyo-pods', ['10.244.0.0/16', 'fd00:244::/56']));
  });

  it('approve sets state, by (the user the API server authenticated, from SelfSubjectReview), reason and time', async () => {
    const r = await run(['approve', 'tokyo-pods', '--reason', 'NETREQ-1234']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const stored = getPool('tokyo-pods');
    expect(stored.spec.approval).toEqual({
      state: 'Approved',
      by: NETWORK_TEAM_USER,
      reason: 'NETREQ-1234',
      time: '2026-11-22T10:00:00Z',
      ...contentDigests(stored.spec),
    });
    // The digest covers what was read: the agents' check accepts the stored pool as approved.
    expect(checkApproval(stored.spec)).toEqual({ ok: true });
    expect(r.out).toContain(`podaddresspool/tokyo-pods approved by ${NETWORK_TEAM_USER}\n`);
    expect(r.out).toContain('cidrs:  10.244.0.0/16, fd00:244::/56');
    expect(r.out).toContain(`digest: ${contentDigests(stored.spec).digest}`);
  });

  it('without SelfSubjectReview (an older API server) the name comes from the kubeconfig, and says so', async () => {
    const proxy = await startProxy({ noSelfSubjectReview: true });
    try {
      const r = await run(['approve', 'tokyo-pods', '--reason', 'NETREQ-1'], proxy.kubeconfig);
      expect(r.code, r.err).toBe(0);
      expect(getPool('tokyo-pods').spec.approval).toMatchObject({ state: 'Approved', by: 'alice', reason: 'NETREQ-1' });
      expect(r.out).toContain('approved by alice (name from the kubeconfig');
    } finally {
      proxy.server.close();
    }
  });

  it('a platform user (podlb-viewer) may not approve: 403 from RBAC, pool unchanged', async () => {
    const r = await run(['approve', 'tokyo-pods', '--reason', 'x'], viewerKubeconfig);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      'podaddresspools.podlb.io "tokyo-pods" is forbidden: User "pat" cannot patch resource "podaddresspools" in API group "podlb.io" at the cluster scope',
    );
    expect(getPool('tokyo-pods').spec.approval).toBeUndefined();
  });

  it('reject sets state Rejected and replaces an earlier decision', async () => {
    expect((await run(['approve', 'tokyo-pods', '--reason', 'ok'])).code).toBe(0);
    const r = await run(['reject', 'tokyo-pods', '--reason', '  overlaps the DC range  ']);
    expect(r.code, r.err).toBe(0);
    expect(getPool('tokyo-pods').spec.approval).toEqual({
      state: 'Rejected',
      by: NETWORK_TEAM_USER,
      reason: 'overlaps the DC range',
      time: '2026-11-22T10:00:00Z',
    });
    expect(getPool('tokyo-pods').spec.cidrs).toEqual(['10.244.0.0/16', 'fd00:244::/56']);
    expect(r.out).toContain(`rejected by ${NETWORK_TEAM_USER}`);
  });

  it.each([
    ['no --reason', ['approve', 'tokyo-pods']],
    ['an empty reason', ['approve', 'tokyo-pods', '--reason', '']],
    ['a blank reason', ['reject', 'tokyo-pods', '--reason', '   ']],
    ['no pool name', ['approve', '--reason', 'x']],
  ])('refuses %s, exit 2, and changes nothing', async (_n, args) => {
    const before = getPool('tokyo-pods').metadata.resourceVersion;
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--reason is required|needs exactly one pool name/);
    expect(getPool('tokyo-pods').metadata.resourceVersion).toBe(before);
  });

  it('a missing pool is an error naming it', async () => {
    const r = await run(['approve', 'nope', '--reason', 'x']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('podaddresspool "nope" not found');
  });

  it('a pool changed between read and patch is not approved (resourceVersion precondition)', async () => {
    let changed = false;
    const proxy = await startProxy({
      beforeForward: (method) => {
        if (method === 'PATCH' && !changed) {
          changed = true;
          api.store.patch('podaddresspools', 'tokyo-pods', undefined, 'merge', { spec: { cidrs: ['10.0.0.0/8'] } });
        }
      },
    });
    try {
      const r = await run(['approve', 'tokyo-pods', '--reason', 'x'], proxy.kubeconfig);
      expect(r.code).toBe(1);
      expect(r.err).toContain('changed while you were deciding on it');
      expect(getPool('tokyo-pods').spec.approval).toBeUndefined();
      expect(getPool('tokyo-pods').spec.cidrs).toEqual(['10.0.0.0/8']);
    } finally {
      proxy.server.close();
    }
  });
});
