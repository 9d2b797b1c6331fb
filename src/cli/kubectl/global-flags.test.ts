// kubectl's global flags and output formats in `kubectl podlb`, in-process against the
// in-process API server (through a recording proxy where the test needs the request headers).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { LAB_NETWORK_TEAM } from '../../lab/objects.js';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { type ApiServer, startApiServer } from '../../apiserver/index.js';
import { runKubectlPodlb } from './main.js';
import { approvePool } from '../../bgp/approval.js';

let api: ApiServer;
let dir: string;
let kubeconfig: string;

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runKubectlPodlb(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), now: () => new Date('2026-11-22T10:00:00Z') });
  return { code, out, err };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * The admin kubeconfig pointed at a plain-HTTP test server of ours (a header-recording proxy, a
 * server that never answers). client-node sends to an http: server only with
 * insecure-skip-tls-verify, so that replaces the CA here; the proxy talks TLS to the API server.
 */
function kubeconfigFor(url: string, name: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    api
      .kubeconfigYaml()
      .replace(api.url, url)
      .replace(/certificate-authority-data: .*/, 'insecure-skip-tls-verify: true'),
  );
  return file;
}

function kubeconfigForToken(token: string, name: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, api.kubeconfigForToken(token, name));
  return file;
}

beforeAll(async () => {
  api = await startApiServer();
  // The shipped RBAC (the plugin's roles for the network team) and approval policy.
  api.installManifests();
  dir = mkdtempSync(join(tmpdir(), 'podlb-kubectl-flags-'));
  kubeconfig = join(dir, 'kubeconfig.yaml');
  await api.writeKubeconfig(kubeconfig);
  api.store.create(
    'podaddresspools',
    approvePool(
      { apiVersion: 'podlb.io/v1alpha1', kind: 'PodAddressPool', metadata: { name: 'tokyo-pods' }, spec: { cidrs: ['10.244.0.0/16'], advertise: 'NodeCIDR' } },
      { by: 'alice', reason: 'NETREQ-1', time: '2026-11-01T00:00:00Z' },
    ),
    { user: LAB_NETWORK_TEAM },
  );
  const node = api.store.create('podlbnodes', { apiVersion: 'podlb.io/v1alpha1', kind: 'PodLBNode', metadata: { name: 'node1' } });
  api.store.updateStatus(
    'podlbnodes',
    {
      ...node,
      status: {
        bgp: { advertisedPrefixes: ['10.244.1.0/24'], configHash: '0123456789abcdef0123', lastApplyResult: 'Applied', lastApplyTime: '2026-11-22T09:59:00Z' },
        conditions: [
          { type: 'BGPReady', status: 'True', reason: 'Established' },
          { type: 'LoadBalancerReachable', status: 'False', reason: 'InstanceUnreachable' },
        ],
      },
    },
    { name: 'node1' },
  );
});

afterAll(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('-o json|yaml|wide', () => {
  it.each(['pools', 'status'])('%s -o yaml is -o json in YAML', async (cmd) => {
    const json = await run([cmd, '-o', 'json', '--kubeconfig', kubeconfig]);
    const yaml = await run([cmd, '-o', 'yaml', '--kubeconfig', kubeconfig]);
    expect(yaml.code, yaml.err).toBe(0);
    expect(parseYaml(yaml.out)).toEqual(JSON.parse(json.out));
  });

  it('pools -o wide names the decision and the advertising nodes', async () => {
    const r = await run(['--kubeconfig', kubeconfig, 'pools', '-owide']);
    expect(r.code, r.err).toBe(0);
    const [head, row] = r.out
      .trimEnd()
      .split('\n')
      .map((l) => l.split(/\s{2,}/));
    expect(head).toEqual(['NAME', 'STATE', 'CIDRS', 'ADVERTISE', 'BY', 'NODES', 'DECIDED', 'REASON', 'ADVERTISING NODES']);
    expect(row).toEqual(['tokyo-pods', 'Approved', '10.244.0.0/16', 'NodeCIDR', 'alice', '1', '2026-11-01T00:00:00Z', 'NETREQ-1', 'node1']);
  });

  it('status -o wide adds every condition, the last apply and the whole config hash', async () => {
    const r = await run(['status', '-o=wide', '--kubeconfig', kubeconfig]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('0123456789abcdef0123');
    expect(r.out).toContain('Applied@2026-11-22T09:59:00Z');
    expect(r.out).toContain('BGPReady=True/Established,LoadBalancerReachable=False/InstanceUnreachable');
    expect((await run(['status', '--kubeconfig', kubeconfig])).out).not.toContain('LoadBalancerReachable');
  });

  it.each([
    [['pools', '-o', 'xml'], /-o: "xml" is not one of json, yaml, wide/],
    [['approve', 'p', '--reason', 'x', '-o', 'wide'], /is not one of json, yaml/],
    [['pools', '-o'], /flag -o needs a value/],
  ])('%j is a usage error', async (args, msg) => {
    const r = await run([...args, '--kubeconfig', kubeconfig]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(msg);
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
  });
});

describe('--as, --as-group', () => {
  let proxy: Server;
  let seen: IncomingHttpHeaders[];
  let raw: string[][];
  let proxied: string;
  beforeAll(async () => {
    seen = [];
    raw = [];
    const target = new URL(api.url);
    proxy = createServer((req, res) => {
      seen.push(req.headers);
      raw.push(req.rawHeaders);
      // rawHeaders keeps repeated lines apart (req.headers joins them into one "a, b" value).
      const up = httpsRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.rawHeaders, ca: api.caPem }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    proxied = kubeconfigFor(await listen(proxy), 'proxied');
  });
  afterAll(() => {
    proxy.close();
  });

  it('send Impersonate-User and one Impersonate-Group header per group, as kubectl does', async () => {
    seen.length = 0;
    raw.length = 0;
    const r = await run(['pools', '--kubeconfig', proxied, '--as', 'alice@example.com', '--as-group', 'podlb:network-team', '--as-group=auditors']);
    expect(r.code, r.err).toBe(0);
    expect(seen.length).toBeGreaterThan(0);
    for (const h of seen) expect(h['impersonate-user']).toBe('alice@example.com');
    // Two header lines, not one "netops, auditors" (the API server would read that as one group).
    for (const r of raw) {
      const groups = r.flatMap((v, i) => (i % 2 === 0 && v.toLowerCase() === 'impersonate-group' ? [r[i + 1]] : []));
      expect(groups).toEqual(['podlb:network-team', 'auditors']);
    }
  });

  it('approve --as acts as the impersonated user: its rights, and its name in the approval', async () => {
    // The admin impersonating bob has bob's rights only: none, until bob is in the network team,
    // whose shipped role (plugin-rbac.yaml) may patch pools.
    const denied = await run(['approve', 'tokyo-pods', '--reason', 'NETREQ-2', '--kubeconfig', proxied, '--as', 'bob']);
    expect(denied.code).toBe(1);
    expect(denied.err).toContain('is forbidden: User "bob" cannot get resource "podaddresspools"');
    const r = await run(['approve', 'tokyo-pods', '--reason', 'NETREQ-2', '--kubeconfig', proxied, '--as', 'bob', '--as-group', 'podlb:network-team']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('approved by bob');
    expect((api.store.get('podaddresspools', 'tokyo-pods') as { spec: { approval: { by: string } } }).spec.approval.by).toBe('bob');
  });

  it('impersonation needs the impersonate verb: a user without it gets 403', async () => {
    const pat = kubeconfigForToken(api.addToken({ username: 'pat', groups: ['platform'] }), 'pat');
    const r = await run(['pools', '--kubeconfig', pat, '--as', 'alice@example.com']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('users "alice@example.com" is forbidden: User "pat" cannot impersonate resource "users" in API group "" at the cluster scope');
  });

  it('are not sent without the flags', async () => {
    seen.length = 0;
    expect((await run(['pools', '--kubeconfig', proxied])).code).toBe(0);
    expect(seen.every((h) => h['impersonate-user'] === undefined && h['impersonate-group'] === undefined)).toBe(true);
  });

  it('--as-group without --as is refused before any request, as kubectl refuses it', async () => {
    seen.length = 0;
    const r = await run(['pools', '--kubeconfig', proxied, '--as-group', 'netops']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--as-group needs --as');
    expect(seen).toHaveLength(0);
  });
});

describe('--request-timeout, --context', () => {
  it('a server that does not answer fails the command after --request-timeout, exit 1, one line', async () => {
    const sockets = new Set<import('node:net').Socket>();
    const silent = createServer(() => undefined);
    silent.on('connection', (s) => sockets.add(s));
    const file = kubeconfigFor(await listen(silent), 'silent');
    try {
      const t0 = Date.now();
      const r = await run(['status', '--kubeconfig', file, '--request-timeout', '500ms']);
      const took = Date.now() - t0;
      expect(r.code).toBe(1);
      expect(r.err.trimEnd().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(/^kubectl-podlb: GET \/apis\/podlb\.io\/v1alpha1\/podlbnodes: /);
      expect(took).toBeGreaterThanOrEqual(450);
      expect(took).toBeLessThan(5000);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it.each(['0', '5', '5s', '1m30s', '250ms'])('accepts kubectl timeout %j', async (t) => {
    expect((await run(['pools', '--kubeconfig', kubeconfig, '--request-timeout', t])).code).toBe(0);
  });

  it.each(['5x', '-1s', '1.5', 's'])('refuses timeout %j, exit 2', async (t) => {
    const r = await run(['pools', '--kubeconfig', kubeconfig, `--request-timeout=${t}`]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--request-timeout');
  });

  it('an unknown --context is named, exit 1', async () => {
    const r = await run(['pools', '--kubeconfig', kubeconfig, '--context', 'nope']);
    expect(r.code).toBe(1);
    expect(r.err).toBe('kubectl-podlb: context "nope" does not exist in the kubeconfig\n');
  });
});
