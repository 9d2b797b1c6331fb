// The webhook's TLS material (leader only): one Secret every replica serves from, and the CA
// bundle in the MutatingWebhookConfiguration the API server trusts. Rotation happens at a
// fraction (default 2/3) of each certificate's lifetime, so a replica that missed a rotation
// still serves a valid certificate for a long while.
//
// Order of writes, so the API server never distrusts what a replica serves:
//   1. the trust bundle (current CA + the previous CA while it is still valid) goes into the
//      webhook configuration first: during a CA rotation it then trusts both CAs;
//   2. then the Secret (conflict-checked PUT, or create): replicas reload from it.
// A failed or lost write (409) leaves a state that is still consistent; the next reconcile
// re-reads and repairs. Nothing here decides by reading the clock: `now` is passed in.
import type { Logger } from 'pino';
import { isConflict, isNotFound, type KubeClient } from '../kube/client.js';
import { parseIp } from '../net/ip.js';
import { certInfo, createCa, createServingCert, isSignedBy, splitPemBundle, type KeyPairPem } from './certs.js';

export const TLS_KEYS = { caCert: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key', previousCa: 'ca-previous.crt' } as const;

export interface TlsBundle {
  caCertPem: string;
  caKeyPem: string;
  certPem: string;
  keyPem: string;
  /** The CA before the last CA rotation: still trusted until it expires. */
  previousCaPem?: string;
}

interface SecretObj {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; [k: string]: unknown };
  type?: string;
  data?: Record<string, string>;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string | undefined => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));

/** Parses the Secret's data; undefined when a required key is missing. */
export function secretToBundle(secret: { data?: Record<string, string> } | undefined): TlsBundle | undefined {
  const d = secret?.data ?? {};
  const caCertPem = unb64(d[TLS_KEYS.caCert]);
  const caKeyPem = unb64(d[TLS_KEYS.caKey]);
  const certPem = unb64(d[TLS_KEYS.cert]);
  const keyPem = unb64(d[TLS_KEYS.key]);
  if (!caCertPem || !caKeyPem || !certPem || !keyPem) return undefined;
  const previousCaPem = unb64(d[TLS_KEYS.previousCa]);
  return { caCertPem, caKeyPem, certPem, keyPem, ...(previousCaPem ? { previousCaPem } : {}) };
}

export function bundleToSecretData(b: TlsBundle): Record<string, string> {
  return {
    [TLS_KEYS.caCert]: b64(b.caCertPem),
    [TLS_KEYS.caKey]: b64(b.caKeyPem),
    [TLS_KEYS.cert]: b64(b.certPem),
    [TLS_KEYS.key]: b64(b.keyPem),
    ...(b.previousCaPem ? { [TLS_KEYS.previousCa]: b64(b.previousCaPem) } : {}),
  };
}

/** What the API server must trust: the current CA, plus the previous one while it is valid. */
export function trustBundle(b: TlsBundle, now: number): string {
  const prev = b.previousCaPem && certInfo(b.previousCaPem).notAfter > now ? b.previousCaPem : '';
  return b.caCertPem + prev;
}

function rotateAt(pem: string, fraction: number): number {
  const i = certInfo(pem);
  return i.notBefore + (i.notAfter - i.notBefore) * fraction;
}

export type RotationReason = 'missing' | 'invalid' | 'caDue' | 'certDue' | 'dnsNamesChanged' | 'ipAddressesChanged' | 'notSignedByCa';

const sameSet = (a: readonly string[], b: readonly string[]): boolean => [...a].sort().join(',') === [...b].sort().join(',');
const canonicalIps = (ips: readonly string[]): string[] => ips.map((a) => parseIp(a)?.text ?? a);

/** Why the material must be (re)issued, or undefined when it is good. Pure. */
export function rotationReason(
  b: TlsBundle | undefined,
  o: { now: number; dnsNames: readonly string[]; ipAddresses?: readonly string[]; fraction: number },
): RotationReason | undefined {
  if (!b) return 'missing';
  try {
    const ca = certInfo(b.caCertPem);
    const leaf = certInfo(b.certPem);
    if (!ca.isCa || splitPemBundle(b.caCertPem).length !== 1) return 'invalid';
    if (o.now >= rotateAt(b.caCertPem, o.fraction)) return 'caDue';
    if (!isSignedBy(b.certPem, b.caCertPem)) return 'notSignedByCa';
    if (!sameSet(leaf.dnsNames, o.dnsNames)) return 'dnsNamesChanged';
    if (!sameSet(leaf.ipAddresses, canonicalIps(o.ipAddresses ?? []))) return 'ipAddressesChanged';
    if (o.now >= rotateAt(b.certPem, o.fraction)) return 'certDue';
    return undefined;
  } catch {
    return 'invalid';
  }
}

/**
 * The certificate one replica serves. Every replica serves from the one Secret, whose leaf
 * holds the SANs all replicas share (Service DNS names, --webhook-extra-sans); a replica's own
 * addresses differ per Pod and change with each reschedule, so they are not in the Secret
 * (every leader change would reissue it). When the Secret's leaf does not cover them, the
 * replica issues its own leaf with the Secret's CA, adding them, valid no longer than the
 * Secret's: the API server trusts it through the same CA bundle, and the next rotation of the
 * Secret replaces it.
 */
export async function replicaCertificate(b: TlsBundle, ownIpAddresses: readonly string[], now: number): Promise<KeyPairPem> {
  const shared = { certPem: b.certPem, keyPem: b.keyPem };
  const leaf = certInfo(b.certPem);
  const missing = canonicalIps(ownIpAddresses).filter((ip) => !leaf.ipAddresses.includes(ip));
  if (missing.length === 0 || leaf.notAfter <= now) return shared;
  return createServingCert({
    ca: { certPem: b.caCertPem, keyPem: b.caKeyPem },
    dnsNames: leaf.dnsNames,
    ipAddresses: [...leaf.ipAddresses, ...new Set(missing)],
    now,
    lifetimeMs: leaf.notAfter - now,
  });
}

/** When the next rotation is due (ms), for the loop's wake-up. */
export function nextRotationAt(b: TlsBundle, fraction: number): number {
  return Math.min(rotateAt(b.caCertPem, fraction), rotateAt(b.certPem, fraction));
}

export interface TlsManagerOptions {
  client: Pick<KubeClient, 'request'>;
  namespace: string;
  secretName: string;
  /** MutatingWebhookConfiguration whose webhooks get the CA bundle. */
  webhookConfigName: string;
  /** DNS SANs of the shared serving certificate: the webhook Service's DNS names. */
  dnsNames: string[];
  /** IP SANs every replica shares (a VIP the webhook is reached at); see replicaCertificate. */
  ipAddresses?: string[];
  caLifetimeMs?: number;
  certLifetimeMs?: number;
  /** Rotate at this fraction of a certificate's lifetime (default 2/3). */
  rotateFraction?: number;
  log: Logger;
}

export interface TlsReconcileResult {
  secret: 'created' | 'rotated' | 'unchanged' | 'conflict';
  reason?: RotationReason;
  webhookConfig: 'patched' | 'unchanged' | 'missing';
  nextRotationAt: number;
  bundle: TlsBundle;
}

export const DAY_MS = 86_400_000;

export class TlsManager {
  readonly #o: Required<TlsManagerOptions>;

  constructor(opts: TlsManagerOptions) {
    this.#o = { caLifetimeMs: 5 * 365 * DAY_MS, certLifetimeMs: 90 * DAY_MS, rotateFraction: 2 / 3, ipAddresses: [], ...opts };
  }

  get #secretPath(): string {
    return `/api/v1/namespaces/${this.#o.namespace}/secrets/${this.#o.secretName}`;
  }

  /** One pass: read, issue what is due, write the trust bundle, then the Secret. */
  async reconcile(now: number): Promise<TlsReconcileResult> {
    const { client, log, dnsNames, ipAddresses, rotateFraction: fraction } = this.#o;
    let secret: SecretObj | undefined;
    try {
      secret = await client.request<SecretObj>('GET', this.#secretPath);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const current = secretToBundle(secret);
    const reason = rotationReason(current, { now, dnsNames, ipAddresses, fraction });
    if (!reason) {
      const webhookConfig = await this.#ensureTrust(trustBundle(current!, now));
      return { secret: 'unchanged', webhookConfig, nextRotationAt: nextRotationAt(current!, fraction), bundle: current! };
    }

    const next = await this.#issue(current, reason, now);
    // Trust first, then serve.
    const webhookConfig = await this.#ensureTrust(trustBundle(next, now));
    const body: SecretObj = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        ...(secret?.metadata ?? {}),
        name: this.#o.secretName,
        namespace: this.#o.namespace,
        labels: { ...(secret?.metadata.labels ?? {}), 'app.kubernetes.io/name': 'podlb', 'app.kubernetes.io/component': 'controller' },
      },
      type: secret?.type ?? 'kubernetes.io/tls',
      data: bundleToSecretData(next),
    };
    try {
      if (secret) await client.request('PUT', this.#secretPath, { body });
      else await client.request('POST', `/api/v1/namespaces/${this.#o.namespace}/secrets`, { body });
    } catch (err) {
      if (!isConflict(err)) throw err;
      // Another writer won (a previous leader still finishing): re-read next time. The trust
      // bundle written above may hold a CA nobody serves yet; the next pass repairs it.
      log.warn({ secret: `${this.#o.namespace}/${this.#o.secretName}`, err }, 'webhook TLS Secret changed under us; will re-read');
      return { secret: 'conflict', reason, webhookConfig, nextRotationAt: now + 1000, bundle: next };
    }
    log.info(
      { secret: `${this.#o.namespace}/${this.#o.secretName}`, reason, notAfter: new Date(certInfo(next.certPem).notAfter).toISOString() },
      secret ? 'rotated webhook TLS certificate' : 'created webhook TLS certificate',
    );
    return { secret: secret ? 'rotated' : 'created', reason, webhookConfig, nextRotationAt: nextRotationAt(next, fraction), bundle: next };
  }

  async #issue(current: TlsBundle | undefined, reason: RotationReason, now: number): Promise<TlsBundle> {
    const { dnsNames, ipAddresses, caLifetimeMs, certLifetimeMs } = this.#o;
    const newCa = reason === 'missing' || reason === 'invalid' || reason === 'caDue';
    const ca = newCa
      ? await createCa({ commonName: `podlb-webhook-ca@${Math.floor(now / 1000)}`, now, lifetimeMs: caLifetimeMs })
      : { certPem: current!.caCertPem, keyPem: current!.caKeyPem };
    const leaf = await createServingCert({ ca, dnsNames, ipAddresses, now, lifetimeMs: certLifetimeMs });
    const previousCaPem = newCa ? (reason === 'caDue' ? current!.caCertPem : undefined) : current!.previousCaPem;
    return { caCertPem: ca.certPem, caKeyPem: ca.keyPem, certPem: leaf.certPem, keyPem: leaf.keyPem, ...(previousCaPem ? { previousCaPem } : {}) };
  }

  /** Sets caBundle on every webhook of the configuration that does not carry it yet. */
  async #ensureTrust(pem: string): Promise<'patched' | 'unchanged' | 'missing'> {
    const path = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${this.#o.webhookConfigName}`;
    let mwc: { webhooks?: { name: string; clientConfig?: { caBundle?: string } }[] };
    try {
      mwc = await this.#o.client.request('GET', path);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      this.#o.log.warn(
        { webhookConfig: this.#o.webhookConfigName },
        'MutatingWebhookConfiguration not found: apply daemonset/webhook.yaml; Pods get no readiness gate until then',
      );
      return 'missing';
    }
    const want = b64(pem);
    const ops: unknown[] = [];
    (mwc.webhooks ?? []).forEach((w, i) => {
      if (w.clientConfig?.caBundle === want) return;
      // `test` the name: the list may have been reordered since the GET.
      ops.push({ op: 'test', path: `/webhooks/${i}/name`, value: w.name }, { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: want });
    });
    if (ops.length === 0) return 'unchanged';
    await this.#o.client.request('PATCH', path, { body: ops, contentType: 'application/json-patch+json' });
    this.#o.log.info({ webhookConfig: this.#o.webhookConfigName, webhooks: ops.length / 2 }, 'patched the webhook CA bundle');
    return 'patched';
  }
}
