// The in-process API server and users the `kubectl podlb` command tests run against: a
// network-team member (bearer token, group podlb:network-team) and a platform user bound to the
// shipped podlb-viewer ClusterRole, each with its kubeconfig file; the CLI runs in-process
// (runKubectlPodlb) with a fixed clock. A small HTTP proxy can play an older API server (no
// SelfSubjectReview) or a concurrent writer. The bindings below are live: set by
// useKubectlServer's beforeAll, read by the tests.
import { afterAll, beforeAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ApiServer, startApiServer } from '../src/apiserver/index.js';
import type { PodAddressPool } from '../src/api/types.js';
import { runKubectlPodlb } from '../src/cli/kubectl/main.js';

export const NOW = new Date('2026-11-22T10:00:00.000Z');
export const ago = (s: number): string => new Date(NOW.getTime() - s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

export let api: ApiServer;
let dir: string;
/** A member of the network team (default group of the shipped binding and admission ConfigMap). */
export let kubeconfig: string;
/** A platform user with the shipped podlb-viewer ClusterRole, bound as a site would bind it. */
export let viewerKubeconfig: string;
export const NETWORK_TEAM_USER = 'alice@example.com';

export async function run(args: string[], kc = kubeconfig): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runKubectlPodlb([...args, '--kubeconfig', kc], { stdout: (s) => (out += s), stderr: (s) => (err += s), now: () => NOW });
  return { code, out, err };
}

/** A plain-HTTP proxy to the API server (the network team's credentials pass through) that can play a server without SelfSubjectReview, and lets a test act before a request is forwarded. */
export async function startProxy(opts: {
  noSelfSubjectReview?: boolean;
  beforeForward?: (method: string, path: string) => void;
}): Promise<{ server: Server; kubeconfig: string }> {
  const target = new URL(api.url);
  const server = createServer((req, res) => {
    if (opts.noSelfSubjectReview && req.method === 'POST' && req.url === '/apis/authentication.k8s.io/v1/selfsubjectreviews') {
      req.resume();
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: 'the server could not find the requested resource',
          reason: 'NotFound',
          code: 404,
        }),
      );
      return;
    }
    opts.beforeForward?.(req.method ?? '', req.url ?? '');
    const up = httpsRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, ca: api.caPem }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const file = join(dir, `proxy-${port}.yaml`);
  // client-node speaks plain HTTP only with insecure-skip-tls-verify set.
  const yaml = readFileSync(kubeconfig, 'utf8')
    .replace(api.url, `http://127.0.0.1:${port}`)
    .replace(/certificate-authority-data: .*/, 'insecure-skip-tls-verify: true');
  writeFileSync(file, yaml);
  return { server, kubeconfig: file };
}

export function pool(
  name: string,
  cidrs: string[],
  approval?: PodAddressPool['spec']['approval'],
  advertise: 'NodeCIDR' | 'PodIPs' = 'NodeCIDR',
): PodAddressPool {
  return { apiVersion: 'podlb.io/v1alpha1', kind: 'PodAddressPool', metadata: { name }, spec: { cidrs, advertise, ...(approval ? { approval } : {}) } };
}

/** Creates (or re-creates) a PodLBNode with this status, as its agent would report it. */
export function podlbNode(name: string, status: Record<string, unknown>): void {
  if (api.store.list('podlbnodes').items.some((n: { metadata: { name?: string } }) => n.metadata.name === name)) api.store.delete('podlbnodes', name);
  const created = api.store.create('podlbnodes', { apiVersion: 'podlb.io/v1alpha1', kind: 'PodLBNode', metadata: { name } });
  api.store.updateStatus('podlbnodes', { ...created, status }, { name });
}

export function getPool(name: string): PodAddressPool {
  return api.store.get('podaddresspools', name) as unknown as PodAddressPool;
}

/** Registers the suite's server and users: call once at the top of a test file. */
export function useKubectlServer(): void {
  beforeAll(async () => {
    api = await startApiServer();
    dir = mkdtempSync(join(tmpdir(), 'podlb-kubectl-'));
    api.installManifests();
    kubeconfig = join(dir, 'network-team.yaml');
    writeFileSync(kubeconfig, api.kubeconfigForToken(api.addToken({ username: NETWORK_TEAM_USER, groups: ['podlb:network-team'] }), 'alice'));
    api.store.create('clusterrolebindings', {
      metadata: { name: 'platform-podlb-viewer' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'podlb-viewer' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'platform' }],
    });
    viewerKubeconfig = join(dir, 'viewer.yaml');
    writeFileSync(viewerKubeconfig, api.kubeconfigForToken(api.addToken({ username: 'pat', groups: ['platform'] }), 'pat'));
  });

  afterAll(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });
}
