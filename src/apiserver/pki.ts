// The API server's own PKI, made at start as kubeadm would: a server CA with a serving
// certificate for the addresses clients dial, a client CA whose certificates authenticate
// users (CN = user name, O = groups), and the key that signs ServiceAccount tokens. Builds on
// the webhook's certificate helpers (src/controller/certs.ts); only the leaf profiles differ.
import 'reflect-metadata';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type * as x509 from '@peculiar/x509';
import { createCa, issueLeaf, type KeyPairPem } from '../controller/certs.js';

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

export async function createServerPki(o: { hosts: string[]; now: number }): Promise<ServerPki> {
  const serverCa = await createCa({ commonName: 'podlb-apiserver-ca', now: o.now, lifetimeMs: 10 * YEAR_MS });
  const clientCa = await createCa({ commonName: 'podlb-apiserver-client-ca', now: o.now, lifetimeMs: 10 * YEAR_MS });
  const ips = o.hosts.filter((h) => /^[\d.]+$|:/.test(h));
  const dns = [
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    'kubernetes.default.svc.cluster.local',
    'localhost',
    ...o.hosts.filter((h) => !ips.includes(h)),
  ];
  const serving = await issueLeaf({
    ca: serverCa,
    subject: [{ CN: ['kube-apiserver'] }],
    usage: 'server',
    dnsNames: dns,
    ipAddresses: ips,
    now: o.now,
    lifetimeMs: YEAR_MS,
  });
  const saKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { serverCa, serving, clientCa, saKey };
}

/** A client certificate as kubeadm issues them: CN is the user name, each O a group. */
export function issueClientCert(pki: ServerPki, o: { username: string; groups?: string[]; now: number; lifetimeMs?: number }): Promise<KeyPairPem> {
  const subject: x509.JsonName = [{ CN: [o.username] }, ...(o.groups ?? []).map((g) => ({ O: [g] }))];
  return issueLeaf({ ca: pki.clientCa, subject, usage: 'client', now: o.now, lifetimeMs: o.lifetimeMs ?? YEAR_MS });
}
