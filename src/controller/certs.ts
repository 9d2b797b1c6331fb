// X.509 for the webhook: a private CA and a serving certificate signed by it, made by podlb
// itself (no cert-manager dependency). Node's crypto makes keys but cannot issue certificates,
// so the certificates come from @peculiar/x509: TypeScript, built on WebCrypto (here Node's own
// `crypto.webcrypto`, so keys and signatures are OpenSSL's), maintained by Peculiar Ventures and
// used by `selfsigned` >= 3. ECDSA P-256 keys: generated natively in about a millisecond,
// accepted by every Kubernetes API server.
//
// Pure apart from key generation: `now` is a parameter, nothing reads the clock.
import 'reflect-metadata';
import { X509Certificate as NodeX509Certificate, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { parseIp } from '../net/ip.js';

x509.cryptoProvider.set(webcrypto as never);

export const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export interface CertInfo {
  notBefore: number;
  notAfter: number;
  subject: string;
  dnsNames: string[];
  /** IP address SANs, canonical text (src/net/ip.ts). */
  ipAddresses: string[];
  isCa: boolean;
  fingerprint256: string;
}

/** notBefore is backdated for clock skew: 5 min, or a tenth of a (test-sized) short lifetime. */
export function backdateMs(lifetimeMs: number): number {
  return Math.min(5 * 60_000, Math.floor(lifetimeMs / 10));
}

export function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive (RFC 5280 4.1.2.2)
  return b.toString('hex');
}

export function toPem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export async function importKeyPair(keyPem: string, certPem: string): Promise<webcrypto.CryptoKeyPair> {
  const der = Buffer.from(keyPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, ALG, true, ['sign']);
  const publicKey = await new x509.X509Certificate(certPem).publicKey.export(ALG, ['verify'], webcrypto as never);
  return { privateKey, publicKey } as webcrypto.CryptoKeyPair;
}

/** A self-signed CA, valid from `now - backdate` (clock skew) until `now + lifetimeMs`. */
export async function createCa(o: { commonName: string; now: number; lifetimeMs: number }): Promise<KeyPairPem> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [o.commonName] }],
    notBefore: new Date(o.now - backdateMs(o.lifetimeMs)),
    notAfter: new Date(o.now + o.lifetimeMs),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: `${cert.toString('pem')}\n`, keyPem: toPem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)) };
}

/**
 * A serving certificate for `dnsNames` and `ipAddresses` (the first DNS name, else the first
 * address, is the CN), signed by `ca`. IP SANs let a client that dials an address (a webhook
 * `clientConfig.url` such as https://10.0.0.5:9443/...) verify the certificate: TLS checks a
 * dialled IP against IP SANs only, never against DNS names.
 */
export async function createServingCert(o: {
  ca: KeyPairPem;
  dnsNames: string[];
  ipAddresses?: string[];
  now: number;
  lifetimeMs: number;
}): Promise<KeyPairPem> {
  const ips = (o.ipAddresses ?? []).map((a) => {
    const ip = parseIp(a);
    if (!ip) throw new Error(`createServingCert: ${JSON.stringify(a)} is not an IP address`);
    return ip.text;
  });
  const cn = o.dnsNames[0] ?? ips[0];
  if (cn === undefined) throw new Error('createServingCert: at least one DNS name or IP address');
  return issueLeaf({ ca: o.ca, subject: [{ CN: [cn] }], usage: 'server', dnsNames: o.dnsNames, ipAddresses: ips, now: o.now, lifetimeMs: o.lifetimeMs });
}

/**
 * A leaf certificate signed by `ca`, for serving or for client authentication (the webhook's
 * serving certificate, the in-process API server's serving and client certificates). It never
 * outlives its CA and is backdated like kubeadm's.
 */
export async function issueLeaf(o: {
  ca: KeyPairPem;
  subject: x509.JsonName;
  usage: 'server' | 'client';
  dnsNames?: string[];
  ipAddresses?: string[];
  now: number;
  lifetimeMs: number;
}): Promise<KeyPairPem> {
  const caCert = new x509.X509Certificate(o.ca.certPem);
  const caKeys = await importKeyPair(o.ca.keyPem, o.ca.certPem);
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const sans = [
    ...(o.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(o.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: o.subject,
    issuer: caCert.subject,
    notBefore: new Date(o.now - backdateMs(o.lifetimeMs)),
    notAfter: new Date(Math.min(o.now + o.lifetimeMs, caCert.notAfter.getTime())),
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([o.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth], false),
      ...(sans.length ? [new x509.SubjectAlternativeNameExtension(sans)] : []),
      await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
    ],
  });
  return { certPem: `${cert.toString('pem')}\n`, keyPem: toPem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)) };
}

/** Reads what rotation decisions need, with Node's own parser (the one TLS will use). */
export function certInfo(pem: string): CertInfo {
  const c = new NodeX509Certificate(pem);
  const sans = (c.subjectAltName ?? '').split(',').map((s) => s.trim());
  const dnsNames = sans.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4));
  // Node prints IPv6 SANs expanded and upper case (FD00:0:0:0:0:0:0:1): compare canonical forms.
  const ipAddresses = sans.filter((s) => s.startsWith('IP Address:')).map((s) => parseIp(s.slice('IP Address:'.length))?.text ?? s.slice('IP Address:'.length));
  return {
    notBefore: Date.parse(c.validFrom),
    notAfter: Date.parse(c.validTo),
    subject: c.subject,
    dnsNames,
    ipAddresses,
    isCa: c.ca,
    fingerprint256: c.fingerprint256,
  };
}

/** Whether the serving cert chains to the CA (signature check by Node/OpenSSL). */
export function isSignedBy(certPem: string, caPem: string): boolean {
  try {
    return new NodeX509Certificate(certPem).verify(new NodeX509Certificate(caPem).publicKey);
  } catch {
    return false;
  }
}

/** Splits a PEM bundle into its certificates. */
export function splitPemBundle(bundle: string): string[] {
  return [...bundle.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => `${m[0]}\n`);
}
