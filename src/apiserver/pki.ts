// The API server's own PKI, made at start as kubeadm would: a server CA with a serving
// certificate for the addresses clients dial, a client CA whose certificates authenticate
// users (CN = user name, O = groups), and the key that signs ServiceAccount tokens. Builds on
// the webhook's certificate helpers (src/controller/certs.ts); only the leaf profiles differ.
import 'reflect-metadata';
import { generateKeyPairSync, type KeyObject, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { ALG, backdateMs, createCa, importKeyPair, type KeyPairPem, serial, toPem } from '../controller/certs.js';

const YEAR_MS = 365 * 24 * 3600_000;

export interface ServerPki {
  /** Verifies the API server's certificate (a kubeconfig's certificate-authority-data, a Pod's ca.crt). */
  serverCa: KeyPairPem;
  serving: KeyPairPem;
  /** Signs client certificates; the server trusts only this CA for client authentication. */
  clientCa: KeyPairPem;
  /** ES256 key of the ServiceAccount token issuer. */
  saKey: { privateKey: KeyObject; publicKey: KeyObject };
}

async function issueLeaf(o: {
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
  const sans = [...(o.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })), ...(o.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value }))];
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
  return { certPem: cert.toString('pem') + '\n', keyPem: toPem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)) };
}

export async function createServerPki(o: { hosts: string[]; now: number }): Promise<ServerPki> {
  const serverCa = await createCa({ commonName: 'podlb-apiserver-ca', now: o.now, lifetimeMs: 10 * YEAR_MS });
  const clientCa = await createCa({ commonName: 'podlb-apiserver-client-ca', now: o.now, lifetimeMs: 10 * YEAR_MS });
  const ips = o.hosts.filter((h) => /^[\d.]+$|:/.test(h));
  const dns = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'localhost', ...o.hosts.filter((h) => !ips.includes(h))];
  const serving = await issueLeaf({ ca: serverCa, subject: [{ CN: ['kube-apiserver'] }], usage: 'server', dnsNames: dns, ipAddresses: ips, now: o.now, lifetimeMs: YEAR_MS });
  const saKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { serverCa, serving, clientCa, saKey };
}

/** A client certificate as kubeadm issues them: CN is the user name, each O a group. */
export function issueClientCert(pki: ServerPki, o: { username: string; groups?: string[]; now: number; lifetimeMs?: number }): Promise<KeyPairPem> {
  const subject: x509.JsonName = [{ CN: [o.username] }, ...(o.groups ?? []).map((g) => ({ O: [g] }))];
  return issueLeaf({ ca: pki.clientCa, subject, usage: 'client', now: o.now, lifetimeMs: o.lifetimeMs ?? YEAR_MS });
}
