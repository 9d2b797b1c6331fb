// Our own credential loader against the real stand-in API server (TLS, tokens, client
// certificates): in-cluster files as the kubelet projects them, kubeconfig data and files.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { startApiServer, type ApiServer } from '../apiserver/index.js';
import { KubeClient } from './client.js';
import { fromSource, kubeconfigCredentials, loadCredentials, TOKEN_FILE_REREAD_MS } from './credentials.js';
import { adminClient } from '../../testkit/api-client.js';

let api: ApiServer;
let dir: string;
beforeAll(async () => {
  api = await startApiServer();
  dir = mkdtempSync(join(tmpdir(), 'podlb-creds-'));
});
afterAll(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

const whoAmI = async (client: KubeClient): Promise<string | undefined> =>
  (
    await client.create<{ status?: { userInfo?: { username?: string } } }>('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'SelfSubjectReview',
    })
  ).status?.userInfo?.username;

const admin = (): KubeClient => adminClient(api);

describe('in-cluster credentials', () => {
  it('read the projected token and CA under PODLB_IN_CLUSTER_ROOT, and re-read a replaced token after a 401', async () => {
    await admin().create('/api/v1/namespaces/default/serviceaccounts', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'creds' } });
    const id = api.podIdentity({ serviceAccount: 'default/creds', nodeName: 'n1' });
    try {
      const client = new KubeClient(loadCredentials(undefined, { ...id.env, PODLB_IN_CLUSTER_ROOT: id.pathPrefix }));
      expect(await whoAmI(client)).toBe('system:serviceaccount:default:creds');
      // Every earlier token is refused from now on: only a re-read of the file gets through.
      id.replacePod();
      expect(await whoAmI(client)).toBe('system:serviceaccount:default:creds');
      await client.close();
    } finally {
      id.stop();
    }
  });

  it('refuse to start without the service environment', () => {
    expect(() => loadCredentials(undefined, {})).toThrow(/KUBERNETES_SERVICE_HOST/);
  });
});

describe('token file', () => {
  it('is cached for a minute, then read again; a 401 forgets it at once', async () => {
    const file = join(dir, 'token');
    writeFileSync(file, 'one\n');
    let now = 1_000;
    const creds = fromSource({ server: 'https://k', tokenFile: file, tls: {} }, () => now);
    const bearer = async (): Promise<string | undefined> => (await creds.authenticate()).headers.Authorization;
    expect(await bearer()).toBe('Bearer one');
    writeFileSync(file, 'two\n');
    now += TOKEN_FILE_REREAD_MS - 1;
    expect(await bearer()).toBe('Bearer one');
    now += 1;
    expect(await bearer()).toBe('Bearer two');
    writeFileSync(file, 'three\n');
    expect(creds.forgetToken()).toBe(true);
    expect(await bearer()).toBe('Bearer three');
    expect(fromSource({ server: 'https://k', token: 't', tls: {} }).forgetToken()).toBe(false);
  });
});

describe('kubeconfig credentials', () => {
  it('authenticate with a client certificate and CA given as data', async () => {
    const file = join(dir, 'data.yaml');
    writeFileSync(file, await api.kubeconfigForClientCert({ username: 'alice' }));
    const client = new KubeClient(kubeconfigCredentials(file));
    expect(await whoAmI(client)).toBe('alice');
    await client.close();
  });

  it('read CA, certificate and key files relative to the kubeconfig, again on every request (rotation)', async () => {
    const sub = mkdtempSync(join(dir, 'files-'));
    const material = async (username: string): Promise<{ cert: string; key: string; ca: string }> => {
      const doc = parse(await api.kubeconfigForClientCert({ username }));
      const b64 = (s: string): string => Buffer.from(s, 'base64').toString('utf8');
      return {
        ca: b64(doc.clusters[0].cluster['certificate-authority-data']),
        cert: b64(doc.users[0].user['client-certificate-data']),
        key: b64(doc.users[0].user['client-key-data']),
      };
    };
    const put = (m: { cert: string; key: string; ca: string }): void => {
      writeFileSync(join(sub, 'ca.crt'), m.ca);
      writeFileSync(join(sub, 'tls.crt'), m.cert);
      writeFileSync(join(sub, 'tls.key'), m.key);
    };
    put(await material('alice'));
    const doc = parse(await api.kubeconfigForClientCert({ username: 'alice' }));
    doc.clusters[0].cluster = { server: doc.clusters[0].cluster.server, 'certificate-authority': 'ca.crt' };
    doc.users[0].user = { 'client-certificate': 'tls.crt', 'client-key': 'tls.key' };
    writeFileSync(join(sub, 'config'), stringify(doc));
    const client = new KubeClient(kubeconfigCredentials(join(sub, 'config')));
    expect(await whoAmI(client)).toBe('alice');
    put(await material('bob'));
    expect(await whoAmI(client)).toBe('bob');
    // Without the CA the server's certificate is not trusted.
    writeFileSync(join(sub, 'ca.crt'), '');
    await expect(whoAmI(client)).rejects.toThrow();
    await client.close();
  });

  it('send a tokenFile named relative to the kubeconfig as the bearer token', async () => {
    const sub = mkdtempSync(join(dir, 'token-'));
    const doc = parse(api.kubeconfigYaml());
    writeFileSync(join(sub, 'token'), `${doc.users[0].user.token}\n`);
    doc.users[0].user = { tokenFile: 'token' };
    writeFileSync(join(sub, 'config'), stringify(doc));
    const client = new KubeClient(kubeconfigCredentials(join(sub, 'config')));
    expect(await whoAmI(client)).toBe('kubernetes-admin');
    await client.close();
  });

  it('refuse exec, auth-provider and plain HTTP without insecure-skip-tls-verify by name', () => {
    const write = (cluster: Record<string, unknown>, user: Record<string, unknown>): string => {
      const f = join(dir, `k-${Math.random()}.yaml`);
      writeFileSync(
        f,
        stringify({
          'current-context': 'x',
          contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
          clusters: [{ name: 'c', cluster }],
          users: [{ name: 'u', user }],
        }),
      );
      return f;
    };
    expect(() => kubeconfigCredentials(write({ server: 'https://k' }, { exec: { command: 'aws' } }))).toThrow(/uses exec/);
    expect(() => kubeconfigCredentials(write({ server: 'https://k' }, { 'auth-provider': { name: 'oidc' } }))).toThrow(/uses auth-provider/);
    expect(() => kubeconfigCredentials(write({ server: 'http://k' }, { token: 't' }))).toThrow(/plain HTTP/);
    expect(() => kubeconfigCredentials(write({ server: 'http://k', 'insecure-skip-tls-verify': true }, { token: 't' }))).not.toThrow();
  });
});
