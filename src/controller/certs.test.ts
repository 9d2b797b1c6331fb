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
        https
          .get({ host: '127.0.0.1', port, servername, ca: ca.certPem, path: '/', agent: false }, (res) => {
            let b = '';
            res.on('data', (d) => (b += d));
            res.on('end', () => resolve(b));
          })
          .on('error', reject);
      });
    try {
      expect(await get('podlb-webhook.podlb-system.svc')).toBe('ok');
      await expect(get('other.example')).rejects.toThrow(/altnames|Hostname/i);
    } finally {
      server.close();
    }
    expect(tls.createSecureContext({ key: leaf.keyPem, cert: leaf.certPem })).toBeTruthy();
  });

  it('IP SANs: a client that dials the address verifies the certificate against it; a DNS-only certificate fails there', async () => {
    const now = Date.now();
    const ca = await createCa({ commonName: 'ca', now, lifetimeMs: 10 * DAY });
    const withIp = await createServingCert({ ca, dnsNames: ['x.svc'], ipAddresses: ['127.0.0.1', 'FD00::1'], now, lifetimeMs: DAY });
    expect(certInfo(withIp.certPem).ipAddresses).toEqual(['127.0.0.1', 'fd00::1']);
    const dnsOnly = await createServingCert({ ca, dnsNames: ['x.svc'], now, lifetimeMs: DAY });
    expect(certInfo(dnsOnly.certPem).ipAddresses).toEqual([]);
    const dial = async (leaf: { certPem: string; keyPem: string }): Promise<string> => {
      const server = https.createServer({ key: leaf.keyPem, cert: leaf.certPem }, (_req, res) => res.end('ok'));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        return await new Promise<string>((resolve, reject) => {
          // No servername: as for a webhook URL naming an IP, the dialled address is checked.
          https
            .get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: ca.certPem, agent: false }, (res) => {
              res.resume();
              resolve(String(res.statusCode));
            })
            .on('error', reject);
        });
      } finally {
        server.close();
      }
    };
    expect(await dial(withIp)).toBe('200');
    await expect(dial(dnsOnly)).rejects.toThrow(/IP: 127\.0\.0\.1 is not in the cert's list/);
    await expect(createServingCert({ ca, dnsNames: [], ipAddresses: ['10.0.0.300'], now, lifetimeMs: DAY })).rejects.toThrow(/not an IP address/);
  });

  it('the serving cert never outlives its CA', async () => {
    const now = Date.now();
    const ca = await createCa({ commonName: 'ca', now, lifetimeMs: 10 * DAY });
    const leaf = await createServingCert({ ca, dnsNames: ['x.svc'], now, lifetimeMs: 90 * DAY });
    expect(certInfo(leaf.certPem).notAfter).toBeLessThanOrEqual(certInfo(ca.certPem).notAfter);
  });
});
