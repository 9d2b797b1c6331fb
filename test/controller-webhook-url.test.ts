// The webhook reached through a `clientConfig.url` naming an address, as an API server outside
// the cluster network (or one configured without the Service) calls it. The API server dials
// the address and checks the certificate against it with the configuration's caBundle: TLS
// matches a dialled IP against IP SANs only, so a certificate with DNS names alone fails every
// review and, with failurePolicy Ignore, Pods are created without the gate. Here Node's TLS
// plays the API server: `host` is the URL's address, `ca` the patched bundle, no servername.
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import { checkServerIdentity, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { startApiServer, type ApiServer } from '../src/apiserver/index.js';
import { controllerResources } from '../testkit/controller-resources.js';
import type { Controller } from '../src/controller/controller.js';
import { certInfo } from '../src/controller/certs.js';
import { secretToBundle } from '../src/controller/tls-manager.js';
import { WEBHOOK_PATH } from '../src/controller/webhook-server.js';
import { waitFor } from '../src/lab/netns.js';
import { loadYamlDocs, repoRoot } from '../testkit/install-schema.js';
import { testController } from '../testkit/controller-replica.js';
import { adminKubeConfig } from '../testkit/api-client.js';

const log = pino({ level: process.env.PODLB_TEST_LOG ? 'debug' : 'silent' });
const NS = 'podlb-system';
const TLS_NS = 'podlb-controller';
const GATE = 'podlb.io/load-balancer-ready';
// Shared by both replicas, as --webhook-extra-sans would be: a VIP and a name in front of them.
const EXTRA = { extraDnsNames: ['webhook.example.com'], extraIpAddresses: ['192.0.2.10'] };

interface Reply {
  status: number;
  patch: unknown;
  peerIps: string[];
}

/** One AdmissionReview POSTed the way the API server calls a URL webhook. */
function callUrl(url: string, caBundle: string): Promise<Reply> {
  const u = new URL(url);
  const body = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u-1',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'ads',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { generateName: 'web-', labels: { app: 'bidder' } },
        spec: { containers: [{ name: 'app', image: 'app' }] },
      },
    },
  });
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: u.hostname.replace(/^\[|\]$/g, ''),
        port: Number(u.port),
        path: `${u.pathname}?timeout=2s`,
        method: 'POST',
        ca: caBundle,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const raw = (res.socket as TLSSocket).getPeerCertificate(false).raw;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          const r = JSON.parse(text) as { response: { patch?: string } };
          resolve({
            status: res.statusCode ?? 0,
            patch: r.response.patch ? JSON.parse(Buffer.from(r.response.patch, 'base64').toString('utf8')) : undefined,
            peerIps: certInfo(new X509Certificate(raw).toString()).ipAddresses,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.request({ host, port, path: '/', agent: false, rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

describe('webhook through a URL clientConfig naming an IP', () => {
  let api: ApiServer;
  let kc: KubeConfig;
  const replicas: { ctl: Controller; ip: string }[] = [];

  const setUrl = (url: string): void => {
    const mwc = api.store.get('mutatingwebhookconfigurations', 'podlb');
    mwc.webhooks[0].clientConfig = { url, ...(mwc.webhooks[0].clientConfig.caBundle ? { caBundle: mwc.webhooks[0].clientConfig.caBundle } : {}) };
    api.store.update('mutatingwebhookconfigurations', mwc);
  };
  const clientConfig = (): { url: string; caBundle: string } => {
    const cc = api.store.get('mutatingwebhookconfigurations', 'podlb').webhooks[0].clientConfig;
    return { url: cc.url, caBundle: Buffer.from(cc.caBundle ?? '', 'base64').toString('utf8') };
  };

  beforeAll(async () => {
    api = await startApiServer({ resources: controllerResources() });
    for (const name of [NS, TLS_NS, 'ads']) api.store.create('namespaces', { metadata: { name } });
    const [mwc] = loadYamlDocs(join(repoRoot(), 'daemonset/webhook.yaml')) as { webhooks: { clientConfig: Record<string, unknown> }[] }[];
    mwc!.webhooks[0]!.clientConfig = { url: 'https://127.0.0.1:9443/mutate-pods', caBundle: '' };
    api.store.create('mutatingwebhookconfigurations', mwc!);
    api.store.create('services', {
      metadata: { name: 'bidder', namespace: 'ads', annotations: { 'podlb.io/load-balancer': 'l7lb' } },
      spec: { selector: { app: 'bidder' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });
    kc = adminKubeConfig(api);
    // Two replicas, each bound to its own address (two Pod IPs); the first leads and issues.
    for (const [i, ip] of ['127.0.0.1', '127.0.0.3'].entries()) {
      const ctl = testController({ kubeConfig: kc, log, identity: `ctl-${i}`, webhookHost: ip, ownIpAddresses: [ip], ...EXTRA, gcIntervalMs: 60_000 });
      await ctl.start();
      replicas.push({ ctl, ip });
      if (i === 0)
        await waitFor('first replica leads with a certificate', () => (replicas[0]!.ctl.ready && replicas[0]!.ctl.isLeader ? true : undefined), 10_000, 20);
    }
    await waitFor('both replicas ready', () => (replicas.every((r) => r.ctl.ready) ? true : undefined), 10_000, 20);
    await waitFor('caBundle patched', () => clientConfig().caBundle || undefined, 10_000, 20);
  });

  afterAll(async () => {
    for (const r of replicas) await r.ctl.stop();
    await api?.close();
  });

  it('each replica is reached over TLS at its own address, verified against that address with the caBundle, and adds the gate', async () => {
    for (const r of replicas) {
      setUrl(`https://${r.ip}:${r.ctl.webhookPort}${WEBHOOK_PATH}`);
      const cc = clientConfig();
      const reply = await callUrl(cc.url, cc.caBundle);
      expect(reply.status).toBe(200);
      expect(reply.patch).toEqual([{ op: 'add', path: '/spec/readinessGates', value: [{ conditionType: GATE }] }]);
      expect(reply.peerIps).toContain(r.ip);
      expect(reply.peerIps).toContain('192.0.2.10');
    }
  });

  it('the shared Secret holds the Service names and --webhook-extra-sans, not one replica’s own address', () => {
    const leaf = certInfo(secretToBundle(api.store.get('secrets', 'podlb-webhook-tls', TLS_NS))!.certPem);
    expect(leaf.dnsNames).toContain('podlb-webhook.podlb-system.svc');
    expect(leaf.dnsNames).toContain('webhook.example.com');
    expect(leaf.ipAddresses).toEqual(['192.0.2.10']);
  });

  it('a replica’s certificate does not verify for another replica’s address', async () => {
    const [a, b] = replicas;
    const { caBundle } = clientConfig();
    // Dial a, and check its certificate as if b's address had been dialled.
    const err = await new Promise<Error>((resolve) => {
      https
        .request(
          {
            host: a!.ip,
            port: a!.ctl.webhookPort,
            path: WEBHOOK_PATH,
            method: 'POST',
            ca: caBundle,
            agent: false,
            checkServerIdentity: (_host, cert) => checkServerIdentity(b!.ip, cert),
          },
          () => resolve(new Error('connected')),
        )
        .on('error', resolve)
        .end('{}');
    });
    expect(err.message).toMatch(/IP: 127\.0\.0\.3 is not in the cert's list/);
  });

  it('each webhook listens only on the address it was given', async () => {
    const [a, b] = replicas;
    expect(await connects(a!.ip, a!.ctl.webhookPort)).toBe(true);
    expect(await connects('127.0.0.2', a!.ctl.webhookPort)).toBe(false);
    expect(await connects(a!.ip, b!.ctl.webhookPort)).toBe(false);
  });
});
