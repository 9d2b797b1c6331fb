import { describe, expect, it } from 'vitest';
import tls from 'node:tls';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { certInfo, createCa, createServingCert, isSignedBy, splitPemBundle } from './certs.js';

const DAY = 86_400_000;

describe('certs', () => {
  it('a CA and a serving cert that OpenSSL verifies for the Service DNS name, and not for another', async () => {
    const now = Date.now();
    const ca = await createCa({ commonName: 'podlb-webhook-ca', now, lifetimeMs: 365 * DAY });
    const leaf = await createServingCert({ ca, dnsNames: ['podlb-webhook.podlb-system.svc', 'podlb-webhook.podlb-system'], now, lifetimeMs: 90 * DAY });
    expect(certInfo(ca.certPem)).toMatchObject({ isCa: true });
    const info = certInfo(leaf.certPem);
    expect(info).toMatchObject({ isCa: false, dnsNames: ['podlb-webhook.podlb-system.svc', 'podlb-webhook.podlb-system'] });
    expect(info.notAfter - now).toBeGreaterThan(89 * DAY);
    expect(isSignedBy(leaf.certPem, ca.certPem)).toBe(true);
    expect(isSignedBy(ca.certPem, leaf.certPem)).toBe(false);
    expect(splitPemBundle(ca.certPem + leaf.certPem)).toHaveLength(2);

    const server = https.createServer({ key: leaf.keyPem, cert: leaf.certPem }, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const get = (servername: string) =>
      new Promise<string>((resolve, reject) => {
        https.get({ host: '127.0.0.1', port, servername, ca: ca.certPem, path: '/', agent: false }, (res) => {
          let b = '';
          res.on('data', (d) => (b += d));
          res.on('end', () => resolve(b));
        }).on('error', reject);
      });
    try {
      expect(await get('podlb-webhook.podlb-system.svc')).toBe('ok');
      await expect(get('other.example')).rejects.toThrow(/altnames|Hostname/i);
    } finally {
      server.close();
    }
    expect(tls.createSecureContext({ key: leaf.keyPem, cert: leaf.certPem })).toBeTruthy();
  });

  it('the serving cert never outlives its CA', async () => {
    const now = Date.now();
    const ca = await createCa({ commonName: 'ca', now, lifetimeMs: 10 * DAY });
    const leaf = await createServingCert({ ca, dnsNames: ['x.svc'], now, lifetimeMs: 90 * DAY });
    expect(certInfo(leaf.certPem).notAfter).toBeLessThanOrEqual(certInfo(ca.certPem).notAfter);
  });
});
