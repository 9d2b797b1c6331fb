// The mutating webhook over real HTTPS with certificates podlb made itself: the client trusts
// only the caBundle the controller patched into the in-process API server's
// MutatingWebhookConfiguration (loaded from daemonset/webhook.yaml) and checks the Service DNS
// name. Selection table, latency, rotation with a clock passed in, and live rotation without a
// restart.
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { startApiServer, type ApiServer } from '../src/apiserver/index.js';
import { applyJsonPatch, type Json } from '../src/apiserver/patch.js';
import { KubeClient } from '../src/kube/client.js';
import { CONTROLLER_SERVICE_ACCOUNT, controllerResources } from '../testkit/controller-resources.js';
import { type Controller, serviceDnsNames } from '../src/controller/controller.js';
import { isSignedBy, splitPemBundle } from '../src/controller/certs.js';
import { DAY_MS, TlsManager, secretToBundle } from '../src/controller/tls-manager.js';
import { WEBHOOK_PATH } from '../src/controller/webhook-server.js';
import { eventually } from '../testkit/eventually.js';
import { testController } from '../testkit/controller-replica.js';

const log = pino({ level: process.env.PODLB_TEST_LOG ? 'debug' : 'silent' });
const NS = 'podlb-system';
const TLS_NS = 'podlb-controller';
const SERVER_NAME = 'podlb-webhook.podlb-system.svc';
const GATE = 'podlb.io/load-balancer-ready';

async function apiWithWebhookConfig(): Promise<{ api: ApiServer; kc: KubeConfig; client: KubeClient }> {
  const api = await startApiServer({ resources: controllerResources() });
  // The shipped manifests: namespaces, RBAC and daemonset/webhook.yaml's configuration.
  api.installManifests();
  expect(api.store.get('mutatingwebhookconfigurations', 'podlb')).toBeTruthy();
  for (const name of ['ads', 'other']) api.store.create('namespaces', { metadata: { name } });
  // The controller as its Deployment's Pod: the podlb-controller ServiceAccount's own token.
  const kc = controllerKubeConfig(api);
  return { api, kc, client: new KubeClient(kc) };
}

function controllerKubeConfig(api: ApiServer): KubeConfig {
  return api.podIdentity({ serviceAccount: CONTROLLER_SERVICE_ACCOUNT, nodeName: 'control-plane' }).kubeConfig();
}

/** Closes the server; fails when any request was refused by the shipped RBAC. */
async function closeChecked(api: ApiServer | undefined): Promise<void> {
  const denied = api?.deniedRequests() ?? [];
  await api?.close();
  expect(denied, 'calls the shipped RBAC does not grant').toEqual([]);
}

function caBundleOf(api: ApiServer): string {
  const mwc = api.store.get('mutatingwebhookconfigurations', 'podlb');
  return Buffer.from(mwc.webhooks[0].clientConfig.caBundle ?? '', 'base64').toString('utf8');
}

interface Reply {
  status: number;
  body: { apiVersion: string; kind: string; response: { uid: string; allowed: boolean; patchType?: string; patch?: string } };
  peerFingerprint: string;
  peerPem: string;
}

function post(port: number, review: unknown, ca: string, agent: https.Agent | false = false): Promise<Reply> {
  const data = JSON.stringify(review);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        servername: SERVER_NAME,
        ca,
        method: 'POST',
        path: `${WEBHOOK_PATH}?timeout=2s`,
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      },
      (res) => {
        const peer = (res.socket as TLSSocket).getPeerCertificate(false);
        if (!peer?.raw) {
          reject(new Error('no peer certificate (resumed session?)'));
          res.resume();
          return;
        }
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          const pem = `-----BEGIN CERTIFICATE-----\n${peer.raw
            .toString('base64')
            .replace(/(.{64})/g, '$1\n')
            .replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), peerFingerprint: peer.fingerprint256, peerPem: pem });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

let uidSeq = 0;
function review(pod: Record<string, unknown>, o: { operation?: string; namespace?: string } = {}): Record<string, unknown> {
  const uid = `uid-${++uidSeq}`;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      namespace: o.namespace ?? 'ads',
      operation: o.operation ?? 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object: pod,
      dryRun: false,
    },
  };
}

function pod(labels: Record<string, string> | undefined, readinessGates?: { conditionType: string }[]): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'web-', ...(labels ? { labels } : {}) },
    spec: { containers: [{ name: 'app', image: 'app' }], ...(readinessGates ? { readinessGates } : {}) },
  };
}

const waitFor = <T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000): Promise<T> =>
  eventually(what, probe, timeoutMs, 20);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

// ---------------------------------------------------------------------------------------------
describe('webhook: gate injection over HTTPS', () => {
  let env: Awaited<ReturnType<typeof apiWithWebhookConfig>>;
  let ctl: Controller;
  let ca: string;

  beforeAll(async () => {
    env = await apiWithWebhookConfig();
    const svc = (ns: string, name: string, selector: Record<string, string> | undefined, optedIn: boolean) =>
      env.api.store.create('services', {
        metadata: { name, namespace: ns, ...(optedIn ? { annotations: { 'podlb.io/load-balancer': 'l7lb' } } : {}) },
        spec: { ...(selector ? { selector } : {}), ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
      });
    svc('ads', 'bidder', { app: 'bidder' }, true);
    svc('ads', 'bidder-canary', { app: 'bidder', track: 'canary' }, true);
    svc('ads', 'plain', { app: 'plain' }, false);
    svc('ads', 'headless-manual', undefined, true); // no selector: selects no Pod
    svc('other', 'elsewhere', { app: 'elsewhere' }, true);
    ctl = testController({ kubeConfig: env.kc, log, identity: 'ctl-0', gcIntervalMs: 60_000 });
    await ctl.start();
    await waitFor('controller ready', () => ctl.ready && ctl.isLeader);
    ca = await waitFor('caBundle patched', () => caBundleOf(env.api) || undefined);
  });

  afterAll(async () => {
    await ctl?.stop();
    await closeChecked(env?.api);
  });

  it('the leader issued a CA and a serving cert in the Secret, and patched the CA into the webhook configuration', async () => {
    const bundle = secretToBundle(env.api.store.get('secrets', 'podlb-webhook-tls', TLS_NS))!;
    expect(bundle).toBeDefined();
    expect(env.api.store.get('secrets', 'podlb-webhook-tls', TLS_NS).type).toBe('kubernetes.io/tls');
    expect(ca).toBe(bundle.caCertPem);
    expect(splitPemBundle(ca)).toHaveLength(1);
    expect(isSignedBy(bundle.certPem, ca)).toBe(true);
    const leaf = new X509Certificate(bundle.certPem);
    for (const n of serviceDnsNames('podlb-webhook', NS)) expect(leaf.checkHost(n)).toBe(n);
    expect(leaf.checkHost('podlb-webhook.default.svc')).toBeUndefined();
  });

  it('refuses a client that does not trust the CA (no rejectUnauthorized: false anywhere)', async () => {
    const otherCa = (await import('../src/controller/certs.js')).createCa({ commonName: 'stranger', now: Date.now(), lifetimeMs: DAY_MS });
    await expect(post(ctl.webhookPort, review(pod({ app: 'bidder' })), (await otherCa).certPem)).rejects.toThrow(/self.signed|unable to verify|certificate/i);
  });

  it.each([
    [
      'selected by an opted-in Service: gate added',
      { app: 'bidder' },
      undefined,
      'ads',
      'CREATE',
      [{ op: 'add', path: '/spec/readinessGates', value: [{ conditionType: GATE }] }],
    ],
    [
      'selected by two opted-in Services: one gate',
      { app: 'bidder', track: 'canary' },
      undefined,
      'ads',
      'CREATE',
      [{ op: 'add', path: '/spec/readinessGates', value: [{ conditionType: GATE }] }],
    ],
    [
      'other gates present: appended',
      { app: 'bidder' },
      [{ conditionType: 'example.com/x' }],
      'ads',
      'CREATE',
      [{ op: 'add', path: '/spec/readinessGates/-', value: { conditionType: GATE } }],
    ],
    ['gate already present: unchanged', { app: 'bidder' }, [{ conditionType: GATE }], 'ads', 'CREATE', undefined],
    ['no Service selects it', { app: 'nothing' }, undefined, 'ads', 'CREATE', undefined],
    ['selected only by a Service that did not opt in', { app: 'plain' }, undefined, 'ads', 'CREATE', undefined],
    ['selector mismatch (labels partly match)', { track: 'canary' }, undefined, 'ads', 'CREATE', undefined],
    ['opted-in Service with these labels is in another namespace', { app: 'elsewhere' }, undefined, 'ads', 'CREATE', undefined],
    ['no labels (a selector-less Service selects nothing)', undefined, undefined, 'ads', 'CREATE', undefined],
    ['UPDATE is not touched', { app: 'bidder' }, undefined, 'ads', 'UPDATE', undefined],
  ] as const)('%s', async (_name, labels, gates, namespace, operation, patch) => {
    const p = pod(labels ? { ...labels } : undefined, gates ? gates.map((g) => ({ ...g })) : undefined);
    const r = await post(ctl.webhookPort, review(p, { namespace, operation }), ca);
    expect(r.status).toBe(200);
    expect(r.body.apiVersion).toBe('admission.k8s.io/v1');
    expect(r.body.kind).toBe('AdmissionReview');
    expect(r.body.response.allowed).toBe(true);
    expect(r.body.response.uid).toBe(`uid-${uidSeq}`);
    if (!patch) {
      expect(r.body.response.patch).toBeUndefined();
      return;
    }
    expect(r.body.response.patchType).toBe('JSONPatch');
    const ops = JSON.parse(Buffer.from(r.body.response.patch!, 'base64').toString('utf8'));
    expect(ops).toEqual(patch);
    // What the API server would store: exactly one podlb gate, other gates kept.
    const patched = applyJsonPatch(p as Json, ops) as { spec: { readinessGates: { conditionType: string }[] } };
    expect(patched.spec.readinessGates.filter((g) => g.conditionType === GATE)).toHaveLength(1);
    expect(patched.spec.readinessGates).toHaveLength((gates?.length ?? 0) + 1);
  });

  it('a second replica (not the leader) serves the same certificate from the shared Secret and answers the same', async () => {
    const second = testController({ kubeConfig: controllerKubeConfig(env.api), log, identity: 'ctl-1', gcIntervalMs: 60_000 });
    try {
      await second.start();
      await waitFor('second replica ready', () => second.ready);
      expect(second.isLeader).toBe(false);
      const body = review(pod({ app: 'bidder' }));
      const [a, b] = [await post(ctl.webhookPort, body, ca), await post(second.webhookPort, body, ca)];
      expect(b.peerFingerprint).toBe(a.peerFingerprint);
      expect(b.body.response.patch).toBe(a.body.response.patch);
      expect(env.api.store.get('leases', 'podlb-controller', NS).spec.holderIdentity).toBe('ctl-0');
    } finally {
      await second.stop();
    }
    expect(ctl.isLeader).toBe(true);
  });

  it('a Service created later is seen without a restart', async () => {
    const before = await post(ctl.webhookPort, review(pod({ app: 'late' })), ca);
    expect(before.body.response.patch).toBeUndefined();
    env.api.store.create('services', {
      metadata: { name: 'late', namespace: 'ads', annotations: { 'podlb.io/load-balancer': 'l7lb' } },
      spec: { selector: { app: 'late' }, ports: [{ port: 80 }] },
    });
    await waitFor('late Service seen', async () => (await post(ctl.webhookPort, review(pod({ app: 'late' })), ca)).body.response.patch);
  });

  it('answers 400 to a body that is not an AdmissionReview, 404 elsewhere', async () => {
    const bad = await new Promise<number>((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port: ctl.webhookPort, servername: SERVER_NAME, ca, method: 'POST', path: WEBHOOK_PATH, agent: false },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end('{"kind":"nope"}');
    });
    expect(bad).toBe(400);
  });

  it('latency of a Pod CREATE review over HTTPS on loopback (p50/p99)', async () => {
    const body = review(pod({ app: 'bidder' }));
    const measure = async (n: number, agent: https.Agent | false): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        const r = await post(ctl.webhookPort, body, ca, agent);
        out.push(performance.now() - t);
        expect(r.body.response.patch).toBeDefined();
      }
      return out.sort((a, b) => a - b);
    };
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    await measure(50, agent); // warm-up
    const warm = await measure(2000, agent);
    const fresh = await measure(200, false);
    agent.destroy();
    const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(2)} ms, p99 ${pct(xs, 99).toFixed(2)} ms`;
    console.log(
      `webhook Pod CREATE review over HTTPS, ${env.api.store.list('services').items.length} Services: keep-alive (API server reuses connections) ${fmt(warm)}; new TLS connection each ${fmt(fresh)}`,
    );
    expect(pct(warm, 99)).toBeLessThan(50);
  });
});

// ---------------------------------------------------------------------------------------------
describe('webhook TLS: rotation with a clock passed in', () => {
  let env: Awaited<ReturnType<typeof apiWithWebhookConfig>>;
  const T0 = Date.parse('2026-03-01T00:00:00Z');
  const dnsNames = serviceDnsNames('podlb-webhook', NS);
  const manager = (names = dnsNames) =>
    new TlsManager({
      client: env.client,
      namespace: TLS_NS,
      secretName: 'podlb-webhook-tls',
      webhookConfigName: 'podlb',
      dnsNames: names,
      caLifetimeMs: 5 * 365 * DAY_MS,
      certLifetimeMs: 90 * DAY_MS,
      log,
    });

  beforeAll(async () => {
    env = await apiWithWebhookConfig();
  });
  afterAll(async () => {
    await closeChecked(env?.api);
  });

  it('creates, keeps, rotates the serving cert at 2/3, the CA at 2/3 (trusting both until the old one expires), and repairs drift', async () => {
    const m = manager();
    const r0 = await m.reconcile(T0);
    expect(r0).toMatchObject({ secret: 'created', reason: 'missing', webhookConfig: 'patched' });
    const ca0 = r0.bundle.caCertPem;
    expect(caBundleOf(env.api)).toBe(ca0);

    expect(await m.reconcile(T0 + 59 * DAY_MS)).toMatchObject({ secret: 'unchanged', webhookConfig: 'unchanged' });

    // Serving cert at 2/3 of 90 days: new leaf, same CA, CA bundle untouched.
    const rv = env.api.store.get('mutatingwebhookconfigurations', 'podlb').metadata.resourceVersion;
    const r1 = await m.reconcile(T0 + 61 * DAY_MS);
    expect(r1).toMatchObject({ secret: 'rotated', reason: 'certDue', webhookConfig: 'unchanged' });
    expect(r1.bundle.caCertPem).toBe(ca0);
    expect(r1.bundle.certPem).not.toBe(r0.bundle.certPem);
    expect(isSignedBy(r1.bundle.certPem, ca0)).toBe(true);
    expect(env.api.store.get('mutatingwebhookconfigurations', 'podlb').metadata.resourceVersion).toBe(rv);
    expect(secretToBundle(env.api.store.get('secrets', 'podlb-webhook-tls', TLS_NS))!.certPem).toBe(r1.bundle.certPem);

    // CA at 2/3 of 5 years: new CA and leaf; the API server trusts new + old.
    const tCa = T0 + Math.ceil((5 * 365 * 2) / 3 + 1) * DAY_MS;
    const r2 = await m.reconcile(tCa);
    expect(r2).toMatchObject({ secret: 'rotated', reason: 'caDue', webhookConfig: 'patched' });
    expect(r2.bundle.caCertPem).not.toBe(ca0);
    expect(r2.bundle.previousCaPem).toBe(ca0);
    expect(isSignedBy(r2.bundle.certPem, r2.bundle.caCertPem)).toBe(true);
    expect(splitPemBundle(caBundleOf(env.api))).toEqual([r2.bundle.caCertPem, ca0]);

    // The old CA expires: it leaves the bundle.
    const r3 = await m.reconcile(T0 + (5 * 365 + 1) * DAY_MS);
    expect(r3.webhookConfig).toBe('patched');
    expect(splitPemBundle(caBundleOf(env.api))).toEqual([r3.bundle.caCertPem]);

    // Someone re-created the configuration with an empty caBundle: repaired on the next pass.
    env.api.store.patch('mutatingwebhookconfigurations', 'podlb', undefined, 'json', [{ op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: '' }]);
    expect(await m.reconcile(T0 + (5 * 365 + 2) * DAY_MS)).toMatchObject({ secret: 'unchanged', webhookConfig: 'patched' });
    expect(caBundleOf(env.api)).toBe(r3.bundle.caCertPem);

    // A new Service name (SANs): reissued at once.
    const r4 = await manager([...dnsNames, 'podlb-webhook.example']).reconcile(T0 + (5 * 365 + 3) * DAY_MS);
    expect(r4).toMatchObject({ secret: 'rotated', reason: 'dnsNamesChanged' });
  });

  it('a missing webhook configuration is reported, the Secret still made', async () => {
    env.api.store.delete('mutatingwebhookconfigurations', 'podlb');
    env.api.store.delete('secrets', 'podlb-webhook-tls', TLS_NS);
    expect(await manager().reconcile(T0)).toMatchObject({ secret: 'created', webhookConfig: 'missing' });
  });
});

// ---------------------------------------------------------------------------------------------
describe('webhook TLS: live rotation, no restart', () => {
  let env: Awaited<ReturnType<typeof apiWithWebhookConfig>>;
  let ctl: Controller;

  beforeAll(async () => {
    env = await apiWithWebhookConfig();
    env.api.store.create('services', {
      metadata: { name: 'bidder', namespace: 'ads', annotations: { 'podlb.io/load-balancer': 'l7lb' } },
      spec: { selector: { app: 'bidder' }, ports: [{ port: 80 }] },
    });
    // Test-sized lifetimes: the serving cert rotates about every 2 s, the CA after about 6 s.
    ctl = testController({
      kubeConfig: env.kc,
      log,
      identity: 'ctl-live',
      certLifetimeMs: 3_000,
      caLifetimeMs: 9_000,
      tlsCheckMs: 100,
      gcIntervalMs: 60_000,
    });
    await ctl.start();
    await waitFor('ready', () => ctl.ready);
  });
  afterAll(async () => {
    await ctl?.stop();
    await closeChecked(env?.api);
  });

  it('the running server presents each new certificate; the CA bundle follows a CA rotation', async () => {
    const ca0 = await waitFor('caBundle', () => caBundleOf(env.api) || undefined);
    // A fresh connection per request and no TLS session cache: every request sees the cert served now.
    const agent = false;
    const first = await post(ctl.webhookPort, review(pod({ app: 'bidder' })), ca0, agent);
    expect(first.body.response.patch).toBeDefined();

    // Serving cert rotated, same CA: clients with the old bundle still verify the new cert.
    const second = await waitFor('serving cert rotated', async () => {
      const r = await post(ctl.webhookPort, review(pod({ app: 'bidder' })), ca0, agent);
      return r.peerFingerprint !== first.peerFingerprint ? r : undefined;
    });
    expect(isSignedBy(second.peerPem, ca0)).toBe(true);
    expect(caBundleOf(env.api)).toBe(ca0);

    // CA rotated: the configuration trusts new + old, the server serves a leaf of the new CA.
    const both = await waitFor('CA rotated', () => (splitPemBundle(caBundleOf(env.api)).length === 2 ? caBundleOf(env.api) : undefined), 15_000);
    const [ca1, old] = splitPemBundle(both);
    expect(old).toBe(ca0);
    const third = await waitFor('leaf of the new CA served', async () => {
      const r = await post(ctl.webhookPort, review(pod({ app: 'bidder' })), both, agent).catch(() => undefined);
      return r && isSignedBy(r.peerPem, ca1!) ? r : undefined;
    });
    expect(third.body.response.patch).toBeDefined();
    await expect(post(ctl.webhookPort, review(pod({ app: 'bidder' })), ca0, agent)).rejects.toThrow();
  });
});
